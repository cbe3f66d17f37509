"""The tip detail: every action, office isolation, and what the reporter sees with the receipt."""

import re

import pytest
from sqlalchemy import select

from app import clock
from app.audit.models import AuditEntry
from app.db import session_scope
from app.reporting.models import Tip
from app.triage.models import StatusChange, TipNote


def _tip_from_queue(client) -> str:
    return re.search(r'href="/tips/([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def test_reply_status_and_outcome_reach_the_reporter(inspector, inspector_client, reporting, reporter, installed):
    receipt = reporting.submit()
    inspector.login()
    tip_id = _tip_from_queue(inspector_client)
    page = f"/tips/{tip_id}"
    assert inspector.post(page, f"{page}/reply", {"body": "您好，已收到，我们正在核实。"}).status_code == 303
    response = inspector.post(page, f"{page}/status", {"status": "verifying", "reason": "内部：先问县里",
                                                       "outcome": "已约谈县委宣传部。"})
    assert response.status_code == 303
    assert reporting.open(receipt).status_code == 303
    html = reporter.get("/followup/tip").get_data(as_text=True)
    assert "您好，已收到，我们正在核实。" in html
    assert '<span class="status" id="status">核查中</span>' in html
    assert "已约谈县委宣传部。" in html
    assert "内部：先问县里" not in html  # the reason is internal
    with session_scope(installed.url) as db:
        tip = db.get(Tip, tip_id)
        assert tip.updated_on == clock.today() and tip.closed_on is None


def test_notes_are_encrypted_and_never_shown_to_the_reporter(inspector, inspector_client, reporting, reporter,
                                                             installed):
    receipt = reporting.submit()
    inspector.login()
    tip_id = _tip_from_queue(inspector_client)
    page = f"/tips/{tip_id}"
    assert inspector.post(page, f"{page}/notes", {"body": "内部备注：线人可能是村会计"}).status_code == 303
    assert "内部备注：线人可能是村会计" in inspector_client.get(page).get_data(as_text=True)
    reporting.open(receipt)
    assert "内部备注" not in reporter.get("/followup/tip").get_data(as_text=True)
    with session_scope(installed.url) as db:
        note = db.scalar(select(TipNote))
        assert "内部备注".encode() not in note.body


def test_closing_sets_closed_on_and_reopening_clears_it(inspector, tips, installed):
    tip_id = tips.create()
    inspector.login()
    page = f"/tips/{tip_id}"
    inspector.post(page, f"{page}/status", {"status": "rectified", "reason": "已整改", "outcome": ""})
    with session_scope(installed.url) as db:
        assert db.get(Tip, tip_id).closed_on == clock.today()
    inspector.post(page, f"{page}/status", {"status": "verifying", "reason": "重新核查", "outcome": ""})
    with session_scope(installed.url) as db:
        assert db.get(Tip, tip_id).closed_on is None
        assert len(list(db.scalars(select(StatusChange).where(StatusChange.tip_id == tip_id)))) == 2


def test_a_status_change_needs_a_reason_and_keeps_the_text(inspector, tips):
    tip_id = tips.create()
    inspector.login()
    page = f"/tips/{tip_id}"
    response = inspector.post(page, f"{page}/status", {"status": "dismissed", "reason": "",
                                                       "outcome": "这段说明不会丢"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "请填写变更理由" in html and "这段说明不会丢" in html


def test_history_shows_reasons_and_who(inspector, inspector_client, tips):
    tip_id = tips.create()
    inspector.login()
    page = f"/tips/{tip_id}"
    inspector.post(page, f"{page}/status", {"status": "referred", "reason": "转交市减负办", "outcome": ""})
    html = inspector_client.get(page).get_data(as_text=True)
    history = html.split('id="history"')[1]
    assert "转交市减负办" in history and "admin" in history and "已转办" in history


def test_assignment_and_tags(inspector, inspector_client, tips, installed):
    tip_id = tips.create()
    inspector.login()
    page = f"/tips/{tip_id}"
    assert inspector.post(page, f"{page}/assign", {"assignee": "1"}).status_code == 303
    assert inspector.post(page, f"{page}/tags", {"tags": "学习强国，重点, 重点"}).status_code == 303
    html = inspector_client.get(page).get_data(as_text=True)
    assert html.count('class="tag"') == 2
    with session_scope(installed.url) as db:
        tip = db.get(Tip, tip_id)
        assert tip.assignee_id == 1 and "重点".encode() not in tip.tags
    bad = inspector.post(page, f"{page}/assign", {"assignee": "999"})
    assert bad.status_code == 400


def test_an_assignee_must_be_able_to_read_the_tip(inspector, tips, other_office, installed):
    tip_id = tips.create()
    inspector.login()
    page = f"/tips/{tip_id}"
    with session_scope(installed.url) as db:
        from app.inspectors.models import Inspector

        bob_id = db.scalar(select(Inspector.id).where(Inspector.username == "bob"))
    response = inspector.post(page, f"{page}/assign", {"assignee": str(bob_id)})
    assert response.status_code == 400


def test_duplicate_links_both_tips(inspector, inspector_client, tips, installed):
    original = tips.create()
    copy = tips.create()
    inspector.login()
    page = f"/tips/{copy}"
    response = inspector.post(page, f"{page}/duplicate", {"original": original, "reason": "同一件事"})
    assert response.status_code == 303
    copy_html = inspector_client.get(page).get_data(as_text=True)
    assert f'href="/tips/{original}"' in copy_html and "重复" in copy_html
    assert f'href="/tips/{copy}"' in inspector_client.get(f"/tips/{original}").get_data(as_text=True)
    with session_scope(installed.url) as db:
        tip = db.get(Tip, copy)
        assert (tip.status, tip.duplicate_of_id, tip.closed_on) == ("duplicate", original, clock.today())
    # and the other way round is refused: no loops
    back = inspector.post(f"/tips/{original}", f"/tips/{original}/duplicate", {"original": copy, "reason": "x"})
    assert back.status_code == 400


@pytest.mark.parametrize("original", ["", "itself", "nonexistent-id", "other-office"])
def test_duplicate_refuses_bad_originals(inspector, tips, other_office, original):
    # bob holds only `east`; the tip of `default` is one he cannot see
    tip_id = tips.create(office="east")
    foreign = tips.create(office="default")
    target = {"": "", "itself": tip_id, "nonexistent-id": "nonexistent-id", "other-office": foreign}[original]
    inspector.login(other_office.username, other_office.password, other_office.totp_secret)
    page = f"/tips/{tip_id}"
    response = inspector.post(page, f"{page}/duplicate", {"original": target, "reason": "x"})
    assert response.status_code == 400


def test_opening_a_tip_is_audited_without_content(inspector, inspector_client, tips, installed):
    tip_id = tips.create(description="非常具体的内容")
    inspector.login()
    inspector_client.get(f"/tips/{tip_id}")
    page = f"/tips/{tip_id}"
    inspector.post(page, f"{page}/reply", {"body": "回复正文"})
    inspector.post(page, f"{page}/notes", {"body": "备注正文"})
    with session_scope(installed.url) as db:
        rows = list(db.scalars(select(AuditEntry).where(AuditEntry.target == tip_id)))
    actions = {r.action for r in rows}
    assert {"tip.open", "tip.reply", "tip.note"} <= actions
    assert not any("非常具体" in r.detail or "正文" in r.detail for r in rows)


def test_tip_content_is_escaped(inspector, inspector_client, tips):
    tip_id = tips.create(description="<script>alert(1)</script>", platform="<b>x</b>")
    inspector.login()
    html = inspector_client.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    queue = inspector_client.get("/").get_data(as_text=True)
    assert "<b>x</b>" not in queue


# ---------------------------------------------------------------------------------------------
# Office isolation: a tip of another office is exactly as absent as a tip that never existed.

ROUTES = [("get", ""), ("post", "/status"), ("post", "/notes"), ("post", "/reply"), ("post", "/assign"),
          ("post", "/tags"), ("post", "/duplicate")]


@pytest.mark.parametrize("method,suffix", ROUTES)
def test_other_offices_tips_are_404_like_unknown_ids(inspector, inspector_client, tips, other_office,
                                                     method, suffix):
    foreign = tips.create(office="default")
    inspector.login(other_office.username, other_office.password, other_office.totp_secret)
    from tests.conftest import csrf_token

    token = csrf_token(inspector_client.get("/").get_data(as_text=True))
    data = {"csrf_token": token, "body": "x", "status": "dismissed", "reason": "x", "outcome": "",
            "assignee": "", "tags": "x", "original": foreign}
    responses = []
    for tip_id in (foreign, "AAAAAAAAAAAAAAAAAAAAAA"):
        call = getattr(inspector_client, method)
        response = call(f"/tips/{tip_id}{suffix}", data=data) if method == "post" else call(f"/tips/{tip_id}")
        responses.append(response)
    assert [r.status_code for r in responses] == [404, 404]
    assert responses[0].get_data() == responses[1].get_data()
