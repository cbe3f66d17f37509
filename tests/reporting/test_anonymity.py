"""Promise 1: nothing identifies the reporter — not in the database, the WAL, the logs or the cookies."""

import logging
import re
import struct
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from app import clock
from app.db import session_scope
from app.reporting.models import Tip
from app.security import HEADERS

CLIENT_ADDRESS = "203.0.113.77"
USER_AGENT = "MarkerBrowser/9.9 (UA-7f3a-quokka)"
SECRET_TEXT = "村支书每天逼我们在网格通里打卡三次暗号鸭嘴兽"


def _time_markers(start: float, end: float) -> list[bytes]:
    """Encodings of every second and minute between start and end that a careless app might store."""
    markers: set[bytes] = set()
    for second in range(int(start) - 2, int(end) + 3):
        markers.add(str(second).encode())
        markers.add(struct.pack("<q", second))
        markers.add(struct.pack(">q", second))
        markers.add(struct.pack("<d", float(second)))
        markers.add(struct.pack(">d", float(second)))
        for tz in (UTC, clock.TIMEZONE):
            moment = datetime.fromtimestamp(second, tz)
            markers.add(moment.strftime("%H:%M:%S").encode())
            markers.add(moment.strftime("%Y-%m-%d %H:%M").encode())
            markers.add(moment.strftime("%Y-%m-%dT%H:%M").encode())
    minute = int(start // 60 * 60)
    while minute <= end + 60:
        for offset in (0, 30 * 60):  # a rounded idle deadline would be now + 30 min
            markers.add(struct.pack("<d", float(minute + offset)))
            markers.add(struct.pack(">d", float(minute + offset)))
        minute += 60
    return sorted(markers)


def _data_dir_bytes(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}


def test_data_directory_holds_no_text_no_address_and_no_time_of_day(reporter_app, installed, caplog, request,
                                                                    database_backend):
    caplog.set_level(logging.DEBUG)
    client = reporter_app.test_client()
    client.environ_base.update({"REMOTE_ADDR": CLIENT_ADDRESS, "HTTP_USER_AGENT": USER_AGENT})
    from tests.conftest import ReporterActions

    start = clock.now()
    actions = ReporterActions(client)
    receipt = actions.submit(description=SECRET_TEXT, platform="鸭嘴兽学习APP", region="鸭嘴兽县")
    actions.open(receipt)
    end = clock.now()

    files = _data_dir_bytes(installed.data_dir)
    if database_backend == "sqlite":
        assert any(name.endswith(".sqlite3") for name in files)
        time_checked = True
    else:
        # The PostgreSQL server's own files (heap, WAL, log) are searched for the tip's text, the
        # address and the User-Agent. Times are not checked there: the server stamps its control
        # file, WAL and log with times by design (a documented limit of the scale-out path).
        server = request.getfixturevalue("postgres_server")
        files.update({str(p): p.read_bytes() for p in server.root.rglob("*") if p.is_file()})
        time_checked = False
    needles = {
        "description": SECRET_TEXT.encode(),
        "description (part)": "暗号鸭嘴兽".encode(),
        "description utf-16": SECRET_TEXT.encode("utf-16-le"),
        "platform": "鸭嘴兽学习APP".encode(),
        "region": "鸭嘴兽县".encode(),
        "receipt": receipt.encode(),
        "address": CLIENT_ADDRESS.encode(),
        "address packed": bytes([203, 0, 113, 77]),
        "user agent": b"UA-7f3a-quokka",
    }
    for name, content in files.items():
        for what, needle in needles.items():
            assert needle not in content, f"{what} found in {name}"
        # The PostgreSQL server's own log stamps its start-up lines with times: not application data.
        if time_checked and not name.endswith("/log"):
            for marker in _time_markers(start, end):
                assert marker not in content, f"time of day {marker!r} found in {name}"
    logs = caplog.text
    assert CLIENT_ADDRESS not in logs and "quokka" not in logs and SECRET_TEXT not in logs


def test_tip_rows_keep_only_the_date(reporting, installed):
    reporting.submit()
    with session_scope(installed.url) as db:
        tip = db.scalars(select(Tip)).one()
    assert tip.received_on == clock.today()
    assert not isinstance(tip.received_on, datetime)


def test_nothing_links_two_tips_of_one_person(reporting, installed):
    reporting.submit(description="第一条")
    reporting.submit(description="第二条")
    with session_scope(installed.url) as db:
        first, second = db.scalars(select(Tip)).all()
    shared_ok = {"office_id", "office_key_id", "status", "received_on", "outcome"}
    assert first.revision == second.revision == 0, "arrivals must not be numbered in order"
    shared_ok.add("revision")
    for column in Tip.__table__.columns.keys():
        if column in shared_ok:
            continue
        a, b = getattr(first, column), getattr(second, column)
        if a is None and b is None:
            continue  # inspector-side routing facts not set yet
        assert a != b, column
        if isinstance(a, bytes) and len(a) >= 16:
            # no shared 16-byte window (a reused key, nonce or salt would show up here)
            windows = {a[i:i + 16] for i in range(0, len(a) - 15, 8)}
            assert not any(b[i:i + 16] in windows for i in range(0, len(b) - 15)), column


def test_only_cookie_is_a_session_cookie(reporter_app, installed):
    client = reporter_app.test_client()
    from tests.conftest import ReporterActions

    seen = []
    original_open = client.open

    def recording_open(*args, **kwargs):
        response = original_open(*args, **kwargs)
        seen.extend(response.headers.getlist("Set-Cookie"))
        return response

    client.open = recording_open
    actions = ReporterActions(client)
    actions.open(actions.submit())
    client.get("/")
    assert seen
    for header in seen:
        name = header.split("=", 1)[0]
        assert name == "tl_r", header
        lowered = header.lower()
        assert "httponly" in lowered and "samesite=strict" in lowered
        if "expires=" in lowered or "max-age" in lowered:
            # only the deletion of the cookie may carry a date, and it is in the past
            assert "max-age=0" in lowered or "1970" in lowered, header


def test_reporter_pages_send_security_headers_and_load_nothing_from_elsewhere(reporter, reporting):
    receipt = reporting.submit()
    reporting.open(receipt)
    for path in ("/", "/tip", "/safety", "/followup", "/followup/tip", "/tip/done", "/no-such-page",
                 "/static/style.css", "/?lang=en"):
        response = reporter.get(path)
        assert response.status_code < 500
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (path, name)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "Last-Modified" not in response.headers and "ETag" not in response.headers
        body = response.get_data(as_text=True)
        assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", body, re.I), path
        assert "@import" not in body and "url(http" not in body


def test_default_language_is_chinese_whatever_the_browser_says(reporter):
    page = reporter.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert "反映" in page


def test_language_switch_links_to_the_other_language(reporter):
    zh = reporter.get("/tip").get_data(as_text=True)
    assert 'href="/tip?lang=en"' in zh
    en = reporter.get("/tip?lang=en").get_data(as_text=True)
    assert 'href="/tip?lang=zh"' in en
    # links and forms carry the chosen language along
    assert 'action="/tip?lang=en"' in en
