"""Following up with the receipt: status, conversation, messages, the session around them."""

import statistics
import time

import pytest
from sqlalchemy import delete, func, select

from app import clock
from app.db import session_scope
from app.reporting import services
from app.reporting.models import Message, Tip
from app.sessions import ServerSession
from tests.conftest import csrf_token


def test_receipt_opens_status_in_plain_chinese(reporting, reporter):
    receipt = reporting.submit()
    assert reporting.open(receipt).status_code == 303
    page = reporter.get("/followup/tip").get_data(as_text=True)
    assert 'id="status">新线索<' in page
    assert "线索已收到，正在等待核查员查看" in page
    assert "还没有消息" in page


@pytest.mark.parametrize("typed", [
    lambda r: " ".join(r[i:i + 4] for i in range(0, 20, 4)),
    lambda r: "-".join(r[i:i + 4] for i in range(0, 20, 4)),
    lambda r: r.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
])
def test_receipt_typed_with_spaces_dashes_or_full_width_digits(reporting, typed):
    receipt = reporting.submit()
    assert reporting.open(typed(receipt)).status_code == 303


@pytest.mark.parametrize("wrong", ["12345678901234567890", "123", "abcdefghijabcdefghij", "", "1" * 21])
def test_wrong_receipt_gets_one_clear_message(reporting, wrong):
    reporting.submit()
    response = reporting.open(wrong)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    if wrong:
        assert "回执码不正确，或该线索已按期删除" in page
    else:
        assert "请输入回执码" in page
    assert 'name="receipt"' in page


def test_wrong_receipt_costs_as_long_as_a_right_one(reporting, installed):
    receipt = reporting.submit()
    wrong = ("9" if receipt[0] != "9" else "8") + receipt[1:]

    def timed(value: str) -> float:
        with session_scope(installed.url) as db:
            start = time.perf_counter()
            services.open_with_receipt(db, value)
            return time.perf_counter() - start

    for value in (receipt, wrong):  # warm up
        timed(value)
    right_times, wrong_times = [], []
    for _ in range(7):
        right_times.append(timed(receipt))
        wrong_times.append(timed(wrong))
    ratio = statistics.median(wrong_times) / statistics.median(right_times)
    # Both are dominated by the same Argon2id (~35 ms); a missing decoy would make "wrong" measurably cheaper.
    assert statistics.median(wrong_times) > 0.01
    assert 0.8 < ratio < 1.25, ratio


def test_reporter_adds_a_message(reporting, reporter, installed):
    receipt = reporting.submit()
    reporting.open(receipt)
    page = reporter.get("/followup/tip").get_data(as_text=True)
    response = reporter.post("/followup/message", data={"csrf_token": csrf_token(page), "message": "补充：又加了三个群"})
    assert response.status_code == 303
    page = reporter.get("/followup/tip").get_data(as_text=True)
    assert "补充：又加了三个群" in page and "补充内容已发送" in page
    with session_scope(installed.url) as db:
        message = db.scalars(select(Message)).one()
        assert message.author == "reporter"
        assert "又加了三个群".encode() not in message.body


def test_inspector_reply_and_outcome_are_readable_with_the_receipt(reporting, reporter, installed):
    import crypto

    receipt = reporting.submit()
    with session_scope(installed.url) as db:
        opened = services.open_with_receipt(db, receipt)
        services.add_message(db, opened.tip_id, opened.data_key, "已收到，正在核实。", services.AUTHOR_INSPECTOR)
        tip = db.get(Tip, opened.tip_id)
        tip.status = "verifying"
        tip.outcome = crypto.encrypt_field(opened.data_key, "已约谈县委宣传部".encode(), tip_id=tip.id,
                                           purpose=services.OUTCOME)
    reporting.open(receipt)
    page = reporter.get("/followup/tip").get_data(as_text=True)
    assert "核查中" in page and "已收到，正在核实。" in page and "已约谈县委宣传部" in page


def test_empty_or_over_long_message_is_kept(reporting, reporter, installed):
    reporting.open(reporting.submit())
    page = reporter.get("/followup/tip").get_data(as_text=True)
    long_text = "长" * 20001
    response = reporter.post("/followup/message", data={"csrf_token": csrf_token(page), "message": long_text})
    assert response.status_code == 400
    assert long_text in response.get_data(as_text=True)
    with session_scope(installed.url) as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 0


def test_expired_token_on_message_keeps_it(reporting, reporter):
    reporting.open(reporting.submit())
    response = reporter.post("/followup/message", data={"csrf_token": "stale", "message": "别丢了我写的"})
    assert response.status_code == 400
    assert "别丢了我写的" in response.get_data(as_text=True)


def test_idle_session_expires_after_thirty_minutes_and_keeps_the_unsent_message(reporting, reporter, monkeypatch):
    reporting.open(reporting.submit())
    page = reporter.get("/followup/tip").get_data(as_text=True)
    token = csrf_token(page)
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + 29 * 60)
    assert reporter.get("/followup/tip").status_code == 200  # activity refreshes the idle deadline
    monkeypatch.setattr(clock, "now", lambda: start + 29 * 60 + 31 * 60)
    response = reporter.post("/followup/message", data={"csrf_token": token, "message": "超时前写好的话"})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "超时前写好的话" in page and "查看已超时" in page
    assert reporter.get("/followup/tip").status_code == 302


def test_logout_deletes_the_server_side_session(reporting, reporter, installed):
    import hashlib

    reporting.open(reporting.submit())
    page = reporter.get("/followup/tip").get_data(as_text=True)
    old_cookie = reporter.get_cookie("tl_r").value
    old_row = hashlib.sha256(old_cookie.split(".")[0].encode()).hexdigest()
    with session_scope(installed.url) as db:
        assert db.get(ServerSession, old_row) is not None
    response = reporter.post("/followup/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    assert reporter.get("/followup/tip").status_code == 302
    with session_scope(installed.url) as db:
        assert db.get(ServerSession, old_row) is None
    # replaying the old cookie opens nothing
    reporter.set_cookie("tl_r", old_cookie)
    assert reporter.get("/followup/tip").status_code == 302


def test_session_id_changes_when_a_receipt_is_opened(reporting, reporter):
    reporter.get("/followup")
    before = reporter.get_cookie("tl_r").value
    reporting.open(reporting.submit())
    after = reporter.get_cookie("tl_r").value
    assert before != after


def test_stolen_session_row_is_useless_without_the_cookie(reporting, reporter, installed):
    reporting.open(reporting.submit(description="会话里的密钥"))
    with session_scope(installed.url) as db:
        row = db.scalars(select(ServerSession)).one()
        assert b"tip_id" not in row.data and b"key" not in row.data


def test_a_tip_takes_a_bounded_number_of_reporter_messages_a_day(reporting, reporter, installed):
    from app.reporting.services import MESSAGES_PER_DAY

    reporting.open(reporting.submit())
    for i in range(MESSAGES_PER_DAY):
        page = reporter.get("/followup/tip").get_data(as_text=True)
        assert reporter.post("/followup/message", data={"csrf_token": csrf_token(page),
                                                        "message": f"第{i}条"}).status_code == 303
    page = reporter.get("/followup/tip").get_data(as_text=True)
    response = reporter.post("/followup/message", data={"csrf_token": csrf_token(page), "message": "再多一条"})
    assert response.status_code == 429 and "再多一条" in response.get_data(as_text=True)


def test_a_request_under_way_when_the_session_ends_does_not_bring_it_back(reporting, reporter, reporter_app,
                                                                          installed):
    import hashlib

    reporting.open(reporting.submit())
    cookie = reporter.get_cookie("tl_r").value
    row_id = hashlib.sha256(cookie.split(".")[0].encode()).hexdigest()
    interface = reporter_app.session_interface
    with reporter_app.test_request_context("/followup/tip", headers={"Cookie": f"tl_r={cookie}"}):
        from flask import request

        session = interface.open_session(reporter_app, request)
        assert session.get("followup")  # this request read the session ...
        with session_scope(installed.url) as db:  # ... then the reporter logged out in another tab
            db.execute(delete(ServerSession).where(ServerSession.id == row_id))
        session["seen"] = True
        interface.save_session(reporter_app, session, reporter_app.response_class())
    with session_scope(installed.url) as db:
        assert db.get(ServerSession, row_id) is None
    assert reporter.get("/followup/tip").status_code == 302


@pytest.mark.parametrize("plaintext", [b"not json", b"[1, 2]", b'{"platform": "x"}', b"\xff\xfe{}", "\ud800".encode("utf-8", "surrogatepass")])
def test_content_the_server_never_writes_is_not_found_not_a_crash(reporting, reporter, inspector, inspector_client,
                                                                   installed, plaintext):
    """Only a holder of the tip's data key can make such content (the server always writes a UTF-8
    JSON object); both pages that read it answer 404, never 500."""
    import crypto

    receipt = reporting.submit()
    with session_scope(installed.url) as db:
        opened = services.open_with_receipt(db, receipt)
        tip = db.get(Tip, opened.tip_id)
        tip.content = crypto.encrypt_field(opened.data_key, plaintext, tip_id=tip.id, purpose=services.CONTENT)
    assert reporting.open(receipt).status_code == 303
    assert reporter.get("/followup/tip").status_code == 404
    assert inspector.login().status_code == 303
    assert inspector_client.get(f"/tips/{opened.tip_id}").status_code == 404
