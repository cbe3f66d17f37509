"""Every response of both sites carries the security headers of app/security.py, and no page refers
to another host (issue 7, item 6).

Every GET route of both url_maps is requested — path parameters filled with an existing id and with
garbage — anonymously and as a logged-in inspector (admin and not), plus the error answers (404, 405,
400 on a bad CSRF token, 401, 413, 429), HEAD and OPTIONS, the attachment download, and what
`tipline serve` itself answers. A new GET route fails `test_every_get_route_is_requested` until it
is added here.
"""

import re
import socket
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from app import create_inspector_app, create_reporter_app
from app.analytics.export import EXPORTS
from app.db import session_scope
from app.evidence.views import DOWNLOAD_CSP
from app.security import CONTENT_SECURITY_POLICY, HEADERS
from tests.conftest import ReporterActions, csrf_token
from tests.evidence.conftest import Uploader, file_part

MiB = 1024 * 1024
COOKIES = {"reporter": "tl_r", "inspector": "tl_i"}


# ---------------------------------------------------------------------------------------------
# What every response must carry

def check_headers(response, where, site: str, *, secure: bool = False, download: bool = False) -> None:
    headers = response.headers
    for name, value in HEADERS.items():
        if name == "Content-Security-Policy":
            continue
        assert headers.getlist(name) == [value], (where, name, headers.getlist(name))
    policies = headers.getlist("Content-Security-Policy")
    if download:
        assert sorted(policies) == sorted([CONTENT_SECURITY_POLICY, DOWNLOAD_CSP]), (where, policies)
    else:
        assert policies == [CONTENT_SECURITY_POLICY], (where, policies)
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and headers["X-Frame-Options"] == "DENY"
    assert "Last-Modified" not in headers and "ETag" not in headers, where
    assert not re.search(r"\d", headers.get("Server", "")), (where, headers.get("Server"))
    assert "X-Powered-By" not in headers, where
    for cookie in headers.getlist("Set-Cookie"):
        name, _, rest = cookie.partition("=")
        assert name == COOKIES[site], (where, cookie)
        attributes = [part.strip().lower() for part in rest.split(";")[1:]]
        assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes, cookie
        assert ("secure" in attributes) == secure, (where, cookie)
        assert not any(a.startswith("domain=") for a in attributes), cookie
        dated = [a for a in attributes if a.startswith(("expires=", "max-age="))]
        if dated:  # only the deletion of the cookie carries a date, and it is in the past
            assert "max-age=0" in attributes or any("1970" in a for a in dated), (where, cookie)
    location = headers.get("Location")
    if location is not None:
        assert same_origin(location), (where, location)
    if response.mimetype in ("text/html", "image/svg+xml", "text/css", "text/javascript",
                             "application/javascript"):
        body = response.get_data(as_text=True)
        foreign = foreign_references(body, response.mimetype)
        assert not foreign, (where, foreign)


# ---------------------------------------------------------------------------------------------
# "No page refers to another host"

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")


def same_origin(url: str) -> bool:
    """Relative, or absolute on this host (http://localhost is what Werkzeug's test client uses).
    Parsed the way a browser does: surrounding blanks and C0 controls dropped, tab and newline removed
    anywhere, backslashes read as slashes."""
    cleaned = re.sub(r"[\t\n\r]", "", url.strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12"
                                                "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f \t\n\r"))
    cleaned = cleaned.replace("\\", "/")
    if cleaned.startswith("//"):
        return False
    if _SCHEME.match(cleaned):
        parts = urllib.parse.urlsplit(cleaned)
        return parts.scheme in ("http", "https") and parts.hostname == "localhost"
    return True


URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data", "xlink:href", "background", "cite",
                  "longdesc", "manifest", "ping", "icon", "codebase", "archive", "usemap", "lowsrc", "dynsrc"}
SRCSET_ATTRIBUTES = {"srcset", "imagesrcset"}
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)""", re.I)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str]] = []
        self.css: list[str] = []
        self._style = False

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if value is None:
                continue
            name = name.lower()
            if name in URL_ATTRIBUTES:
                self.urls.append((f"{tag}[{name}]", value))
            elif name in SRCSET_ATTRIBUTES:
                for candidate in value.split(","):
                    if candidate.strip():
                        self.urls.append((f"{tag}[{name}]", candidate.strip().split()[0]))
            elif name == "style":
                self.css.append(value)
        if tag == "meta" and (dict(attrs).get("http-equiv") or "").lower() == "refresh":
            content = dict(attrs).get("content") or ""
            match = re.search(r"url\s*=\s*['\"]?([^'\";]*)", content, re.I)
            if match:
                self.urls.append(("meta[refresh]", match.group(1)))
        if tag == "style":
            self._style = True

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag) -> None:
        if tag == "style":
            self._style = False

    def handle_data(self, data) -> None:
        if self._style:
            self.css.append(data)


def _css_urls(css: str) -> list[str]:
    found = [next(g for g in m.groups() if g is not None) for m in _CSS_URL.finditer(css)]
    found += [next(g for g in m.groups() if g is not None) for m in _CSS_IMPORT.finditer(css)]
    return found


def foreign_references(body: str, mimetype: str) -> list[tuple[str, str]]:
    if mimetype == "text/css":
        return [("css", u) for u in _css_urls(body) if not same_origin(u)]
    if mimetype in ("text/javascript", "application/javascript"):
        return [("script", u) for u in re.findall(r"(?:https?:)?//[A-Za-z0-9.\-]+", body)
                if not u.startswith("//localhost")]
    parser = _References()
    parser.feed(body)
    parser.close()
    refs = [(where, u) for where, u in parser.urls if not same_origin(u)]
    refs += [("style", u) for css in parser.css for u in _css_urls(css) if not same_origin(u)]
    return refs


@pytest.mark.parametrize("url,ok", [
    ("/tip", True), ("tip?lang=en", True), ("#top", True), ("?lang=en", True), ("", True),
    ("http://localhost/tip", True), ("//evil.example/x", False), ("https://evil.example", False),
    ("\\\\evil.example", False), ("/\\evil.example", False), (" //evil.example", False),
    ("\t/\n/evil.example", False), ("javascript:alert(1)", False), ("data:text/html,x", False),
    ("JaVaScRiPt:x", False), ("\x01https://evil.example", False), ("mailto:a@b", False),
])
def test_the_same_origin_rule_itself(url, ok):
    assert same_origin(url) is ok


def test_the_reference_finder_itself():
    page = """<html><head><link rel="stylesheet" href="https://cdn.example/x.css">
    <meta http-equiv="refresh" content="0; url=//evil.example/">
    <style>body { background: url( 'http://evil.example/a.png' ) } @import "//evil.example/b.css";</style></head>
    <body style="background-image:url(https://evil.example/c.png)">
    <img srcset="/ok.png 1x, //evil.example/d.png 2x"><form action="/ok"></form><a href="/fine">x</a>
    <svg><image xlink:href="http://evil.example/e.svg"/></svg></body></html>"""
    found = {u for _where, u in foreign_references(page, "text/html")}
    assert found == {"https://cdn.example/x.css", "//evil.example/", "http://evil.example/a.png",
                     "//evil.example/b.css", "https://evil.example/c.png", "//evil.example/d.png",
                     "http://evil.example/e.svg"}


# ---------------------------------------------------------------------------------------------
# The scene: both sites with something behind every route

@dataclass
class Scene:
    tip_id: str
    foreign_tip_id: str
    attachment_id: str
    foreign_attachment_id: str
    admin_id: int
    colleague_id: int
    receipt: str
    paths_seen: dict[str, set[str]] = field(default_factory=lambda: {"reporter": set(), "inspector": set()})


@pytest.fixture
def scene(installed, reporting, reporter, inspector, tips) -> Scene:
    from app.evidence import services as evidence
    from app.inspectors.models import Inspector
    from app.inspectors.services import create_inspector
    from app.offices.services import create_office
    from app.reporting import services

    with session_scope(installed.url) as db:
        create_office(db, "other", "另一个受理单位")  # its key is granted to nobody here
        colleague = create_inspector(db, "colleague", "another long password").inspector.id
        admin_id = db.scalar(select(Inspector.id).where(Inspector.username == installed.admin))
    uploader = Uploader(reporting, reporter, installed)
    receipt = uploader.submit([("证据.txt", "打卡记录".encode())], description="<b>页面上的线索</b>")
    foreign_receipt = uploader.submit([("别处.txt", b"elsewhere")], office="other")
    ids = {}
    with session_scope(installed.url) as db:
        for name, code in (("own", receipt), ("foreign", foreign_receipt)):
            opened = services.open_with_receipt(db, code)
            [attachment] = evidence.list_attachments(db, opened.tip_id, opened.data_key)
            ids[name] = (opened.tip_id, attachment.id)
    tips.create(platform="网格通APP")  # something for the dashboard and the related tips
    return Scene(tip_id=ids["own"][0], foreign_tip_id=ids["foreign"][0], attachment_id=ids["own"][1],
                 foreign_attachment_id=ids["foreign"][1], admin_id=admin_id, colleague_id=colleague,
                 receipt=receipt)


def _values(scene: Scene) -> dict[str, list]:
    """Candidates for every path parameter of both sites: one that exists, and garbage."""
    return {
        "tip_id": [scene.tip_id, scene.foreign_tip_id, "no-such-tip", "x" * 300, "%00", "<script>"],
        "attachment_id": [scene.attachment_id, scene.foreign_attachment_id, "no-such-file", "%00"],
        "inspector_id": [scene.admin_id, scene.colleague_id, 999999, 0],
        "code": ["default", "other", "nope", "x" * 100, "<b>"],
        "name": [*EXPORTS, "nope", "<script>"],
        "token": ["x", "A" * 43, "%00"],
        "filename": ["style.css", "pow.js", "favicon.svg", "nope.css", "../app.py", "..%2F..%2Fapp.py", "%00"],
    }


def _paths(app, scene: Scene) -> dict[str, list[str]]:
    values = _values(scene)
    paths: dict[str, list[str]] = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        combos: list[dict] = [{}]
        for arg in sorted(rule.arguments):
            combos = [{**combo, arg: value} for combo in combos for value in values[arg]]
        built = []
        for combo in combos:
            try:
                built.append(rule.build(combo)[1])
            except ValueError:
                continue
        if rule.arguments:  # and raw garbage the converters never produced
            built.append(re.sub(r"<[^>]+>", "%ZZ%00..%2F", rule.rule))
        paths[rule.endpoint] = built
    return paths


QUERIES = ["", "?lang=en", "?lang=%00", "?page=-1&status=zzz&office=other&date_from=2024-99-99&sort=drop",
           "?office=other", "?month=2024-01&scope=all", "?month=%00&scope=<b>", "?action=x&page=x"]


def test_every_get_route_is_requested(reporter_app, inspector_app, scene):
    for app in (reporter_app, inspector_app):
        endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}
        assert set(_paths(app, scene)) == endpoints
        for endpoint, paths in _paths(app, scene).items():
            assert paths, endpoint


def _get_everything(client, app, scene, site: str, where: str) -> int:
    count = 0
    for endpoint, paths in _paths(app, scene).items():
        for path in paths:
            for query in QUERIES if "<" not in path and not path.startswith("/static") else [""]:
                response = client.get(path + query)
                assert response.status_code < 500, (where, path + query, response.status_code)
                download = endpoint == "evidence.download" and response.status_code == 200
                check_headers(response, (where, path + query), site, download=download)
                response.get_data()  # a download streams inside its request context: finish it
                response.close()
                count += 1
    return count


def test_reporter_site_every_get_route_in_every_state(reporter_app, reporter, reporting, scene):
    # a stranger; then the reporter with a receipt waiting; then with the tip opened
    assert _get_everything(reporter_app.test_client(), reporter_app, scene, "reporter", "stranger") > 50
    actions = ReporterActions(reporter)
    fields = actions.form_fields()
    assert reporter.post("/tip", data={**fields, "action": "send"}).status_code == 303
    _get_everything(reporter, reporter_app, scene, "reporter", "receipt waiting")
    assert actions.open(scene.receipt).status_code == 303
    _get_everything(reporter, reporter_app, scene, "reporter", "tip opened")


def test_inspector_site_every_get_route_anonymous_admin_and_not(inspector_app, inspector, inspector_client,
                                                               installed, scene):
    assert _get_everything(inspector_app.test_client(), inspector_app, scene, "inspector", "anonymous") > 100
    assert inspector.login().status_code == 303
    _get_everything(inspector_client, inspector_app, scene, "inspector", "admin")
    # the download of the own attachment was reached, with both policies
    response = inspector_client.get(f"/attachments/{scene.attachment_id}")
    assert response.status_code == 200 and response.get_data() == "打卡记录".encode()
    check_headers(response, "download", "inspector", download=True)
    inspector.logout()
    colleague = inspector_app.test_client()
    from tests.conftest import InspectorActions

    with session_scope(installed.url) as db:
        from app.inspectors.models import Inspector

        secret = db.get(Inspector, scene.colleague_id).totp_secret
    assert InspectorActions(colleague, installed).login("colleague", "another long password",
                                                        secret).status_code == 303
    _get_everything(colleague, inspector_app, scene, "inspector", "not an admin")


def test_head_and_options_everywhere(reporter_app, inspector_app, scene):
    for site, app in (("reporter", reporter_app), ("inspector", inspector_app)):
        client = app.test_client()
        for rule in app.url_map.iter_rules():
            path = _paths(app, scene).get(rule.endpoint, [None])[0] or re.sub(r"<[^>]+>", "x", rule.rule)
            for method in ("HEAD", "OPTIONS"):
                response = client.open(path, method=method)
                assert response.status_code < 500, (method, path)
                check_headers(response, (method, path), site)


# ---------------------------------------------------------------------------------------------
# Error answers

def test_error_answers_carry_the_headers(reporter_app, inspector_app, reporter, inspector, inspector_client,
                                         scene, config, installed):
    seen = set()

    def check(response, site, expected_status, where):
        assert response.status_code == expected_status, (where, response.status_code)
        check_headers(response, where, site)
        seen.add((site, expected_status))

    anonymous = inspector_app.test_client()
    for site, client in (("reporter", reporter), ("inspector", anonymous)):
        check(client.get("/no-such-page"), site, 404, "404")
        check(client.get("/static/nope.css"), site, 404, "static 404")
        check(client.put("/"), site, 405, "PUT /")
        check(client.delete("/login" if site == "inspector" else "/tip"), site, 405, "DELETE")
        check(client.open("/", method="PROPFIND"), site, 405, "PROPFIND")
    check(reporter.get("/followup/message"), "reporter", 405, "GET on a POST route")
    check(anonymous.get("/bulk"), "inspector", 405, "GET on a POST route")
    # 400: a missing or foreign CSRF token
    check(reporter.post("/tip", data={"description": "x", "burden_types": "other"}), "reporter", 400, "csrf")
    check(reporter.post("/followup", data={"receipt": "1" * 20}), "reporter", 400, "csrf")
    check(anonymous.post("/login", data={"username": "a", "password": "b", "totp": "1"}), "inspector", 400, "csrf")
    inspector.login()
    check(inspector_client.post(f"/tips/{scene.tip_id}/notes", data={"body": "x"}), "inspector", 400, "csrf")
    check(inspector_client.post(f"/tips/{scene.tip_id}/notes", data={"csrf_token": "forged", "body": "x"}),
          "inspector", 400, "forged csrf")
    check(inspector_client.get("/tips/no-such-tip"), "inspector", 404, "unknown tip")
    check(inspector_client.get(f"/tips/{scene.foreign_tip_id}"), "inspector", 404, "foreign tip")
    check(inspector_client.get(f"/attachments/{scene.foreign_attachment_id}"), "inspector", 404, "foreign file")
    check(inspector_client.get("/analytics/export/nope.csv"), "inspector", 404, "unknown export")
    check(inspector_client.get("/analytics/?date_from=yesterday"), "inspector", 400, "bad filter")
    check(inspector_client.get("/analytics/export/summary.csv?office=other"), "inspector", 400, "foreign office")
    csv = inspector_client.get("/analytics/export/summary.csv")
    check(csv, "inspector", 200, "csv")
    assert csv.headers["Content-Disposition"].startswith("attachment;")
    # 401: a follow-up message after the session ended
    check(reporter.post("/followup/message", data={"csrf_token": csrf_token(reporter.get("/tip").get_data(
        as_text=True)), "message": "没发出去"}), "reporter", 401, "401")
    # 413: over-size bodies on both sites
    reporter_app.config["MAX_CONTENT_LENGTH"] = MiB
    check(reporter.post("/tip", data={"attachments": file_part("big.txt", b"x" * (2 * MiB))},
                        content_type="multipart/form-data"), "reporter", 413, "413")
    inspector_app.config["MAX_CONTENT_LENGTH"] = MiB
    check(inspector_client.post(f"/tips/{scene.tip_id}/notes", data={"body": "x" * (2 * MiB)},
                                content_type="multipart/form-data"), "inspector", 413, "413")
    # 429: the hard submission limit
    limited = create_reporter_app({**config, "SUBMISSION_RATE_LIMIT": "1 per minute",
                                   "POW_SUBMISSION_THRESHOLD": "1000 per minute"})
    limited_client = limited.test_client()
    for _ in range(2):  # the scene's tips may already have used up this minute
        fields = ReporterActions(limited_client).form_fields(description="限流")
        response = limited_client.post("/tip", data={**fields, "action": "send"})
        if response.status_code == 429:
            break
        limited_client.get(response.headers["Location"])
    check(response, "reporter", 429, "429")
    assert {status for _site, status in seen} >= {400, 401, 404, 405, 413, 429, 200}


def test_secure_cookies_when_configured(config, installed):
    """COOKIE_SECURE=true (production behind TLS): every session cookie then carries Secure."""
    for site, factory in (("reporter", create_reporter_app), ("inspector", create_inspector_app)):
        app = factory({**config, "COOKIE_SECURE": True})
        client = app.test_client()
        response = client.get("/tip" if site == "reporter" else "/login")
        assert response.headers.getlist("Set-Cookie"), site
        check_headers(response, site, site, secure=True)


def test_the_setup_pages_of_a_first_run(config, data_dir, database_url):
    from app.install import services as install

    install.migrate(database_url)
    with session_scope(database_url) as db:
        token = install.prepare_first_run(db, data_dir)
    client = create_inspector_app(config).test_client()
    for path, status in ((f"/setup/{token}", 200), ("/setup/wrong", 404), ("/setup/recovery-key", 302),
                         ("/login", 200)):
        response = client.get(path)
        assert response.status_code == status, path
        check_headers(response, path, "inspector")


# ---------------------------------------------------------------------------------------------
# `tipline serve` itself: its own answers, before any app runs

def _raw(url: str, payload: bytes) -> bytes:
    port = urllib.parse.urlsplit(url).port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)  # nothing more is coming: a request without a newline ends here
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def _head(answer: bytes) -> dict[str, list[str]]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    out: dict[str, list[str]] = {}
    for line in head:
        name, _, value = line.partition(":")
        out.setdefault(name.strip().lower(), []).append(value.strip())
    return out


@pytest.mark.parametrize("request_bytes", [
    b"GET /tip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /no-such-page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /tip?marker extra HTTP/1.1\r\nConnection: close\r\n\r\n",       # request line that does not parse
    b"GET /tip HTTP/9.9\r\nConnection: close\r\n\r\n",                    # unsupported version
    b"GET /tip HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n",             # header line too long
    b"BREW / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",           # unknown method
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,       # TLS spoken to plain HTTP
])
def test_tipline_serve_answers_carry_the_headers_and_no_versions(live, request_bytes):
    for url in (live.reporter_url, live.inspector_url):
        answer = _raw(url, request_bytes)
        assert answer.startswith(b"HTTP/"), answer[:200]
        headers = _head(answer)
        for server in headers.get("server", []):
            assert not re.search(r"\d", server), server  # no Werkzeug or Python version
        for name, value in HEADERS.items():
            assert headers.get(name.lower()) == [value], (url, request_bytes[:40], name, headers.get(name.lower()))
        body = answer.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in answer else b""
        assert b"marker" not in body  # the request line is not echoed back
