"""Two app hosts, one PostgreSQL (issue 6, item 2).

Host A and host B each run the reporter site and the inspector site as REAL gunicorn processes with
the production configurations (four process groups, two workers each), each host with its own data
directory. They share nothing but the database: sessions, proof-of-work and rate state, tips and
the audit log all live there.

Secrets: every host of one site needs the same TIPLINE_SECRET_KEY, because what one host signs the
next request may bring to another host (Flask-WTF CSRF tokens; the reporter's proof-of-work
tokens). The two sites need not share one, so they don't: a reporter host (public, or behind an
onion service) never holds the inspector site's secret. Sessions need no shared secret at all: the
row is in the database and its key is in the cookie.

Then, with plain HTTP through the real forms (CSRF tokens taken from the pages, like a browser with
JavaScript off): a tip sent through reporter A is seen by an inspector logged in (password + TOTP)
through inspector B, who replies and sets 核查中 there; the same cookie works on inspector A; a
form served by B is accepted by A; logging out on A ends the session on B; and the reporter reads
the reply, the status and the outcome through reporter B with the receipt.

Needs PostgreSQL whatever --db says (the fixture skips locally without it and fails under CI=true).
"""

import http.cookiejar
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pyotp
import pytest
from sqlalchemy import update

from app.db import session_scope
from app.inspectors.models import Inspector
from app.install import services as install
from tests.conftest import ADMIN_PASSWORD
from tests.gunicornproc import GunicornSite, start_site, wait_all

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPORTER_SECRET = "reporter-" + secrets.token_hex(24)
INSPECTOR_SECRET = "inspector-" + secrets.token_hex(24)

DESCRIPTION = "乡里要求每个干部每天在三个政务号下点赞转发，截图发到工作群，周五通报排名。"
PLATFORM = "某某发布公众号"
REPLY = "您好，线索已收到，我们会向乡里核实点赞转发的考核要求。"
OUTCOME = "已要求乡里停止把点赞转发截图作为考核依据。"
NOTE = "内部备注：由A主机保存，表单来自B主机"


# --- a small browser: cookies, no automatic redirects, forms parsed from the HTML ----------------


@dataclass
class Form:
    attrs: dict[str, str]
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    _textarea: str | None = None
    _select: str | None = None


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.current = Form(a)
            self.forms.append(self.current)
            return
        form = self.current
        if form is None:
            return
        name = a.get("name")
        kind = a.get("type", "text").lower()
        if tag == "input" and name and "disabled" not in a:
            if kind in ("submit", "image"):
                form.buttons.append((name, a.get("value", "")))
            elif kind == "file":
                form.files.append(name)
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields.append((name, a.get("value", "on")))
            elif kind not in ("button", "reset"):
                form.fields.append((name, a.get("value", "")))
        elif tag == "button" and name and a.get("type", "submit") == "submit":
            form.buttons.append((name, a.get("value", "")))
        elif tag == "textarea" and name:
            form._textarea, self.text = name, []
        elif tag == "select" and name:
            form._select = name
        elif tag == "option" and form._select and "selected" in a:
            form.fields.append((form._select, a.get("value", "")))

    def handle_data(self, data):
        if self.current is not None and self.current._textarea is not None:
            self.text.append(data)

    def handle_endtag(self, tag):
        form = self.current
        if form is None:
            return
        if tag == "textarea" and form._textarea is not None:
            value = "".join(self.text)
            form.fields.append((form._textarea, value[1:] if value.startswith("\n") else value))
            form._textarea = None
        elif tag == "select":
            form._select = None
        elif tag == "form":
            self.current = None


def find_form(html: str, *, form_id: str | None = None, action: str | None = None) -> Form:
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        if (form_id is None or form.attrs.get("id") == form_id) and (
                action is None or form.attrs.get("action", "").split("?")[0] == action):
            return form
    raise AssertionError(f"no form id={form_id} action={action} in page:\n{html[:3000]}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Page:
    status: int
    url: str
    location: str | None
    text: str


class Browser:
    """One person's browser: its own cookie jar. Redirects are followed by hand (to see the 303s)."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def cookies(self, name: str) -> list[str]:
        return [c.value for c in self.jar if c.name == name and c.value]

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            response = self.opener.open(request, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            body = response.read().decode("utf-8", errors="replace")
            return Page(response.status, request.full_url, response.headers.get("Location"), body)

    def get(self, url: str) -> Page:
        return self._open(urllib.request.Request(url))

    def follow(self, page: Page) -> Page:
        assert page.status in (301, 302, 303), (page.status, page.text[:2000])
        return self.get(urllib.parse.urljoin(page.url, page.location))

    def submit(self, page: Page, form: Form, values: dict[str, str | list[str]], button: str | None = None,
               *, to: str | None = None) -> Page:
        """Submit `form` as a browser would, with `values` typed in (a list fills a multi-valued
        field), optionally pressing the submit button whose value is `button`, and optionally to
        another host `to` (same path)."""
        pairs = [(n, v) for n, v in form.fields if n not in values]
        for name, value in values.items():
            pairs.extend((name, v) for v in ([value] if isinstance(value, str) else value))
        if button is not None:
            pairs.extend(b for b in form.buttons if b[1] == button)
        action = urllib.parse.urljoin(page.url, form.attrs.get("action") or page.url)
        if to is not None:
            parsed = urllib.parse.urlsplit(action)
            action = urllib.parse.urljoin(to, parsed.path + (f"?{parsed.query}" if parsed.query else ""))
        if form.attrs.get("enctype") == "multipart/form-data":
            boundary = "----tipline" + secrets.token_hex(12)
            parts = []
            for name, value in pairs:
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                             .encode() + value.encode() + b"\r\n")
            for name in form.files:  # an empty file input, as browsers send it
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename=""\r\n'
                             "Content-Type: application/octet-stream\r\n\r\n\r\n".encode())
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            content_type = f"multipart/form-data; boundary={boundary}"
        else:
            body = urllib.parse.urlencode(pairs).encode()
            content_type = "application/x-www-form-urlencoded"
        request = urllib.request.Request(action, data=body, method="POST", headers={"Content-Type": content_type})
        return self._open(request)


# --- two hosts --------------------------------------------------------------------------------


@dataclass
class Host:
    reporter: GunicornSite
    inspector: GunicornSite


@pytest.fixture
def shared_database(request, postgres_server, tmp_path):
    """ONE database for both hosts: migrated, then `tipline init` (admin + TOTP, office default)."""
    name = postgres_server.new_database()
    request.addfinalizer(lambda: postgres_server.drop_database(name))
    url = postgres_server.url(name)
    install.migrate(url)
    setup_dir = tmp_path / "setup"
    setup_dir.mkdir()
    with session_scope(url) as db:
        result = install.initialize(db, "admin", ADMIN_PASSWORD, data_dir=setup_dir)
        totp_secret = result.admin.totp_secret
    return url, totp_secret


@pytest.fixture
def hosts(request, shared_database, tmp_path) -> dict[str, Host]:
    url, _ = shared_database
    started: dict[str, dict[str, GunicornSite]] = {"A": {}, "B": {}}
    for host_name, sites in started.items():
        data_dir = tmp_path / f"host{host_name}" / "data"  # each host its own; nothing shared but the DB
        data_dir.mkdir(parents=True)
        for site, secret in (("reporter", REPORTER_SECRET), ("inspector", INSPECTOR_SECRET)):
            env = {"TIPLINE_DATA_DIR": str(data_dir), "TIPLINE_DATABASE_URL": url, "TIPLINE_SECRET_KEY": secret}
            sites[site] = start_site(site, tmp_path / f"host{host_name}", env, workers=2, loglevel="info")
            request.addfinalizer(sites[site].stop)
    wait_all([site for sites in started.values() for site in sites.values()])
    return {name: Host(sites["reporter"], sites["inspector"]) for name, sites in started.items()}


def _forget_totp_use(url: str, username: str) -> None:
    """A TOTP step is accepted once per account (see conftest InspectorActions.forget_totp_use)."""
    with session_scope(url) as db:
        db.execute(update(Inspector).where(Inspector.username == username).values(totp_last_step=0))


def _send_tip(reporter_url: str) -> str:
    person = Browser()
    page = person.get(reporter_url + "/tip")
    assert page.status == 200
    form = find_form(page.text, form_id="tip-form")
    preview = person.submit(page, form, {
        "burden_types": ["account_metrics", "work_groups"], "platform": PLATFORM, "imposer_level": "township",
        "imposer_name": "", "frequency": "daily", "hours_per_week": "5", "region": "安徽省阜阳市",
        "description": DESCRIPTION}, button="preview")
    assert preview.status == 200, preview.text[:3000]
    sent = person.submit(preview, find_form(preview.text, form_id="tip-form"), {}, button="send")
    assert sent.status == 303, sent.text[:3000]
    receipt_page = person.follow(sent)
    match = re.search(r'id="receipt"[^>]*>([\d ]+)<', receipt_page.text)
    assert match, receipt_page.text[:3000]
    receipt = match.group(1).replace(" ", "")
    confirm = person.submit(receipt_page, find_form(receipt_page.text, action="/tip/receipt"),
                            {"last_group": receipt[-4:]})
    assert confirm.status == 303
    return receipt


def _log_in(person: Browser, inspector_url: str, url: str, totp_secret: str) -> None:
    page = person.follow(person.get(inspector_url + "/"))
    assert "/login" in page.url and page.status == 200
    _forget_totp_use(url, "admin")
    done = person.submit(page, find_form(page.text, action="/login"), {
        "username": "admin", "password": ADMIN_PASSWORD, "totp": pyotp.TOTP(totp_secret).now()})
    assert done.status == 303, done.text[:3000]


def test_a_tip_through_host_a_is_answered_through_host_b_and_one_session_works_on_both(
        hosts, shared_database):
    url, totp_secret = shared_database
    a, b = hosts["A"], hosts["B"]
    started = time.monotonic()

    # --- a reporter sends a tip through reporter A
    receipt = _send_tip(a.reporter.url)
    assert re.fullmatch(r"\d{20}", receipt)

    # --- an inspector logs in through inspector B and finds it in the queue
    inspector = Browser()
    _log_in(inspector, b.inspector.url, url, totp_secret)
    (session_cookie,) = inspector.cookies("tl_i")
    queue = inspector.get(b.inspector.url + "/")
    assert queue.status == 200 and PLATFORM in queue.text
    tip_ids = set(re.findall(r'href="/tips/([^"?#/]+)"', queue.text))
    assert len(tip_ids) == 1, tip_ids
    (tip_id,) = tip_ids
    tip_page = inspector.get(f"{b.inspector.url}/tips/{tip_id}")
    assert tip_page.status == 200 and DESCRIPTION in tip_page.text

    # ... replies, and sets 核查中 with an outcome note for the reporter, all through B
    replied = inspector.submit(tip_page, find_form(tip_page.text, form_id="reply-form"), {"body": REPLY})
    assert replied.status == 303, replied.text[:3000]
    tip_page = inspector.follow(replied)
    assert REPLY in tip_page.text
    changed = inspector.submit(tip_page, find_form(tip_page.text, form_id="status-form"), {
        "status": "verifying", "reason": "开始核查", "outcome": OUTCOME})
    assert changed.status == 303, changed.text[:3000]
    assert "核查中" in inspector.follow(changed).text

    # --- the same cookie on inspector A: the queue and the tip open there too
    queue_a = inspector.get(a.inspector.url + "/")
    assert queue_a.status == 200, (queue_a.status, queue_a.location)
    assert f'href="/tips/{tip_id}"' in queue_a.text
    tip_a = inspector.get(f"{a.inspector.url}/tips/{tip_id}")
    assert tip_a.status == 200 and DESCRIPTION in tip_a.text and REPLY in tip_a.text and "核查中" in tip_a.text
    assert inspector.cookies("tl_i") == [session_cookie]  # A did not start a session of its own

    # ... a form served by B is accepted by A (same inspector secret signs the CSRF token) ...
    page_b = inspector.get(f"{b.inspector.url}/tips/{tip_id}")
    noted = inspector.submit(page_b, find_form(page_b.text, form_id="note-form"), {"body": NOTE},
                             to=a.inspector.url)
    assert noted.status == 303, noted.text[:3000]
    assert NOTE in inspector.get(f"{b.inspector.url}/tips/{tip_id}").text

    # --- the reporter comes back later through reporter B, with the receipt only
    reporter = Browser()
    page = reporter.get(b.reporter.url + "/followup")
    opened = reporter.submit(page, find_form(page.text, action="/followup"), {"receipt": receipt})
    assert opened.status == 303, opened.text[:3000]
    followup = reporter.follow(opened)
    assert followup.status == 200
    assert re.search(r'id="status">核查中<', followup.text)
    assert REPLY in followup.text and OUTCOME in followup.text
    assert NOTE not in followup.text and "开始核查" not in followup.text  # internal

    # --- logging out on A ends the session on B too (it lives in the database)
    page_a = inspector.get(a.inspector.url + "/")
    out = inspector.submit(page_a, find_form(page_a.text, action="/logout"), {})
    assert out.status in (302, 303)
    after = inspector.get(b.inspector.url + "/")
    assert after.status in (302, 303) and "/login" in (after.location or "")

    elapsed = time.monotonic() - started
    assert elapsed < 60, f"the flow took {elapsed:.1f} s"

    # --- and no process logged an address on the way
    for host in (a, b):
        for site in (host.reporter, host.inspector):
            site.stop()
            text = site.output()
            assert "127.0.0.1" not in text, (site.site, text[-2000:])
            assert "Traceback" not in text, (site.site, text[-4000:])
