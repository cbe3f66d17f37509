"""Administration: accounts, grants, disable/remove, password reset, offices, rotation, recovery, CLI."""

import json
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from app.audit.models import AuditEntry
from app.cli import main
from app.db import session_scope
from app.inspectors.models import Inspector, OfficeGrant
from app.offices.models import Office
from app.reporting.models import Tip
from tests.conftest import InspectorActions

PASSWORD = "inspector's own long password"


def _secret(html: str) -> str:
    return re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")


@pytest.fixture
def admin(inspector):
    assert inspector.login().status_code == 303
    return inspector


@pytest.fixture
def other_client(inspector_app, installed):
    return InspectorActions(inspector_app.test_client(), installed)


@pytest.fixture
def cli(installed, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(installed.data_dir))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", installed.url)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", "x" * 40)

    def run(args, stdin=""):
        return CliRunner().invoke(main, args, input=stdin)

    return run


def _add_inspector(admin, username="li", offices=("default",), is_admin=False) -> str:
    data = {"username": username, "password": PASSWORD, "password2": PASSWORD, "offices": list(offices)}
    if is_admin:
        data["is_admin"] = "y"
    response = admin.post("/admin/inspectors/new", "/admin/inspectors/new", data)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    html = response.get_data(as_text=True)
    assert "<svg" in html
    return _secret(html)


def _id_of(installed, username) -> int:
    with session_scope(installed.url) as db:
        return db.scalar(select(Inspector.id).where(Inspector.username == username))


def test_added_inspector_logs_in_and_reads_the_offices_tips(admin, other_client, tips):
    tip_id = tips.create(description="给新核查员看的线索")
    secret = _add_inspector(admin)
    assert other_client.login("li", PASSWORD, secret).status_code == 303
    assert "给新核查员看的线索" in other_client.client.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert other_client.client.get("/admin/").status_code == 403  # not an admin


def test_added_inspector_without_offices_sees_nothing(admin, other_client, tips):
    tip_id = tips.create()
    secret = _add_inspector(admin, offices=())
    other_client.login("li", PASSWORD, secret)
    assert other_client.client.get(f"/tips/{tip_id}").status_code == 404


def test_add_inspector_errors_keep_the_form(admin):
    response = admin.post("/admin/inspectors/new", "/admin/inspectors/new",
                          {"username": "admin", "password": PASSWORD, "password2": PASSWORD, "offices": ["default"]})
    assert response.status_code == 400
    assert "该用户名已被使用" in response.get_data(as_text=True)
    response = admin.post("/admin/inspectors/new", "/admin/inspectors/new",
                          {"username": "wang", "password": "short", "password2": "short"})
    assert response.status_code == 400 and 'value="wang"' in response.get_data(as_text=True)


def test_disable_ends_sessions_and_logins_and_revokes_grants(admin, other_client, installed, tips):
    tip_id = tips.create()
    secret = _add_inspector(admin)
    other_client.login("li", PASSWORD, secret)
    assert other_client.client.get(f"/tips/{tip_id}").status_code == 200
    li = _id_of(installed, "li")
    page = f"/admin/inspectors/{li}"
    assert admin.post(page, f"{page}/disable", {}).status_code == 303
    assert other_client.client.get(f"/tips/{tip_id}").status_code == 303  # logged out
    assert other_client.login("li", PASSWORD, secret).status_code == 400
    with session_scope(installed.url) as db:
        assert not list(db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == li)))
    # enabled again, with the office granted again, li can work again
    assert admin.post(page, f"{page}/enable", {}).status_code == 303
    assert admin.post(page, f"{page}/grants", {"offices": ["default"]}).status_code == 303
    assert other_client.login("li", PASSWORD, secret).status_code == 303
    assert other_client.client.get(f"/tips/{tip_id}").status_code == 200


def test_removing_a_grant_takes_effect_in_a_live_session(admin, other_client, installed, tips):
    tip_id = tips.create()
    secret = _add_inspector(admin)
    other_client.login("li", PASSWORD, secret)
    li = _id_of(installed, "li")
    page = f"/admin/inspectors/{li}"
    assert admin.post(page, f"{page}/grants", {}).status_code == 303
    assert other_client.client.get(f"/tips/{tip_id}").status_code == 404


def test_remove_needs_confirmation_and_deletes_the_account(admin, installed, tips):
    _add_inspector(admin)
    li = _id_of(installed, "li")
    page = f"/admin/inspectors/{li}"
    assert admin.post(page, f"{page}/remove", {}).status_code == 400
    assert admin.post(page, f"{page}/remove", {"confirm": "y"}).status_code == 303
    assert _id_of(installed, "li") is None


def test_admin_cannot_disable_or_remove_themselves(admin, installed):
    me = _id_of(installed, "admin")
    page = f"/admin/inspectors/{me}"
    assert admin.post(page, f"{page}/disable", {}).status_code == 400
    assert admin.post(page, f"{page}/remove", {"confirm": "y"}).status_code == 400


def test_reset_password_gives_new_credentials_and_keeps_the_tips(admin, other_client, installed, tips):
    tip_id = tips.create(description="重置之后还能看")
    old_secret = _add_inspector(admin)
    li = _id_of(installed, "li")
    page = f"/admin/inspectors/{li}"
    new_password = "a new password after reset"
    response = admin.post(page, f"{page}/reset", {"password": new_password, "password2": new_password})
    assert response.status_code == 200
    new_secret = _secret(response.get_data(as_text=True))
    assert new_secret != old_secret
    assert other_client.login("li", PASSWORD, old_secret).status_code == 400
    assert other_client.login("li", new_password, old_secret).status_code == 400
    assert other_client.login("li", new_password, new_secret).status_code == 303
    assert "重置之后还能看" in other_client.client.get(f"/tips/{tip_id}").get_data(as_text=True)


def test_rotate_key_new_tips_use_it_and_old_tips_still_open(admin, other_client, installed, tips):
    old_tip = tips.create(description="轮换之前的线索")
    secret = _add_inspector(admin)
    with session_scope(installed.url) as db:
        office = db.scalar(select(Office).where(Office.code == "default"))
        old_key = office.current_key_id
    response = admin.post("/admin/offices/default", "/admin/offices/default/rotate", {"confirm": "y"})
    assert response.status_code == 303
    new_tip = tips.create(description="轮换之后的线索")
    with session_scope(installed.url) as db:
        office = db.scalar(select(Office).where(Office.code == "default"))
        assert office.current_key_id != old_key
        assert db.get(Tip, new_tip).office_key_id == office.current_key_id
        assert db.get(Tip, old_tip).office_key_id == old_key
    # the admin's live session holds the new key
    assert "轮换之后的线索" in admin.client.get(f"/tips/{new_tip}").get_data(as_text=True)
    assert "轮换之前的线索" in admin.client.get(f"/tips/{old_tip}").get_data(as_text=True)
    # an inspector who held the previous generation got the new one
    other_client.login("li", PASSWORD, secret)
    assert other_client.client.get(f"/tips/{new_tip}").status_code == 200
    assert other_client.client.get(f"/tips/{old_tip}").status_code == 200


def test_recover_with_the_recovery_key_on_the_web(admin, installed, tips):
    tip_id = tips.create()
    with session_scope(installed.url) as db:
        db.execute(delete(OfficeGrant))  # nobody can open the office any more
    assert admin.client.get(f"/tips/{tip_id}").status_code == 404
    wrong = admin.post("/admin/offices/default", "/admin/offices/default/recover",
                       {"recovery_key": "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH"})
    assert wrong.status_code == 400 and "恢复密钥不正确" in wrong.get_data(as_text=True)
    right = admin.post("/admin/offices/default", "/admin/offices/default/recover",
                       {"recovery_key": installed.recovery_key.lower()})
    assert right.status_code == 303
    assert admin.client.get(f"/tips/{tip_id}").status_code == 200


def test_add_office_shows_the_recovery_key_once(admin, installed, tips, reporter):
    response = admin.post("/admin/offices/new", "/admin/offices/new", {"code": "north", "name": "北区减负办"})
    assert response.status_code == 303
    page = admin.client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    key = re.search(r'id="recovery-key"[^>]*>([A-Z2-7-]+)<', html).group(1)
    no_csrf = admin.client.post(response.headers["Location"], data={"stored": "y"})
    assert no_csrf.status_code == 400
    from tests.conftest import csrf_token

    done = admin.client.post(response.headers["Location"], data={"csrf_token": csrf_token(html), "stored": "y"})
    assert done.status_code == 303
    assert key not in admin.client.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)
    tip_id = tips.create(office="north", description="北区的线索")
    assert "北区的线索" in admin.client.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert "北区减负办" in reporter.get("/tip").get_data(as_text=True)
    bad = admin.post("/admin/offices/new", "/admin/offices/new", {"code": "Bad Code!", "name": "x"})
    assert bad.status_code == 400


def test_admin_actions_are_audited(admin, installed):
    _add_inspector(admin)
    admin.post("/admin/offices/default", "/admin/offices/default/rotate", {"confirm": "y"})
    page = admin.client.get("/admin/audit").get_data(as_text=True)
    assert "链条完整" in page
    with session_scope(installed.url) as db:
        actions = {r.action for r in db.scalars(select(AuditEntry))}
    assert {"admin.inspector.add", "admin.office.rotate_key", "login.success"} <= actions


def test_audit_page_reports_a_broken_chain(admin, installed):
    with session_scope(installed.url) as db:
        row = db.scalar(select(AuditEntry).order_by(AuditEntry.id))
        row.detail = '{"edited":true}'
    page = admin.client.get("/admin/audit").get_data(as_text=True)
    assert "链条已被破坏" in page


# ---------------------------------------------------------------------------------------------
# The CLI of the scripting contract


def test_cli_inspector_add_per_the_contract(cli, installed, other_client, tips):
    tip_id = tips.create(description="命令行添加的核查员能看到")
    out = cli(["inspector", "add", "zhao", "--office", "default", "--admin", "admin", "--json"],
              f"{installed.admin_password}\n{PASSWORD}\n")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["inspector"] == "zhao" and data["office"] == "default" and len(data["totp_secret"]) >= 16
    assert other_client.login("zhao", PASSWORD, data["totp_secret"]).status_code == 303
    assert "命令行添加的核查员能看到" in other_client.client.get(f"/tips/{tip_id}").get_data(as_text=True)


def test_cli_inspector_add_refuses_a_wrong_admin_password(cli):
    out = cli(["inspector", "add", "zhao", "--office", "default", "--admin", "admin", "--json"],
              f"not the admin password\n{PASSWORD}\n")
    assert out.exit_code != 0 and "zhao" not in out.output.split("\n")[-1:]


def test_cli_office_add_rotate_and_recover(cli, installed, tips, admin):
    out = cli(["office", "add", "west", "--name", "西区减负办", "--admin", "admin", "--json"],
              f"{installed.admin_password}\n")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["office"] == "west" and data["recovery_key"]
    old_tip = tips.create(office="west")
    out = cli(["office", "rotate-key", "west", "--admin", "admin"], f"{installed.admin_password}\n")
    assert out.exit_code == 0, out.output
    new_tip = tips.create(office="west")
    with session_scope(installed.url) as db:
        assert db.get(Tip, old_tip).office_key_id != db.get(Tip, new_tip).office_key_id
        db.execute(delete(OfficeGrant))
    out = cli(["office", "recover", "west", "--admin", "admin"], f"{installed.admin_password}\nWRONG-KEY\n")
    assert out.exit_code != 0
    out = cli(["office", "recover", "west", "--admin", "admin"],
              f"{installed.admin_password}\n{data['recovery_key']}\n")
    assert out.exit_code == 0, out.output
    admin.logout()
    admin.login()
    assert admin.client.get(f"/tips/{old_tip}").status_code == 200
    assert admin.client.get(f"/tips/{new_tip}").status_code == 200
    assert cli(["audit", "verify"]).exit_code == 0
