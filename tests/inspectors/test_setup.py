"""The first-run set-up page on a data directory that only had `prepare_first_run` (first serve)."""

import re

import pyotp
import pytest

from app import create_inspector_app, create_reporter_app
from app.db import session_scope
from app.install import services as install
from tests.conftest import ReporterActions, csrf_token

PASSWORD = "the first admin's long passphrase"


@pytest.fixture
def first_run(config, data_dir, database_url):
    install.migrate(database_url)
    with session_scope(database_url) as db:
        token = install.prepare_first_run(db, data_dir)
    inspector_app = create_inspector_app(config)
    reporter_app = create_reporter_app(config)
    return token, inspector_app.test_client(), reporter_app.test_client()


def _secret(html: str) -> str:
    return re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")


def test_setup_end_to_end_and_a_tip_sent_before_it_is_readable(first_run, data_dir):
    token, client, reporter = first_run
    receipt = ReporterActions(reporter).submit(description="设置之前就提交的线索。")

    page = client.get(f"/setup/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "<script" not in html and "data:" not in html
    secret = _secret(html)

    # A wrong code: the form comes back with what was typed (not the passwords).
    bad = client.post(f"/setup/{token}", data={"csrf_token": csrf_token(html), "username": "chief",
                                               "password": PASSWORD, "password2": PASSWORD, "totp": "000000"})
    assert bad.status_code == 400
    bad_html = bad.get_data(as_text=True)
    assert 'value="chief"' in bad_html and PASSWORD not in bad_html
    assert _secret(bad_html) == secret  # the same secret until the set-up is done

    code = pyotp.TOTP(secret).now()
    done = client.post(f"/setup/{token}", data={"csrf_token": csrf_token(bad_html), "username": "chief",
                                                "password": PASSWORD, "password2": PASSWORD, "totp": code})
    assert done.status_code == 303
    assert not (data_dir / install.SETUP_TOKEN_FILE).exists()
    shown = client.get(done.headers["Location"])
    shown_html = shown.get_data(as_text=True)
    recovery_key = re.search(r'id="recovery-key"[^>]*>([A-Z2-7-]+)<', shown_html).group(1)

    # The confirmation is required; without it the key is shown again.
    not_confirmed = client.post(done.headers["Location"], data={"csrf_token": csrf_token(shown_html)})
    assert not_confirmed.status_code == 400 and recovery_key in not_confirmed.get_data(as_text=True)
    no_token = client.post(done.headers["Location"], data={"stored": "y"})
    assert no_token.status_code == 400 and "页面已失效" in no_token.get_data(as_text=True)
    confirmed = client.post(done.headers["Location"], data={"csrf_token": csrf_token(shown_html), "stored": "y"})
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == "/login"
    assert recovery_key not in client.get(done.headers["Location"], follow_redirects=True).get_data(as_text=True)

    # The link is spent.
    assert client.get(f"/setup/{token}").status_code == 404

    # The code used at set-up cannot be replayed; the next one logs in.
    login_page = client.get("/login").get_data(as_text=True)
    replay = client.post("/login", data={"csrf_token": csrf_token(login_page), "username": "chief",
                                         "password": PASSWORD, "totp": code})
    assert replay.status_code == 400
    from app import clock

    next_code = pyotp.TOTP(secret).at(clock.now() + 30)
    login_page = client.get("/login").get_data(as_text=True)
    ok = client.post("/login", data={"csrf_token": csrf_token(login_page), "username": "chief",
                                     "password": PASSWORD, "totp": next_code})
    assert ok.status_code == 303
    queue = client.get("/").get_data(as_text=True)
    tip_id = re.search(r'href="/tips/([^"]+)"', queue).group(1)
    assert "设置之前就提交的线索。" in client.get(f"/tips/{tip_id}").get_data(as_text=True)

    # The recovery key shown really opens the office key.
    with session_scope(install_url(client)) as db:
        from app.offices.models import OfficeKey
        from app.offices.services import get_office_by_code, open_with_recovery_key

        office = get_office_by_code(db, "default")
        assert open_with_recovery_key(db.get(OfficeKey, office.current_key_id), recovery_key)
    assert receipt


def install_url(client) -> str:
    return client.application.config["DATABASE_URL"]


def test_wrong_token_is_404(first_run):
    _token, client, _reporter = first_run
    assert client.get("/setup/not-the-token").status_code == 404
    assert client.post("/setup/not-the-token", data={}).status_code == 404


def test_setup_without_csrf_keeps_the_username(first_run):
    token, client, _reporter = first_run
    client.get(f"/setup/{token}")
    response = client.post(f"/setup/{token}", data={"username": "chief", "password": PASSWORD,
                                                     "password2": PASSWORD, "totp": "123456"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "页面已失效" in html and 'value="chief"' in html


@pytest.mark.parametrize("fields,message", [
    ({"password": "short", "password2": "short"}, "密码至少12个字符"),
    ({"password2": "something else entirely"}, "两次输入的密码不一致"),
    ({"username": ""}, "请填写用户名"),
])
def test_setup_validation_errors(first_run, fields, message):
    token, client, _reporter = first_run
    html = client.get(f"/setup/{token}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(html), "username": "chief", "password": PASSWORD, "password2": PASSWORD,
            "totp": pyotp.TOTP(_secret(html)).now(), **fields}
    response = client.post(f"/setup/{token}", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_setup_page_is_gone_once_an_admin_exists(installed, inspector_client):
    assert inspector_client.get("/setup/anything").status_code == 404
