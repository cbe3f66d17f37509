"""`tipline serve` logs nothing that identifies a reporter; the app refuses to start without secrets."""

import logging
import urllib.request

import pytest

from app import create_reporter_app
from app.config import ConfigError


def test_no_address_user_agent_or_request_line_in_serve_logs(live, caplog):
    caplog.set_level(logging.DEBUG)
    request = urllib.request.Request(live.reporter_url + "/tip?marker=1", headers={"User-Agent": "UA-marker-owl"})
    with urllib.request.urlopen(request) as response:  # noqa: S310 (loopback test server)
        assert response.status == 200
    inspector = urllib.request.Request(live.inspector_url + "/", headers={"User-Agent": "UA-marker-owl"})
    try:
        urllib.request.urlopen(inspector)  # noqa: S310
    except urllib.error.HTTPError:
        pass
    text = caplog.text
    assert "127.0.0.1" not in text
    assert "UA-marker-owl" not in text
    assert "/tip" not in text  # the reporter site logs no request at all
    assert "marker=1" not in text


def test_missing_secret_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.delenv("TIPLINE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_reporter_app({"DATA_DIR": str(tmp_path)})


def test_short_secret_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        create_reporter_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "short"})
