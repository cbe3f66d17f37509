"""CSRF on every state-changing route of the reporter site: a request without the session's token,
or with another session's token, changes nothing and gives back what the reporter typed."""

import pytest
from sqlalchemy import func, select

from app.db import session_scope
from app.reporting.models import Message, Tip
from tests.conftest import ReporterActions, csrf_token

COVERED = {"reporting.tip_submit", "reporting.receipt", "reporting.followup_login",
           "reporting.followup_message", "reporting.followup_logout"}


def _count(installed, model) -> int:
    with session_scope(installed.url) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def test_every_reporter_post_route_is_covered(reporter_app):
    posts = {rule.endpoint for rule in reporter_app.url_map.iter_rules() if "POST" in rule.methods}
    assert posts == COVERED  # a new POST route fails here until it is added below


@pytest.fixture
def stranger_token(reporter_app) -> str:
    """A valid token of somebody else's session."""
    other = reporter_app.test_client()
    return csrf_token(other.get("/tip").get_data(as_text=True))


@pytest.mark.parametrize("token", ["missing", "stranger", "garbage"])
def test_tip_send_without_the_sessions_token_stores_nothing_and_keeps_the_text(
        reporting, reporter, installed, stranger_token, token):
    fields = reporting.form_fields(description="没有令牌也要把这段话还给我")
    fields["csrf_token"] = {"missing": "", "stranger": stranger_token, "garbage": "x" * 90}[token]
    response = reporter.post("/tip", data={**fields, "action": "send"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "没有令牌也要把这段话还给我" in page and 'id="receipt"' not in page
    assert _count(installed, Tip) == 0
    assert reporter.get("/tip/receipt").status_code == 302


@pytest.mark.parametrize("token", ["missing", "stranger"])
def test_receipt_confirmation_needs_the_token(reporting, reporter, stranger_token, token):
    fields = reporting.form_fields()
    sent = reporter.post("/tip", data={**fields, "action": "send"})
    page = reporter.get(sent.headers["Location"]).get_data(as_text=True)
    import re

    receipt = re.search(r'id="receipt"[^>]*>([\d ]+)<', page).group(1).replace(" ", "")
    response = reporter.post("/tip/receipt", data={
        "csrf_token": "" if token == "missing" else stranger_token, "last_group": receipt[-4:]})
    assert response.status_code == 400
    # still on the receipt page: the receipt is shown again, nothing was confirmed
    assert reporter.get("/tip/receipt").status_code == 200


@pytest.mark.parametrize("token", ["missing", "stranger"])
def test_followup_login_needs_the_token(reporting, reporter_app, installed, stranger_token, token):
    receipt = reporting.submit()
    client = reporter_app.test_client()
    client.get("/followup")
    response = client.post("/followup", data={"csrf_token": "" if token == "missing" else stranger_token,
                                              "receipt": receipt})
    assert response.status_code == 400
    assert receipt in response.get_data(as_text=True)  # typed receipt given back
    assert client.get("/followup/tip").status_code == 302  # not opened


@pytest.mark.parametrize("token", ["missing", "stranger"])
def test_followup_message_needs_the_token(reporting, reporter, installed, stranger_token, token):
    reporting.open(reporting.submit())
    assert reporter.get("/followup/tip").status_code == 200
    bad = "" if token == "missing" else stranger_token
    response = reporter.post("/followup/message", data={"csrf_token": bad, "message": "请把这条消息还给我"})
    assert response.status_code == 400
    assert "请把这条消息还给我" in response.get_data(as_text=True)
    assert _count(installed, Message) == 0
    assert reporter.get("/followup/tip").status_code == 200


def test_logout_works_even_without_a_token(reporting, reporter):
    """The one exception, on purpose: leaving must always work (an expired page on a shared phone).
    A forged logout only closes the reporter's own view, and the cookie is SameSite=Strict, so
    another site cannot send it at all."""
    reporting.open(reporting.submit())
    cookie = reporter.get_cookie("tl_r")
    assert cookie.same_site == "Strict" and cookie.http_only
    assert reporter.post("/followup/logout", data={}).status_code == 303
    assert reporter.get("/followup/tip").status_code == 302


def test_the_same_requests_with_the_token_do_work(reporter_app, installed):
    """The refusals above are about the token, not about a broken request."""
    actions = ReporterActions(reporter_app.test_client())
    receipt = actions.submit()
    assert actions.open(receipt).status_code == 303
    page = actions.client.get("/followup/tip").get_data(as_text=True)
    sent = actions.client.post("/followup/message", data={"csrf_token": csrf_token(page), "message": "有令牌"})
    assert sent.status_code in (200, 303)
    assert _count(installed, Message) == 1
    page = actions.client.get("/followup/tip").get_data(as_text=True)
    assert actions.client.post("/followup/logout", data={"csrf_token": csrf_token(page)}).status_code == 303
    assert actions.client.get("/followup/tip").status_code == 302
