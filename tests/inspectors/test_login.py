"""Login: password + TOTP, one message for every failure, replay, lockout per account, sessions."""

import pyotp
import pytest
from sqlalchemy import func, select

from app import clock
from app.db import session_scope
from app.inspectors import login as login_service
from app.inspectors.models import Inspector
from app.sessions import ServerSession

GENERIC = "用户名、密码或动态码不正确，或账户暂时锁定。请稍后再试。"
COOKIE = "tl_i"


def _inspector(installed, username="admin") -> Inspector:
    with session_scope(installed.url) as db:
        return db.scalar(select(Inspector).where(Inspector.username == username))


def _session_rows(installed) -> int:
    with session_scope(installed.url) as db:
        return db.scalar(select(func.count()).select_from(ServerSession))


def test_login_succeeds_with_password_and_totp(inspector, inspector_client):
    response = inspector.login()
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    page = inspector_client.get("/")
    assert page.status_code == 200
    assert "线索队列" in page.get_data(as_text=True)


def test_inspector_pages_are_chinese_with_a_switch_to_english(inspector, inspector_client):
    inspector.login()
    html = inspector_client.get("/").get_data(as_text=True)
    assert 'lang="zh-Hans"' in html and 'hreflang="en"' in html
    english = inspector_client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english


def test_pages_need_login(inspector_client):
    for path in ("/", "/tips/abc", "/admin/", "/admin/audit", "/password"):
        response = inspector_client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("case", ["wrong password", "wrong code", "unknown user", "empty code"])
def test_every_failure_looks_the_same(inspector, installed, case):
    good = pyotp.TOTP(installed.totp_secret).now()
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    fields = {
        "wrong password": ("admin", "not the password at all", good),
        "wrong code": ("admin", installed.admin_password, wrong),
        "unknown user": ("nobody", installed.admin_password, good),
        "empty code": ("admin", installed.admin_password, "abcdef"),
    }[case]
    response = inspector.login(*fields[:2], code=fields[2])
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert GENERIC in html
    # The username stays; the password and the code do not come back.
    assert installed.admin_password not in html
    assert fields[2] not in html


def test_unknown_users_spend_the_password_time(inspector, monkeypatch):
    spent = []
    monkeypatch.setattr("crypto.spend_password_time", lambda password: spent.append(1))
    inspector.login("nobody", "whatever password", code="123456")
    assert spent == [1]


def test_totp_accepts_one_step_either_side_and_refuses_two(installed, inspector, monkeypatch):
    totp = pyotp.TOTP(installed.totp_secret)
    # A frozen clock mid-step: the Argon2id time between typing and checking cannot cross a step.
    now = (int(clock.now() // 30) * 30) + 15.0
    monkeypatch.setattr(clock, "now", lambda: now)
    for offset, expected in ((-30, 303), (30, 303), (0, 303), (-60, 400), (60, 400)):
        inspector.forget_totp_use("admin")
        code = totp.at(now + offset)
        assert inspector.login(code=code).status_code == expected, offset
        inspector.client.delete_cookie(COOKIE)


def test_a_used_code_is_refused(installed, inspector):
    code = pyotp.TOTP(installed.totp_secret).now()
    inspector.forget_totp_use("admin")
    assert inspector.login(code=code).status_code == 303
    inspector.client.delete_cookie(COOKIE)
    replay = inspector.login(code=code)
    assert replay.status_code == 400
    assert GENERIC in replay.get_data(as_text=True)


def test_matching_step_refuses_steps_not_after_the_last_one():
    secret = pyotp.random_base32()
    now = 1_700_000_000.0
    step = int(now // 30)
    code = pyotp.TOTP(secret).at(now)
    assert login_service.matching_step(secret, code, now, 0) == step
    assert login_service.matching_step(secret, code, now, step) is None
    assert login_service.matching_step(secret, code, now, step - 1) == step
    assert login_service.matching_step(secret, " " + code[:3] + " " + code[3:], now, 0) == step
    assert login_service.matching_step(secret, "12345", now, 0) is None


def test_lock_delay_grows_and_is_capped():
    delays = [login_service.lock_delay(n) for n in range(1, 16)]
    assert delays[:4] == [0, 0, 0, 0]
    assert delays[4:8] == [30, 60, 120, 240]
    assert max(delays) == 3600
    assert delays == sorted(delays)


def test_lockout_is_per_account_and_refuses_even_the_right_password(installed, inspector, monkeypatch):
    with session_scope(installed.url) as db:
        from app.inspectors.services import create_inspector

        other = create_inspector(db, "colleague", "another long password")
        other_secret = other.totp_secret
    for _ in range(5):
        assert inspector.login(password="wrong password!!", code="000000").status_code == 400
    admin = _inspector(installed)
    assert admin.failed_logins == 5
    assert admin.locked_until - clock.now() == pytest.approx(30, abs=2)
    # Locked: even everything right fails, with the same message.
    refused = inspector.login()
    assert refused.status_code == 400 and GENERIC in refused.get_data(as_text=True)
    # Another account is not affected (lockout counts per account, never per address).
    assert inspector.login("colleague", "another long password", other_secret).status_code == 303
    inspector.client.delete_cookie(COOKIE)
    # After the delay, a further failure locks for longer.
    later = clock.now() + 31
    monkeypatch.setattr(clock, "now", lambda: later)
    assert inspector.login(password="wrong password!!", code="000000").status_code == 400
    admin = _inspector(installed)
    assert admin.failed_logins == 6
    assert admin.locked_until - later == pytest.approx(60, abs=2)
    # And the right credentials work again once the lock has passed.
    much_later = later + 61
    monkeypatch.setattr(clock, "now", lambda: much_later)
    inspector.forget_totp_use("admin")
    code = pyotp.TOTP(installed.totp_secret).at(much_later)
    assert inspector.login(code=code).status_code == 303
    assert _inspector(installed).failed_logins == 0


def test_disabled_accounts_fail_the_same_way(installed, inspector):
    with session_scope(installed.url) as db:
        from app.inspectors.services import create_inspector

        new = create_inspector(db, "gone", "another long password")
        new.inspector.disabled = True
        secret = new.totp_secret
    response = inspector.login("gone", "another long password", secret)
    assert response.status_code == 400
    assert GENERIC in response.get_data(as_text=True)


def test_login_gives_a_new_session_id_and_the_old_one_dies(inspector, inspector_client):
    inspector_client.get("/login")
    before = inspector_client.get_cookie(COOKIE).value
    assert inspector.login().status_code == 303
    after = inspector_client.get_cookie(COOKIE).value
    assert before != after
    assert before.split(".")[0] != after.split(".")[0]
    inspector_client.set_cookie(COOKIE, before)
    response = inspector_client.get("/")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def _row_exists(installed, cookie: str) -> bool:
    import hashlib

    row_id = hashlib.sha256(cookie.split(".")[0].encode()).hexdigest()
    with session_scope(installed.url) as db:
        return db.get(ServerSession, row_id) is not None


def test_logout_deletes_the_server_side_row(installed, inspector, inspector_client):
    inspector.login()
    cookie = inspector_client.get_cookie(COOKIE).value
    assert _row_exists(installed, cookie)
    response = inspector.logout()
    assert response.status_code == 303
    assert not _row_exists(installed, cookie)
    inspector_client.set_cookie(COOKIE, cookie)
    assert inspector_client.get("/").status_code == 303


def test_idle_expiry_after_30_minutes(inspector, inspector_client, monkeypatch):
    inspector.login()
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + 29 * 60)
    assert inspector_client.get("/").status_code == 200  # activity refreshes the idle deadline
    monkeypatch.setattr(clock, "now", lambda: start + 29 * 60 + 31 * 60)
    response = inspector_client.get("/")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_absolute_expiry_after_8_hours_despite_activity(inspector, inspector_client, monkeypatch):
    inspector.login()
    start = clock.now()
    t = start
    while t < start + 8 * 3600 - 20 * 60:
        t += 20 * 60
        monkeypatch.setattr(clock, "now", lambda t=t: t)
        assert inspector_client.get("/").status_code == 200
    monkeypatch.setattr(clock, "now", lambda: start + 8 * 3600 + 1)
    response = inspector_client.get("/")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login")


def test_password_change_rewraps_the_key_and_ends_other_sessions(installed, inspector, inspector_app,
                                                                 tips, inspector_client):
    tip_id = tips.create()
    other = inspector_app.test_client()
    from tests.conftest import InspectorActions  # noqa: PLC0415

    second = InspectorActions(other, installed)
    inspector.login()
    second.login()
    new_password = "a brand new long passphrase"
    response = inspector.post("/password", "/password", {
        "current_password": installed.admin_password, "new_password": new_password,
        "new_password2": new_password})
    assert response.status_code == 303
    assert inspector_client.get(f"/tips/{tip_id}").status_code == 200  # this session goes on
    assert other.get("/").status_code == 303                           # the other one ended
    inspector.logout()
    assert inspector.login(password=installed.admin_password).status_code == 400
    assert inspector.login(password=new_password).status_code == 303
    assert inspector_client.get(f"/tips/{tip_id}").status_code == 200  # same key pair, same grants


def _change_password(inspector, current: str, new: str = "a brand new long passphrase"):
    return inspector.post("/password", "/password", {
        "current_password": current, "new_password": new, "new_password2": new})


def test_password_change_with_a_wrong_current_password(inspector, installed):
    from app.audit.models import AuditEntry

    inspector.login()
    response = _change_password(inspector, "not my password")
    assert response.status_code == 400
    assert "当前密码不正确，或账户因多次失败暂时锁定" in response.get_data(as_text=True)
    assert _inspector(installed).failed_logins == 1  # counted, as a failed login is
    with session_scope(installed.url) as db:
        last = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last.action == "login.failure" and "current-password" in last.detail


def test_an_open_session_cannot_guess_the_password_past_the_lockout(inspector, installed, monkeypatch):
    """Someone at a computer left signed in tries passwords on the change form: the wrong ones lock
    the account as failed logins do, and while it is locked even the right one is refused (not
    tested) and nothing changes. The session itself goes on."""
    inspector.login()
    for _ in range(5):
        assert _change_password(inspector, "guess number n!").status_code == 400
    admin = _inspector(installed)
    assert admin.failed_logins == 5
    assert admin.locked_until - clock.now() == pytest.approx(30, abs=2)
    refused = _change_password(inspector, installed.admin_password)
    assert refused.status_code == 400 and "暂时锁定" in refused.get_data(as_text=True)
    assert _inspector(installed).wrapped_private_key == admin.wrapped_private_key
    assert inspector.client.get("/").status_code == 200
    later = clock.now() + 31
    monkeypatch.setattr(clock, "now", lambda: later)
    assert _change_password(inspector, installed.admin_password).status_code == 303
    changed = _inspector(installed)
    assert changed.failed_logins == 0 and changed.wrapped_private_key != admin.wrapped_private_key


def test_change_password_rewraps_only_the_inspectors_own_key(installed):
    import crypto
    from app.inspectors.services import AccountError, change_password

    with session_scope(installed.url) as db:
        admin = db.scalar(select(Inspector).where(Inspector.username == "admin"))
        before = admin.wrapped_private_key
        with pytest.raises(AccountError):
            change_password(db, admin, crypto.generate_keypair().private_key, "a brand new long passphrase")
        assert admin.wrapped_private_key == before


def test_next_parameter_only_goes_to_this_site(inspector, inspector_client):
    page = inspector_client.get("/login").get_data(as_text=True)
    from tests.conftest import csrf_token  # noqa: PLC0415

    inspector.forget_totp_use("admin")
    code = pyotp.TOTP(inspector.installed.totp_secret).now()
    response = inspector_client.post("/login?next=//evil.example/", data={
        "csrf_token": csrf_token(page), "username": "admin", "password": inspector.installed.admin_password,
        "totp": code})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_the_inspector_site_never_reads_addresses_or_user_agents():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "app"
    for folder in ("inspectors", "triage", "admin", "audit"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            assert "remote_addr" not in text and "User-Agent" not in text and "user_agent" not in text, path


def test_audit_records_login_success_and_failure_without_unknown_names(installed, inspector):
    from app.audit.models import AuditEntry

    inspector.login("someone-unknown", "some password here", code="123456")
    inspector.login()
    with session_scope(installed.url) as db:
        rows = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    actions = [r.action for r in rows]
    assert "login.failure" in actions and "login.success" in actions
    assert all("someone-unknown" not in r.detail and "someone-unknown" not in r.target for r in rows)
    assert all(installed.admin_password not in r.detail for r in rows)


def test_a_code_typed_with_full_width_digits_is_the_same_code(inspector, inspector_client, installed):
    code = installed.totp()
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    inspector.forget_totp_use(installed.admin)
    response = inspector.login(code=" ".join([full_width[:3], full_width[3:]]))
    assert response.status_code == 303
    assert inspector_client.get("/").status_code == 200


def test_digits_of_other_scripts_are_refused_not_a_500(inspector, installed):
    code = installed.totp().translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    inspector.forget_totp_use(installed.admin)
    response = inspector.login(code=code)
    assert response.status_code == 400


def _set_failures(installed, failures: int) -> None:
    from sqlalchemy import update

    with session_scope(installed.url) as db:
        db.execute(update(Inspector).where(Inspector.username == "admin").values(failed_logins=failures))


def _watch_unwrap(monkeypatch, during_first=None) -> list[str]:
    """Record each password actually tested; `during_first` runs while the first one is (as another
    request would, in parallel with its KDF)."""
    tested: list[str] = []
    real = login_service._unwrap

    def unwrap(inspector, password):
        tested.append(password)
        if len(tested) == 1 and during_first is not None:
            during_first()
        return real(inspector, password)

    monkeypatch.setattr(login_service, "_unwrap", unwrap)
    return tested


def test_parallel_password_checks_each_count_and_see_each_others_lock(installed, monkeypatch):
    """Two requests (two tabs, two workers) read the account before either tests a password: the
    second sees the first one's failure and lock instead of writing its own stale count over them."""
    from sqlalchemy.orm import sessionmaker

    from app.db import engine_for

    _set_failures(installed, 4)  # the next failure locks
    tested = _watch_unwrap(monkeypatch)
    make = sessionmaker(bind=engine_for(installed.url), expire_on_commit=False)
    with make() as first, make() as second:
        mine, theirs = (db.scalar(select(Inspector).where(Inspector.username == "admin")) for db in (first, second))
        assert login_service.confirm_password(first, mine, "first wrong guess") is None
        first.commit()
        assert login_service.confirm_password(second, theirs, installed.admin_password) is None
        second.commit()
    assert tested == ["first wrong guess"]  # the right password was never tried during the lock
    admin = _inspector(installed)
    assert admin.failed_logins == 5 and admin.locked_until > clock.now()


def test_a_login_racing_another_sees_its_attempt(installed, monkeypatch):
    from app.inspectors.login import authenticate

    _set_failures(installed, 4)
    refused = []

    def second_login():
        with session_scope(installed.url) as other:
            refused.append(authenticate(other, "admin", installed.admin_password,
                                        pyotp.TOTP(installed.totp_secret).now()) is None)

    tested = _watch_unwrap(monkeypatch, during_first=second_login)
    with session_scope(installed.url) as db:
        assert authenticate(db, "admin", "first wrong guess", "000000") is None
    assert tested == ["first wrong guess"] and refused == [True]
    assert _inspector(installed).failed_logins == 5


def test_two_logins_racing_with_one_code_let_only_one_in(installed, monkeypatch):
    from app.inspectors.login import authenticate

    code = pyotp.TOTP(installed.totp_secret).now()
    results = []

    def second_login():
        with session_scope(installed.url) as other:
            results.append(authenticate(other, "admin", installed.admin_password, code) is not None)

    _watch_unwrap(monkeypatch, during_first=second_login)
    with session_scope(installed.url) as db:
        results.append(authenticate(db, "admin", installed.admin_password, code) is not None)
    assert sorted(results) == [False, True]


def test_a_password_change_never_undoes_a_reset_made_meanwhile(installed):
    """An administrator resets the account (new key pair, other sessions end) while the inspector's
    password change is under way: the change must not write the old key back."""
    from sqlalchemy.orm import sessionmaker

    from app.db import engine_for
    from app.inspectors.services import AccountError, change_password, reset_credentials

    make = sessionmaker(bind=engine_for(installed.url), expire_on_commit=False)
    with make() as db:
        me = db.scalar(select(Inspector).where(Inspector.username == "admin"))
        public_key, epoch = me.public_key, me.auth_epoch
        private_key = login_service.confirm_password(db, me, installed.admin_password)
        assert private_key is not None
        with session_scope(installed.url) as admin_db:
            reset_credentials(admin_db, admin_db.get(Inspector, me.id), "the administrator's new one")
        with pytest.raises(AccountError):
            change_password(db, me, private_key, "a brand new long passphrase")
        db.rollback()
    after = _inspector(installed)
    assert after.public_key != public_key and after.auth_epoch == epoch + 1  # the reset's, untouched


def test_a_successful_login_keeps_the_failures_made_while_it_ran(installed, monkeypatch):
    """A wrong guess lands during a right login's KDF: the success clears only its own attempt."""
    from app.inspectors.login import authenticate

    def guess():
        with session_scope(installed.url) as other:
            assert authenticate(other, "admin", "a wrong guess!!", "000000") is None

    _watch_unwrap(monkeypatch, during_first=guess)
    with session_scope(installed.url) as db:
        assert authenticate(db, "admin", installed.admin_password, pyotp.TOTP(installed.totp_secret).now())
    assert _inspector(installed).failed_logins == 1  # the guess stands; this login's own claim is gone
