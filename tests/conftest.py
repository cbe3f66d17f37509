"""Shared fixtures: a fresh data directory per test, both sites, and helpers that act like people.

Browser and PostgreSQL tests skip locally when their server or browser is missing, but fail under
CI=true: a skipped promise is not a kept one.
"""

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from flask.testing import FlaskClient

from app import create_inspector_app, create_reporter_app
from app.db import session_scope
from app.install import services as install

ADMIN_PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-" + "x" * 40
CHROMIUM = "/usr/bin/chromium"


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Installed:
    data_dir: Path
    url: str
    admin: str
    admin_password: str
    totp_secret: str
    recovery_key: str
    office: str

    def totp(self, secret: str | None = None) -> str:
        return pyotp.TOTP(secret or self.totp_secret).now()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def pytest_addoption(parser) -> None:
    parser.addoption("--db", default=os.environ.get("TIPLINE_TEST_DB", "sqlite"),
                     choices=("sqlite", "postgresql", "both"),
                     help="database backend(s) for every database-backed test (make test: both)")


def pytest_generate_tests(metafunc) -> None:
    if "database_backend" in metafunc.fixturenames:
        choice = metafunc.config.getoption("--db")
        backends = ["sqlite", "postgresql"] if choice == "both" else [choice]
        metafunc.parametrize("database_backend", backends, scope="session")


@pytest.fixture(scope="session")
def postgres_server():
    from tests.pgserver import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        skip_or_fail("PostgreSQL server binaries not found (apt-get install postgresql)")
    server = PostgresServer(bindir).start()
    try:
        server.make_template()
        yield server
    finally:
        server.stop()


def new_database_url(request, data_dir: Path, backend: str) -> str:
    """A fresh, migrated-or-empty database for one test: a SQLite file in the data directory, or a
    new PostgreSQL database cloned from a migrated template on the suite's own server."""
    if backend == "sqlite":
        from app.db import dispose_engine

        url = f"sqlite:///{data_dir / 'tipline.sqlite3'}"
        # app.db keeps an engine per URL for the life of the process: a thousand tests' engines
        # (pools, compiled caches) would make every garbage collection of the run walk them all.
        request.addfinalizer(lambda: dispose_engine(url))
        return url
    server = request.getfixturevalue("postgres_server")
    name = server.new_database()
    request.addfinalizer(lambda: server.drop_database(name))
    return server.url(name)


@pytest.fixture
def database_url(request, data_dir: Path, database_backend: str) -> str:
    return new_database_url(request, data_dir, database_backend)


@pytest.fixture
def config(data_dir: Path, database_url: str) -> dict:
    return {"DATA_DIR": str(data_dir), "DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET}


@pytest.fixture
def installed(config: dict, data_dir: Path, database_url: str) -> Installed:
    """`tipline init` done: schema, admin (password + TOTP) and the office `default`."""
    install.migrate(database_url)
    with session_scope(database_url) as db:
        result = install.initialize(db, "admin", ADMIN_PASSWORD, data_dir=data_dir)
        info = Installed(data_dir=data_dir, url=database_url, admin="admin", admin_password=ADMIN_PASSWORD,
                         totp_secret=result.admin.totp_secret, recovery_key=result.recovery_key,
                         office=result.office.code)
    return info


class ClosingClient(FlaskClient):
    """Reads every response whole and closes it, as a WSGI server does.

    A streamed download the test never read would otherwise keep its request context and a database
    connection alive in reference cycles until some later garbage collection. On PostgreSQL, where
    each test's database is dropped, that late clean-up fails and SQLAlchemy logs the traceback;
    Python 3.11 formats tracebacks with ast.parse, and if the collection fires while Werkzeug is
    building a route's AST (at every app creation), 3.11's AST builder, which is not re-entrant,
    raises "SystemError: AST constructor recursion depth mismatch" in an unrelated test."""

    def open(self, *args, buffered: bool = True, **kwargs):  # type: ignore[override]
        return super().open(*args, buffered=buffered, **kwargs)


@pytest.fixture
def reporter_app(installed: Installed, config: dict):
    app = create_reporter_app(config)
    app.config["TESTING"] = True
    app.test_client_class = ClosingClient
    return app


@pytest.fixture
def inspector_app(installed: Installed, config: dict):
    app = create_inspector_app(config)
    app.config["TESTING"] = True
    app.test_client_class = ClosingClient
    return app


@pytest.fixture
def reporter(reporter_app):
    return reporter_app.test_client()


@pytest.fixture
def inspector_client(inspector_app):
    return inspector_app.test_client()


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
_RECEIPT = re.compile(r'id="receipt"[^>]*>([\d ]+)<')


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in page"
    return match.group(1) or match.group(2)


def hidden_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"|type="hidden" name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1) if match.group(1) is not None else match.group(2)


DEFAULT_TIP = {
    "burden_types": ["checkin_ranking", "work_groups"],
    "platform": "网格通APP",
    "imposer_level": "county",
    "imposer_name": "县委宣传部",
    "frequency": "daily",
    "hours_per_week": "6",
    "region": "河南省周口市",
    "description": "每天早上八点前必须在网格通APP打卡，积分每周排名，排名靠后要写检讨。",
}


class ReporterActions:
    """Submits and follows up like a reporter with JavaScript off: form → preview → send → receipt."""

    def __init__(self, client) -> None:
        self.client = client

    def form_fields(self, **overrides) -> dict:
        page = self.client.get("/tip").get_data(as_text=True)
        fields = dict(DEFAULT_TIP)
        fields.update(overrides)
        fields["csrf_token"] = csrf_token(page)
        fields["submission_nonce"] = hidden_value(page, "submission_nonce")
        fields.setdefault("office", "default")
        return fields

    def submit(self, **overrides) -> str:
        fields = self.form_fields(**overrides)
        preview = self.client.post("/tip", data={**fields, "action": "preview"})
        assert preview.status_code == 200, preview.get_data(as_text=True)[:2000]
        sent = self.client.post("/tip", data={**fields, "action": "send"})
        assert sent.status_code == 303, sent.status_code
        page = self.client.get(sent.headers["Location"]).get_data(as_text=True)
        match = _RECEIPT.search(page)
        assert match, "no receipt on the receipt page"
        receipt = match.group(1).replace(" ", "")
        confirm = self.client.post("/tip/receipt", data={"csrf_token": csrf_token(page), "last_group": receipt[-4:]})
        assert confirm.status_code == 303
        return receipt

    def open(self, receipt: str):
        page = self.client.get("/followup").get_data(as_text=True)
        return self.client.post("/followup", data={"csrf_token": csrf_token(page), "receipt": receipt})


@pytest.fixture
def reporting(reporter) -> ReporterActions:
    return ReporterActions(reporter)


class LiveServers:
    def __init__(self, reporter_app, inspector_app) -> None:
        from app.serving import build_servers

        self.servers = build_servers(reporter_app, inspector_app, "127.0.0.1", 0, 0)
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in self.servers]
        for thread in self.threads:
            thread.start()
        self.reporter_url = f"http://127.0.0.1:{self.servers[0].server_port}"
        self.inspector_url = f"http://127.0.0.1:{self.servers[1].server_port}"

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def live(reporter_app, inspector_app):
    servers = LiveServers(reporter_app, inspector_app)
    yield servers
    servers.stop()


CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    """A JavaScript-off page by default: the reporter's worst case."""
    context = chromium.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


class InspectorActions:
    """Logs in to the inspector site like a person: GET the form, fill username, password, TOTP.

    Codes are computed by pyotp from the account's secret. A code can be used once, so unless a test
    passes its own code, the account's last used step is forgotten first (replay has its own tests).
    """

    def __init__(self, client, installed: Installed) -> None:
        self.client = client
        self.installed = installed

    def forget_totp_use(self, username: str) -> None:
        from sqlalchemy import update

        from app.inspectors.models import Inspector

        with session_scope(self.installed.url) as db:
            db.execute(update(Inspector).where(Inspector.username == username).values(totp_last_step=0))

    def login(self, username: str | None = None, password: str | None = None, secret: str | None = None,
              code: str | None = None):
        username = username or self.installed.admin
        password = self.installed.admin_password if password is None else password
        if code is None:
            self.forget_totp_use(username)
            code = pyotp.TOTP(secret or self.installed.totp_secret).now()
        page = self.client.get("/login").get_data(as_text=True)
        return self.client.post("/login", data={"csrf_token": csrf_token(page), "username": username,
                                                "password": password, "totp": code})

    def logout(self):
        page = self.client.get("/").get_data(as_text=True)
        return self.client.post("/logout", data={"csrf_token": csrf_token(page)})

    def post(self, page_path: str, action: str, data: dict):
        """POST a form the way the browser would: take the CSRF token from the page that shows it."""
        page = self.client.get(page_path)
        assert page.status_code == 200, (page_path, page.status_code)
        return self.client.post(action, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **data})


@pytest.fixture
def inspector(inspector_client, installed) -> InspectorActions:
    return InspectorActions(inspector_client, installed)


class TipFactory:
    """Tips stored directly through the reporting service (sealed like real ones, no receipt KDF)."""

    def __init__(self, installed: Installed) -> None:
        self.installed = installed

    def create(self, office: str = "default", received_on=None, status: str = "new", **fields) -> str:
        import crypto
        from app.offices.services import get_office_by_code
        from app.reporting import services

        content = {"burden_types": ["work_groups"], "platform": "政务钉钉", "imposer_level": "township",
                   "imposer_name": "", "frequency": "daily", "hours_per_week": 3.0, "region": "湖南省邵阳市",
                   "description": "工作群太多。"}
        content.update(fields)
        with session_scope(self.installed.url) as db:
            return services.store_tip(
                db, get_office_by_code(db, office), services.TipContent(**content),
                lookup_id=os.urandom(32), reporter_public_key=crypto.generate_keypair().public_key,
                received_on=received_on, status=status)


def add_office_with_inspector(db, admin_username: str, username: str, password: str, code: str = "east",
                              name: str = "东区减负办"):
    """A second office, added by the admin, and a new inspector who holds its keys and no others.
    Returns (admin, the added office, the new inspector)."""
    from sqlalchemy import select

    from app.admin import services as admin_services
    from app.inspectors.models import Inspector
    from app.inspectors.services import create_inspector, grant_office_key
    from app.offices.models import OfficeKey

    admin = db.scalar(select(Inspector).where(Inspector.username == admin_username))
    added = admin_services.add_office(db, admin, code, name)
    person = create_inspector(db, username, password)
    for key_id, private_key in added.private_keys.items():
        grant_office_key(db, db.get(OfficeKey, key_id), person.inspector, private_key)
    return admin, added, person


@pytest.fixture
def tips(installed) -> TipFactory:
    return TipFactory(installed)
