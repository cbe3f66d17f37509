"""Submitting a tip as a reporter with JavaScript off: form → preview → send → receipt → confirm."""

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.db import session_scope
from app.reporting import services
from app.reporting.models import Tip
from tests.conftest import DEFAULT_TIP, csrf_token, hidden_value


def tip_count(installed) -> int:
    with session_scope(installed.url) as db:
        return db.scalar(select(func.count()).select_from(Tip))


def test_form_has_the_contract_fields(reporter):
    page = reporter.get("/tip").get_data(as_text=True)
    assert '<form id="tip-form"' in page
    for name in ("office", "burden_types", "platform", "imposer_level", "imposer_name", "frequency",
                 "hours_per_week", "region", "description"):
        assert f'name="{name}"' in page, name
    for code in ("app_install", "checkin_ranking", "study_hours", "photo_trace", "work_groups",
                 "duplicate_reporting", "account_metrics", "inspection_ledger", "meetings_documents", "other"):
        assert f'value="{code}"' in page
    # each type names the rule it breaks where one exists
    assert "不得以点赞、投票、转发等作为考核依据" in page
    assert "<script" not in page


def test_full_flow_gives_a_twenty_digit_receipt_in_five_groups(reporting, reporter, installed):
    fields = reporting.form_fields()
    preview = reporter.post("/tip", data={**fields, "action": "preview"}).get_data(as_text=True)
    # the preview shows exactly what will be sent
    assert DEFAULT_TIP["description"] in preview and DEFAULT_TIP["platform"] in preview
    assert "打卡签到、积分排名、在线时长" in preview and "县委宣传部" in preview
    assert tip_count(installed) == 0, "nothing is stored at the preview step"
    sent = reporter.post("/tip", data={**fields, "action": "send"})
    assert sent.status_code == 303
    page = reporter.get(sent.headers["Location"]).get_data(as_text=True)
    match = re.search(r'<p id="receipt"[^>]*>([^<]+)</p>', page)
    assert match
    groups = match.group(1).split()
    assert len(groups) == 5 and all(len(g) == 4 and g.isdigit() for g in groups)
    assert tip_count(installed) == 1


def test_edit_from_preview_keeps_everything(reporting, reporter):
    fields = reporting.form_fields(description="第一行\n第二行 <b>不是标签</b>")
    page = reporter.post("/tip", data={**fields, "action": "edit"}).get_data(as_text=True)
    assert "第一行\n第二行 &lt;b&gt;不是标签&lt;/b&gt;" in page
    assert 'value="网格通APP"' in page
    assert 'value="checkin_ranking" checked' in page and 'value="work_groups" checked' in page
    assert '<option selected value="county">' in page or 'value="county" selected' in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"description": ""}, "请写下发生了什么。"),
        ({"description": "   \n  "}, "请写下发生了什么。"),
        ({"burden_types": []}, "请至少选择一种负担类型。"),
        ({"hours_per_week": "500"}, "0到168"),
        ({"hours_per_week": "很多"}, ""),
        ({"platform": "平" * 201}, "最多200个字"),
        ({"description": "长" * 20001}, "最多20000个字"),
        ({"burden_types": ["not_a_type"]}, ""),
        ({"imposer_level": "emperor"}, ""),
    ],
)
def test_validation_errors_keep_what_was_typed(reporting, reporter, installed, overrides, message):
    fields = reporting.form_fields(**overrides)
    fields["region"] = "湖南省邵阳市"
    response = reporter.post("/tip", data={**fields, "action": "send"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page
    assert "有几处需要修改" in page
    assert 'value="湖南省邵阳市"' in page
    if overrides.get("description", "x").strip():
        assert (overrides.get("description") or DEFAULT_TIP["description"]) in page
    assert tip_count(installed) == 0


def test_expired_csrf_token_keeps_the_text(reporting, reporter, installed):
    fields = reporting.form_fields(description="过期以后我写的字不能丢")
    fields["csrf_token"] = "IjRmZTk.expired.token"
    response = reporter.post("/tip", data={**fields, "action": "send"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "已失效" in page
    assert "过期以后我写的字不能丢" in page
    assert tip_count(installed) == 0
    # and the fresh token on that page works
    fields["csrf_token"] = csrf_token(page)
    assert reporter.post("/tip", data={**fields, "action": "send"}).status_code == 303


def test_time_limited_csrf_expiry_keeps_the_text(reporter_app, installed):
    reporter_app.config["WTF_CSRF_TIME_LIMIT"] = 1
    client = reporter_app.test_client()
    page = client.get("/tip").get_data(as_text=True)
    import time

    time.sleep(2.1)
    data = {**DEFAULT_TIP, "office": "default", "csrf_token": csrf_token(page),
            "submission_nonce": hidden_value(page, "submission_nonce"), "action": "preview",
            "description": "等了很久才提交"}
    response = client.post("/tip", data=data)
    assert response.status_code == 400
    assert "等了很久才提交" in response.get_data(as_text=True)


def test_double_send_makes_one_tip(reporting, reporter, installed):
    fields = reporting.form_fields()
    first = reporter.post("/tip", data={**fields, "action": "send"})
    second = reporter.post("/tip", data={**fields, "action": "send"})
    assert first.status_code == second.status_code == 303
    assert tip_count(installed) == 1


def test_receipt_only_after_commit_and_text_kept_when_storing_fails(reporting, reporter, installed, monkeypatch):
    def failing_submit(db, office, content):
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(services, "submit_tip", failing_submit)
    fields = reporting.form_fields(description="存储失败时这段话要还给我")
    response = reporter.post("/tip", data={**fields, "action": "send"})
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "没有保存成功" in page and "存储失败时这段话要还给我" in page
    assert 'id="receipt"' not in page
    assert reporter.get("/tip/receipt").status_code == 302  # no pending receipt to show
    assert tip_count(installed) == 0


def test_commit_failure_shows_no_receipt(reporting, reporter, installed, monkeypatch):
    from app.reporting import views

    real_get_session = views.get_session

    class FailingCommit:
        def __init__(self, db):
            self._db = db

        def __getattr__(self, name):
            return getattr(self._db, name)

        def commit(self):
            raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(views, "get_session", lambda: FailingCommit(real_get_session()))
    fields = reporting.form_fields(description="提交失败")
    response = reporter.post("/tip", data={**fields, "action": "send"})
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "提交失败" in page and 'id="receipt"' not in page
    monkeypatch.undo()
    assert tip_count(installed) == 0
    # the session was to carry the receipt in the same transaction: it carries none
    assert reporter.get("/tip/receipt").status_code == 302
    assert "提交失败" in reporter.post("/tip", data={**fields, "action": "preview"}).get_data(as_text=True)


def test_receipt_confirmation_requires_the_last_group(reporting, reporter):
    fields = reporting.form_fields()
    sent = reporter.post("/tip", data={**fields, "action": "send"})
    page = reporter.get(sent.headers["Location"]).get_data(as_text=True)
    receipt = re.search(r'id="receipt"[^>]*>([\d ]+)<', page).group(1).replace(" ", "")
    wrong = "0000" if receipt[-4:] != "0000" else "1111"
    response = reporter.post("/tip/receipt", data={"csrf_token": csrf_token(page), "last_group": wrong})
    again = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "最后四位不对" in again
    assert re.search(r'id="receipt"[^>]*>([\d ]+)<', again).group(1).replace(" ", "") == receipt
    ok = reporter.post("/tip/receipt", data={"csrf_token": csrf_token(again), "last_group": receipt[-4:]})
    assert ok.status_code == 303 and ok.headers["Location"].endswith("/tip/done")
    # shown once: after confirmation the receipt page is gone
    after = reporter.get("/tip/receipt")
    assert after.status_code == 302
    assert receipt not in reporter.get("/tip/done").get_data(as_text=True)


def test_content_is_stored_encrypted_and_opens_with_the_receipt(reporting, installed):
    receipt = reporting.submit(description="加密保存的经过")
    with session_scope(installed.url) as db:
        tip = db.scalars(select(Tip)).one()
        assert "加密保存的经过".encode() not in tip.content
        opened = services.open_with_receipt(db, receipt)
        view = services.read_for_reporter(db, opened)
    assert view.content.description == "加密保存的经过"
    assert view.content.burden_types == ["checkin_ranking", "work_groups"]
    assert view.content.hours_per_week == 6.0
    assert view.status == "new"


@pytest.mark.parametrize("garbage", [
    {"action": "send"},
    {"action": "send", "office": "nope", "description": "x", "burden_types": "other"},
    {"action": "preview", "hours_per_week": "1e309", "description": "x", "burden_types": "other"},
    {"action": "preview", "hours_per_week": "NaN", "description": "x", "burden_types": "other"},
    {"action": "whatever", "description": "\x00\u202e\ufeff", "burden_types": "other"},
])
def test_garbage_never_causes_500(reporter, garbage):
    page = reporter.get("/tip").get_data(as_text=True)
    response = reporter.post("/tip", data={**garbage, "csrf_token": csrf_token(page)})
    assert response.status_code in (200, 400)


def test_invalid_utf8_and_broken_bodies_never_cause_500(reporter):
    page = reporter.get("/tip").get_data(as_text=True)
    token = csrf_token(page).encode()
    body = b"csrf_token=" + token + b"&action=send&burden_types=other&description=%FF%FE%C3%28"
    response = reporter.post("/tip", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in (303, 400)  # undecodable bytes become U+FFFD, never a crash
    broken = reporter.post("/tip", data=b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n",
                           content_type="multipart/form-data; boundary=x")
    assert broken.status_code in (400, 413)


def _previewed(client) -> dict:
    page = client.get("/tip").get_data(as_text=True)
    fields = dict(DEFAULT_TIP, csrf_token=csrf_token(page), submission_nonce=hidden_value(page, "submission_nonce"),
                  office="default")
    assert client.post("/tip", data={**fields, "action": "preview"}).status_code == 200
    return fields


def test_a_session_ended_in_another_tab_while_sending_stores_nothing_and_keeps_the_text(
        reporter_app, installed, monkeypatch):
    """The receipt rides in the session row, written in the tip's transaction: with the row gone
    (logout or receipt login in another tab), the tip must not commit without anyone holding its
    receipt. The page comes back with the text and a token that works at once."""
    from sqlalchemy import delete

    from app.reporting import views
    from app.sessions import ServerSession

    client = reporter_app.test_client()
    fields = _previewed(client)
    real_submit, calls = services.submit_tip, []

    def racing(db, *args, **kwargs):
        if not calls:
            with session_scope(installed.url) as other:
                other.execute(delete(ServerSession))
        calls.append(1)
        return real_submit(db, *args, **kwargs)

    monkeypatch.setattr(views.services, "submit_tip", racing)
    sent = client.post("/tip", data={**fields, "action": "send"})
    page = sent.get_data(as_text=True)
    assert sent.status_code == 503 and "每天早上八点前" in page
    assert tip_count(installed) == 0
    again = client.post("/tip", data={**fields, "csrf_token": csrf_token(page), "action": "send"})
    assert again.status_code == 303
    assert re.search(r'id="receipt"', client.get("/tip/receipt").get_data(as_text=True))
    assert tip_count(installed) == 1


def test_an_unexpected_error_while_sending_leaves_no_receipt(reporter_app, installed, monkeypatch):
    from app.reporting import views

    reporter_app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    client = reporter_app.test_client()
    fields = _previewed(client)

    def broken(_db):
        raise RuntimeError("not a database error")

    monkeypatch.setattr(views, "save_within", broken)
    assert client.post("/tip", data={**fields, "action": "send"}).status_code == 500
    assert tip_count(installed) == 0
    assert client.get("/tip/receipt").status_code == 302  # no receipt for a tip that does not exist


def test_wtforms_own_messages_follow_the_language_of_each_request(reporter_app):
    """WTForms' built-in messages come from one cached catalogue per language (app/i18n.py): a
    request in one language never gets the other's."""
    from app.formtools import choices
    from app.reporting.forms import TipForm

    expected = {"zh": "不是有效的选择", "en": "Not a valid choice"}
    for lang in ["zh", "en", "zh", "en"]:
        with reporter_app.test_request_context(f"/tip?lang={lang}", method="POST", data={"office": "nowhere"}):
            reporter_app.preprocess_request()
            form = TipForm(meta={"csrf": False})
            form.office.choices = choices([("default", "减负办")])
            form.validate()
            assert expected[lang] in " ".join(map(str, form.office.errors))


def test_per_database_caches_let_a_forgotten_engine_go(installed, tips):
    """The receipt salt and the parsed office keys are cached per engine, weakly: an engine that
    app.db forgets (and disposes) is freed with its pool, not kept alive by those caches."""
    import gc
    import weakref

    from app import db as app_db
    from app.install.services import receipt_salt

    def salt_and_engine():
        with session_scope(installed.url) as db:
            return receipt_salt(db), weakref.ref(db.get_bind().engine)

    tips.create()  # parses the office key through the engine app.db holds for this database
    salt, engine = salt_and_engine()
    assert engine() is app_db.engine_for(installed.url) and len(salt) == 16
    app_db.dispose_engine(installed.url)
    gc.collect()
    assert engine() is None
    assert salt_and_engine()[0] == salt  # a new engine reads the same salt afresh
