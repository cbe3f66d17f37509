"""The production gunicorn configuration logs no client address, User-Agent, forwarded address or
reporter request — checked on REAL gunicorn processes (deploy/gunicorn/*.conf.py) at debug level,
through normal requests, a 404, a 400 and malformed requests sent over a raw socket.

The database backend follows --db (PostgreSQL cases carry the `postgres` marker).
"""

import logging
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app import logscrub
from tests.conftest import TEST_SECRET, new_database_url
from tests.gunicornproc import GunicornSite, start_site, wait_all

USER_AGENT = "UA-marker-pangolin-7"
FORWARDED_FOR = "198.51.100.23"
REAL_IP = "192.0.2.99"
PATH_MARKER = "no-such-page-marker"


def pytest_generate_tests(metafunc) -> None:
    if "site_backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        params = []
        if choice in ("sqlite", "both"):
            params.append(pytest.param("sqlite", id="sqlite"))
        if choice in ("postgresql", "both"):
            params.append(pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres))
        metafunc.parametrize("site_backend", params)


@pytest.fixture
def database_url(request, data_dir: Path, site_backend: str) -> str:
    """Like conftest's, but parametrized here so that the PostgreSQL case carries its marker."""
    return new_database_url(request, data_dir, site_backend)


@pytest.fixture
def start(request, installed, tmp_path):
    """start("reporter") or start("inspector"): its own gunicorn, stopped whatever happens."""
    env = {"TIPLINE_DATA_DIR": str(installed.data_dir), "TIPLINE_DATABASE_URL": installed.url,
           "TIPLINE_SECRET_KEY": TEST_SECRET}

    def _start(site: str, wsgi_app: str | None = None) -> GunicornSite:
        process = start_site(site, tmp_path / "run", env, workers=2, wsgi_app=wsgi_app)
        request.addfinalizer(process.stop)
        wait_all([process])
        return process

    return _start


def _get(url: str, method: str = "GET", data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method=method, headers={
        "User-Agent": USER_AGENT, "X-Forwarded-For": FORWARDED_FOR, "X-Real-IP": REAL_IP,
        "Forwarded": f"for={FORWARDED_FOR}", "X-Forwarded-Proto": "https"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _raw(port: int, payload: bytes) -> bytes:
    """Send bytes as they are (no client library would send these) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _malformed_requests(port: int) -> None:
    """gunicorn answers these itself and logs "Invalid request from ip=…: <detail>"."""
    ua = USER_AGENT.encode()
    payloads = [
        # bad HTTP version, with a reporter path and query in the request line
        b"GET /tip?" + PATH_MARKER.encode() + b" HTTP/9.9\r\nUser-Agent: " + ua + b"\r\n\r\n",
        # not a request line at all
        b"\x16\x03\x01 /tip-" + PATH_MARKER.encode() + b"\r\n\r\n",
        # invalid header name, after a forwarded address and the User-Agent
        b"GET /followup HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + FORWARDED_FOR.encode()
        + b"\r\nUser-Agent: " + ua + b"\r\nBad Header(" + ua + b"): 1\r\n\r\n",
        # request line over limit_request_line
        b"GET /tip?" + b"m" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        # too many header fields
        b"GET /tip HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-F%d: %s\r\n" % (i, ua) for i in range(60)) + b"\r\n",
    ]
    for payload in payloads:
        answer = _raw(port, payload)
        status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/") else b""
        assert status.startswith(b"4"), (payload[:60], answer[:200])


def _assert_nothing_identifying(text: str) -> None:
    assert "127.0.0.1" not in text
    assert USER_AGENT not in text and "pangolin" not in text
    assert FORWARDED_FOR not in text and REAL_IP not in text
    assert "ip=" not in text


def test_reporter_gunicorn_logs_no_address_user_agent_or_request(start):
    reporter = start("reporter")
    assert _get(reporter.url + "/tip?lang=en&marker=1") == 200
    assert _get(reporter.url + "/followup") == 200
    assert _get(reporter.url + "/" + PATH_MARKER) == 404
    assert _get(reporter.url + "/tip", method="POST", data=b"description=x") == 400  # no CSRF token
    _malformed_requests(reporter.port)
    reporter.stop()  # flush everything, including the shutdown lines
    text = reporter.output()
    assert "Booting worker" in text, text[-2000:]  # the capture works: gunicorn did log (at debug)
    assert "Invalid request" in text  # ... and saw the malformed requests, without their detail
    _assert_nothing_identifying(text)
    for request_detail in ("/tip", "/followup", PATH_MARKER, "marker=1", "lang=en", "GET ", "POST "):
        assert request_detail not in text, request_detail
    # No time of day on the reporter side: gunicorn's default error format starts with one.
    # (A date, not just "[20": gunicorn's own lines start with the pid, which may be 20xxx.)
    assert not re.search(r"(?m)^\[\d{4}-\d{2}-\d{2}", text)


FAILING_APP = """
from app import create_reporter_app

app = create_reporter_app()


@app.get("/fails/<typed>")
def fails(typed):
    raise ValueError(f"cannot store {typed!r} from 192.0.2.44")
"""


def test_reporter_application_errors_are_logged_without_path_or_data(start, tmp_path):
    """Flask logs "Exception on <path> [METHOD]" and the traceback; under the reporter's logger the
    line keeps the method and the frames, not the path, the typed value or an address."""
    (tmp_path / "run").mkdir(exist_ok=True)
    (tmp_path / "run" / "failing_reporter.py").write_text(FAILING_APP)
    reporter = start("reporter", "failing_reporter:app")
    assert _get(reporter.url + "/fails/" + PATH_MARKER + "?lang=en") == 500
    reporter.stop()
    text = reporter.output()
    assert "Exception on a request [GET]" in text and "ValueError: cannot store '<withheld>' from <addr>" in text
    assert 'failing_reporter.py", line' in text  # the frames stay useful
    _assert_nothing_identifying(text)
    assert PATH_MARKER not in text and "/fails" not in text and "192.0.2.44" not in text


def test_inspector_gunicorn_access_log_has_method_path_status_only(start):
    inspector = start("inspector")
    assert _get(inspector.url + "/login?lang=en&marker=2") == 200
    assert _get(inspector.url + "/") in (302, 303)
    assert _get(inspector.url + "/" + PATH_MARKER) == 404
    assert _get(inspector.url + "/login", method="POST", data=b"username=x") == 400  # no CSRF token
    _malformed_requests(inspector.port)
    inspector.stop()
    text = inspector.output()
    _assert_nothing_identifying(text)
    access = [line for line in text.splitlines() if line.startswith("inspector ")]
    assert any(line.startswith("inspector GET /login 200 ") and line.endswith("ms") for line in access), access
    assert any(line.startswith(f"inspector GET /{PATH_MARKER} 404 ") for line in access), access
    assert any(line.startswith("inspector POST /login 400 ") for line in access), access
    assert "marker=2" not in text and "lang=en" not in text  # the path, never the query


# --- the logger class and the scrubber, without processes ----------------------------------------


def _record(message: str, *args, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("gunicorn.error", logging.WARNING, __file__, 1, message, args, exc_info)


@pytest.mark.parametrize("message", [
    "Invalid request from ip=127.0.0.1: Invalid HTTP Version: 'HTTP/9.9'",
    "Invalid request from ip=::1: Invalid HTTP request line: 'x'",
    "Invalid request from ip=2001:db8::7: bad",
    "peer ::ffff:192.0.2.1 went away",
    "connection from [fe80::1%eth0]:443",
    "Listening at: http://127.0.0.1:8080 (1)",
])
def test_addresses_and_ip_fragments_are_scrubbed(message):
    scrubbed = logscrub.scrub_addresses(message)
    assert "ip=" not in scrubbed
    for address in ("127.0.0.1", "::1", "2001:db8::7", "192.0.2.1", "fe80::1"):
        assert address not in scrubbed


def test_times_versions_and_words_are_left_alone():
    for text in ("12:30:45", "gunicorn 27.0.1", "a:b:c", "deadbeef", "ratio 1.5"):
        assert logscrub.scrub_addresses(text) == text


def test_reporter_scrub_withholds_request_data_but_keeps_frames():
    assert logscrub.scrub_reporter("Error handling request GET /tip?x=1") == "Error handling request"
    assert logscrub.scrub_reporter("Exception on /followup [POST]") == "Exception on a request [POST]"
    typed = "河南省周口市"  # what a reporter typed, ending up in an exception message
    try:
        int(typed)
    except ValueError as error:
        record = _record("storing a tip failed from %s", "10.1.2.3", exc=error)
    logscrub.ScrubFilter(logscrub.scrub_reporter).filter(record)
    text = logging.Formatter().format(record)
    assert "10.1.2.3" not in text and typed not in text
    assert "storing a tip failed" in text and "test_gunicorn.py" in text and "ValueError" in text


@pytest.fixture
def restore_logging():
    """The logger classes configure process-wide loggers (as they should in gunicorn): undo that."""
    names = ("", "gunicorn.error", "gunicorn.access")
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).filters[:],
                    logging.getLogger(name).level, logging.getLogger(name).propagate) for name in names}
    yield
    for name, (handlers, filters, level, propagate) in saved.items():
        log = logging.getLogger(name)
        log.handlers[:], log.filters[:] = handlers, filters
        log.setLevel(level)
        log.propagate = propagate


def test_logger_classes(restore_logging, capsys):
    from gunicorn.config import Config

    from app.gunicorn_logging import InspectorLogger, ReporterLogger

    cfg = Config()
    cfg.set("accesslog", "-")  # even when asked for, the reporter writes none
    cfg.set("access_log_format", '%(h)s %(a)s "%(r)s" %({x-forwarded-for}i)s %(s)s')
    reporter = ReporterLogger(cfg)
    assert reporter.access_log_enabled is False
    inspector = InspectorLogger(cfg)
    assert inspector.access_log_enabled is True

    class Response:
        status, sent, headers = "200 OK", 10, []

    environ = {"REMOTE_ADDR": "192.0.2.5", "REQUEST_METHOD": "GET", "RAW_URI": "/tips?q=1", "PATH_INFO": "/tips",
               "QUERY_STRING": "q=1", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_USER_AGENT": USER_AGENT}
    request = [("X-FORWARDED-FOR", FORWARDED_FOR), ("USER-AGENT", USER_AGENT)]
    from datetime import timedelta

    reporter.access(Response(), request, environ, timedelta(milliseconds=3))
    inspector.access(Response(), request, environ, timedelta(milliseconds=3))
    inspector.warning("Invalid request from ip=%s: %s", "192.0.2.5", "x")
    logging.getLogger("app.reporting.views").error("failed for 192.0.2.5")
    out = capsys.readouterr()
    text = out.out + out.err
    assert '- - "GET /tips HTTP/1.1" - 200' in text  # address, agent, header and query all gone
    assert text.count("/tips") == 1  # one access line: the inspector's
    assert "192.0.2.5" not in text and USER_AGENT not in text and FORWARDED_FOR not in text
    assert "app.reporting.views: failed for <addr>" in text  # application records are scrubbed too


def test_settings_trust_no_proxy_header(monkeypatch):
    from app import gunicorn_config

    monkeypatch.delenv("TIPLINE_REPORTER_WORKERS", raising=False)
    settings = gunicorn_config.site_settings("reporter")
    assert settings["forwarded_allow_ips"] == "" and settings["secure_scheme_headers"] == {}
    assert settings["forwarder_headers"] == "" and settings["proxy_protocol"] == "off"
    assert settings["accesslog"] is None and settings["bind"] == ["127.0.0.1:8080"]
    assert settings["workers"] == 2 * gunicorn_config._cpus()
    assert gunicorn_config.site_settings("inspector")["bind"] == ["127.0.0.1:8081"]
    monkeypatch.setenv("TIPLINE_INSPECTOR_BIND", "10.0.0.5:9000,127.0.0.1:9001")
    monkeypatch.setenv("TIPLINE_INSPECTOR_WORKERS", "3")
    inspector = gunicorn_config.site_settings("inspector")
    assert inspector["bind"] == ["10.0.0.5:9000", "127.0.0.1:9001"] and inspector["workers"] == 3
    for name in ("%(h)s", "%(a)s", "%(r)s", "%(q)s", "{x-forwarded-for}", "%(f)s", "%(t)s"):
        assert name not in inspector["access_log_format"]
    monkeypatch.setenv("TIPLINE_INSPECTOR_WORKERS", "0")
    with pytest.raises(ValueError):
        gunicorn_config.site_settings("inspector")



def test_reporter_workers_forget_old_counts_and_the_master_clears_up_at_exit(start, installed,
                                                                                    site_backend, monkeypatch):
    from sqlalchemy import func, select

    from app import clock
    from app.db import session_scope
    from app.flood import services as flood
    from app.flood.models import RateBucket

    def counts() -> int:
        with session_scope(installed.url) as db:
            return db.scalar(select(func.count()).select_from(RateBucket)) or 0

    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now - (flood.WINDOW_MINUTES + 5) * 60)
    with session_scope(installed.url) as db:
        flood.record(db, flood.SUBMISSION)  # a count from before the window
    monkeypatch.undo()
    wal = installed.data_dir / "tipline.sqlite3-wal"
    if site_backend == "sqlite":
        assert wal.stat().st_size > 0
    site = start("reporter")
    # Each worker's first run comes 1-10 s after it starts (app/gunicorn_config.py).
    deadline = time.monotonic() + 30
    while counts() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counts() == 0, site.output()[-2000:]
    if site_backend == "sqlite":
        while wal.exists() and wal.stat().st_size > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not wal.exists() or wal.stat().st_size == 0, site.output()[-2000:]
    with session_scope(installed.url) as db:
        flood.record(db, flood.SUBMISSION)  # inside its window: the minute job keeps it
    assert _get(site.url + "/") == 200
    assert counts() == 1
    site.stop()
    assert site.process.returncode == 0, site.output()[-2000:]
    assert counts() == (site_backend != "sqlite")  # PostgreSQL: other hosts count on the live count
    if site_backend == "sqlite":
        assert not wal.exists() or wal.stat().st_size == 0
