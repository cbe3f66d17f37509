"""An inspector of one office guessing the ids of another office's tip, notes and attachment
(issue 7, item 3): every answer is the very answer an id that was never issued gets — same status,
same body, same headers — nothing of the other tip shows, and nothing of it changes.

Already covered elsewhere, and not repeated here: the detail and each POST of a bare foreign tip give
the same body as an unknown id (tests/triage/test_detail.py), a duplicate of a foreign original is
refused (same file), the download of a foreign file is a 404 without its content
(tests/evidence/test_quota_followup_download.py), the dashboard and exports count no foreign tip and
refuse a foreign office filter (tests/analytics/test_dashboard.py), related tips stay in the session's
offices (tests/analytics/test_related.py). Added here: a foreign tip that has notes, replies, tags,
an assignee, a status history and an attachment; headers compared too; both directions; bulk actions
with foreign ids mixed in; duplicate links in both directions; guessed attachment ids; foreign office
codes in every filter compared with unknown ones; the related list unchanged by a foreign look-alike;
and the database checked afterwards.
"""

import re
import secrets
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

import crypto
from app.admin import services as admin_services
from app.audit.models import AuditEntry
from app.db import session_scope
from app.evidence import services as evidence
from app.evidence.models import Attachment
from app.inspectors.login import open_office_keys
from app.reporting import services as reporting_services
from app.reporting.models import Message, Tip
from app.triage.models import StatusChange, TipNote
from tests.conftest import InspectorActions, add_office_with_inspector, csrf_token
from tests.evidence.conftest import Uploader

BOB_PASSWORD = "bob's long enough password"
CAROL_PASSWORD = "carol's long enough password"

# Marks that exist only in one office's tip: any of them in the other office's answers is a leak.
SECRETS = {
    "default": {"platform": "鸭嘴兽学习APP", "description": "鸭嘴兽县每天打卡三次", "note": "内部备注鸭嘴兽",
                "reply": "回复鸭嘴兽", "tag": "鸭嘴兽标签", "file": "鸭嘴兽证据.txt", "data": b"platypus-file"},
    "east": {"platform": "东区袋鼠APP", "description": "袋鼠镇每周拍照留痕", "note": "内部备注袋鼠",
             "reply": "回复袋鼠", "tag": "袋鼠标签", "file": "袋鼠证据.txt", "data": b"kangaroo-file"},
}


@dataclass
class Side:
    office: str
    tip_id: str
    attachment_id: str
    client: object
    actions: InspectorActions
    inspector_id: int


@pytest.fixture
def two_offices(installed, reporting, reporter, inspector_app, inspector):
    """Offices `default` and `east`, each with a tip that has everything: notes, a reply, tags, an
    assignee, a status change and an attachment. carol holds only default's key, bob only east's."""
    with session_scope(installed.url) as db:
        admin, added, bob = add_office_with_inspector(db, installed.admin, "bob", BOB_PASSWORD)
        admin_keys = open_office_keys(db, admin, crypto.unwrap_private_key(admin.wrapped_private_key,
                                                                           installed.admin_password))
        carol = admin_services.add_inspector(db, admin, admin_keys, "carol", CAROL_PASSWORD, ["default"])
        people = {"default": (carol.inspector.id, "carol", CAROL_PASSWORD, carol.totp_secret),
                  "east": (bob.inspector.id, "bob", BOB_PASSWORD, bob.totp_secret)}
    uploader = Uploader(reporting, reporter, installed)
    tip_ids, attachment_ids = {}, {}
    for office, marks in SECRETS.items():
        receipt = uploader.submit([(marks["file"], marks["data"])], office=office, platform=marks["platform"],
                                  description=marks["description"])
        with session_scope(installed.url) as db:
            opened = reporting_services.open_with_receipt(db, receipt)
            [attachment] = evidence.list_attachments(db, opened.tip_id, opened.data_key)
            tip_ids[office], attachment_ids[office] = opened.tip_id, attachment.id
    # the admin (who holds both keys) gives each tip its notes, reply, tags, assignee and history
    assert inspector.login().status_code == 303
    for office, marks in SECRETS.items():
        page = f"/tips/{tip_ids[office]}"
        assert inspector.post(page, f"{page}/notes", {"body": marks["note"]}).status_code == 303
        assert inspector.post(page, f"{page}/reply", {"body": marks["reply"]}).status_code == 303
        assert inspector.post(page, f"{page}/tags", {"tags": marks["tag"]}).status_code == 303
        assert inspector.post(page, f"{page}/assign", {"assignee": str(people[office][0])}).status_code == 303
        assert inspector.post(page, f"{page}/status", {"status": "verifying", "reason": "核实" + marks["tag"],
                                                       "outcome": ""}).status_code == 303
    inspector.logout()
    sides = {}
    for office in SECRETS:
        client = inspector_app.test_client()
        actions = InspectorActions(client, installed)
        inspector_id, username, password, secret = people[office]
        assert actions.login(username, password, secret).status_code == 303
        sides[office] = Side(office, tip_ids[office], attachment_ids[office], client, actions, inspector_id)
    return sides


def _unknown_like(real: str) -> str:
    """An id that was never issued, of the same length (so that nothing differs but existence)."""
    while True:
        candidate = secrets.token_urlsafe(len(real))[: len(real)]
        if candidate != real:
            return candidate


IGNORED_HEADERS = {"Date", "Set-Cookie"}
_TOKEN = re.compile(rb'(name="csrf_token"(?: type="hidden")? value=")[^"]+(")')


def _without_tokens(body: bytes) -> bytes:
    """CSRF tokens carry the second they were signed: two answers a second apart differ there only."""
    return _TOKEN.sub(rb"\1TOKEN\2", body)


def assert_same_answer(foreign, unknown, where, *, replace: tuple[str, str] | None = None) -> None:
    """Same status, same headers (but the date and a refreshed session cookie), same body — after the
    typed id is replaced by the unknown one where the form shows back what was typed."""
    assert foreign.status_code == unknown.status_code, (where, foreign.status_code, unknown.status_code)
    body_foreign, body_unknown = _without_tokens(foreign.get_data()), _without_tokens(unknown.get_data())
    if replace is not None:
        body_foreign = body_foreign.replace(replace[0].encode(), replace[1].encode())
    assert body_foreign == body_unknown, where

    def headers(response, body):
        return sorted((k, v if k != "Content-Length" else str(len(body))) for k, v in response.headers.items()
                      if k not in IGNORED_HEADERS)

    assert headers(foreign, body_foreign) == headers(unknown, body_unknown), where
    assert len(foreign.get_data()) == len(unknown.get_data()), where  # the ids have the same length


def assert_nothing_of(office: str, response, where) -> None:
    body = response.get_data()
    for what, mark in SECRETS[office].items():
        needle = mark if isinstance(mark, bytes) else mark.encode()
        assert needle not in body, (where, what)
    for value in response.headers.values():
        for mark in SECRETS[office].values():
            if isinstance(mark, str):
                assert mark not in value, (where, value)


def snapshot(installed, tip_id: str) -> dict:
    """Everything stored about a tip that a change would touch."""
    with session_scope(installed.url) as db:
        tip = db.get(Tip, tip_id)
        row = {column: getattr(tip, column) for column in Tip.__table__.columns.keys()}
        for model in (TipNote, StatusChange):
            row[model.__name__] = sorted(r.id for r in db.scalars(select(model).where(model.tip_id == tip_id)))
        row["messages"] = sorted(m.id for m in db.scalars(select(Message).where(Message.tip_id == tip_id)))
        row["attachments"] = sorted(a.id for a in db.scalars(select(Attachment).where(Attachment.tip_id == tip_id)))
        row["audit"] = db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.target == tip_id))
        row["duplicates"] = sorted(t.id for t in db.scalars(select(Tip).where(Tip.duplicate_of_id == tip_id)))
        return row


POST_DATA = {"body": "猜编号的人写的", "status": "dismissed", "reason": "猜测", "outcome": "猜测的结果",
             "assignee": "", "tags": "猜测标签", "original": ""}
TIP_ROUTES = [("get", ""), ("post", "/status"), ("post", "/notes"), ("post", "/reply"), ("post", "/assign"),
              ("post", "/tags"), ("post", "/duplicate")]


@pytest.mark.parametrize("mine,theirs", [("east", "default"), ("default", "east")])
def test_every_tip_route_answers_a_foreign_tip_like_an_unknown_one(two_offices, installed, mine, theirs):
    me, other = two_offices[mine], two_offices[theirs]
    before = snapshot(installed, other.tip_id)
    unknown = _unknown_like(other.tip_id)
    token = csrf_token(me.client.get("/").get_data(as_text=True))
    for method, suffix in TIP_ROUTES:
        data = {**POST_DATA, "csrf_token": token, "original": me.tip_id, "assignee": str(me.inspector_id)}
        answers = []
        for tip_id in (other.tip_id, unknown):
            if method == "get":
                answers.append(me.client.get(f"/tips/{tip_id}"))
            else:
                answers.append(me.client.post(f"/tips/{tip_id}{suffix}", data=data))
        assert answers[0].status_code == 404, (suffix, answers[0].status_code)
        assert_same_answer(*answers, (mine, suffix))
        assert_nothing_of(theirs, answers[0], (mine, suffix))
    assert snapshot(installed, other.tip_id) == before
    # and the own tip, named as the original above, was not touched either
    assert snapshot(installed, me.tip_id)["duplicates"] == []


@pytest.mark.parametrize("mine,theirs", [("east", "default"), ("default", "east")])
def test_a_guessed_attachment_id_is_an_unknown_one(two_offices, installed, mine, theirs):
    me, other = two_offices[mine], two_offices[theirs]
    before = snapshot(installed, other.tip_id)
    own = me.client.get(f"/attachments/{me.attachment_id}")
    assert own.status_code == 200 and own.get_data() == SECRETS[mine]["data"]  # the route works
    unknown = _unknown_like(other.attachment_id)
    foreign_answer = me.client.get(f"/attachments/{other.attachment_id}")
    unknown_answer = me.client.get(f"/attachments/{unknown}")
    assert foreign_answer.status_code == 404
    assert_same_answer(foreign_answer, unknown_answer, "download")
    assert_nothing_of(theirs, foreign_answer, "download")
    assert snapshot(installed, other.tip_id) == before  # not even an audit entry of a download


def test_duplicate_links_across_offices_are_refused_like_unknown_ids(two_offices, installed):
    bob, carol = two_offices["east"], two_offices["default"]
    for me, other in ((bob, carol), (carol, bob)):
        page = f"/tips/{me.tip_id}"
        before_other, before_mine = snapshot(installed, other.tip_id), snapshot(installed, me.tip_id)
        unknown = _unknown_like(other.tip_id)
        token = csrf_token(me.client.get("/").get_data(as_text=True))
        answers = [me.client.post(f"{page}/duplicate", data={"csrf_token": token, "original": original,
                                                             "reason": "同一件事"})
                   for original in (other.tip_id, unknown)]
        assert answers[0].status_code == 400
        # the form shows back the id that was typed: the only difference allowed
        assert_same_answer(*answers, ("duplicate of", me.office), replace=(other.tip_id, unknown))
        assert_nothing_of(other.office, answers[0], "duplicate")
        assert "找不到这个线索编号" in answers[0].get_data(as_text=True)
        assert snapshot(installed, other.tip_id) == before_other
        after_mine = snapshot(installed, me.tip_id)
        assert after_mine.pop("audit") == before_mine.pop("audit") + 2  # the form shown again, twice
        assert after_mine == before_mine


def test_bulk_actions_skip_foreign_ids_silently(two_offices, installed, tips):
    bob, carol = two_offices["east"], two_offices["default"]
    second = tips.create(office="east")
    before = snapshot(installed, carol.tip_id)
    token = csrf_token(bob.client.get("/").get_data(as_text=True))
    # only a foreign id, and only an unknown one: the same refusal
    answers = [bob.client.post("/bulk", data={"csrf_token": token, "action": "status", "status": "dismissed",
                                              "reason": "批量", "tip_ids": tip_id})
               for tip_id in (carol.tip_id, _unknown_like(carol.tip_id))]
    assert answers[0].status_code == 400
    assert_same_answer(*answers, "bulk with one id")
    assert_nothing_of("default", answers[0], "bulk")
    # mixed in with the own tips: the own ones change, the foreign one does not, and the count says 2
    for action, extra in (("status", {"status": "referred", "reason": "批量转办"}),
                          ("assign", {"assignee": str(bob.inspector_id)})):
        mixed = bob.client.post("/bulk", data={"csrf_token": token, "action": action, **extra,
                                               "tip_ids": [carol.tip_id, bob.tip_id, second]})
        assert mixed.status_code == 303, (action, mixed.status_code)
        queue = bob.client.get(mixed.headers["Location"]).get_data(as_text=True)
        assert_nothing_of("default", mixed, action)
        assert carol.tip_id not in queue
        if action == "status":
            assert "已更新 2 条线索" in queue
    with session_scope(installed.url) as db:
        assert db.get(Tip, bob.tip_id).status == "referred" and db.get(Tip, second).status == "referred"
        assert db.get(Tip, second).assignee_id == bob.inspector_id
    assert snapshot(installed, carol.tip_id) == before


@pytest.mark.parametrize("path", [
    "/?office={code}", "/?office={code}&status=verifying", "/analytics/?office={code}",
    "/analytics/?office={code}&date_from=2020-01-01&date_to=2030-12-31",
    *[f"/analytics/export/{name}.csv?office={{code}}" for name in ("summary", "platforms", "bodies", "regions",
                                                                  "burden", "statuses", "months")],
    "/analytics/export/platforms.csv?office={code}&date_from=2020-01-01",
])
def test_a_foreign_office_code_in_a_filter_is_an_unknown_one(two_offices, path):
    bob = two_offices["east"]
    answers = [bob.client.get(path.format(code=code)) for code in ("default", "zzzzzzz")]
    assert answers[0].status_code in (200, 400)
    assert_same_answer(*answers, path, replace=("default", "zzzzzzz"))
    assert_nothing_of("default", answers[0], path)


def test_exports_and_queue_of_one_office_hold_nothing_of_the_other(two_offices):
    bob = two_offices["east"]
    for path in ("/", "/?status=verifying", "/analytics/", *(f"/analytics/export/{name}.csv" for name in (
            "summary", "burden", "platforms", "platform_hours", "levels", "bodies", "body_hours", "regions",
            "statuses", "months"))):
        response = bob.client.get(path)
        assert response.status_code == 200, path
        assert_nothing_of("default", response, path)
    queue = bob.client.get("/").get_data(as_text=True)
    assert two_offices["east"].tip_id in queue and two_offices["default"].tip_id not in queue


def test_the_related_list_is_the_same_with_or_without_a_foreign_look_alike(two_offices, tips, installed):
    """A tip of the other office with the same platform, body and burden types changes nothing on the
    page: not the list, not a count."""
    bob = two_offices["east"]
    mine = tips.create(office="east", platform="网格通", imposer_level="county", imposer_name="县委",
                       burden_types=["checkin_ranking"])
    before = _without_tokens(bob.client.get(f"/tips/{mine}").get_data())
    look_alike = tips.create(office="default", platform="网格通", imposer_level="county", imposer_name="县委",
                             burden_types=["checkin_ranking"])
    after = _without_tokens(bob.client.get(f"/tips/{mine}").get_data())
    assert look_alike.encode() not in after
    assert after == before
    # the same look-alike in bob's own office does show: the comparison above could have failed
    own_look_alike = tips.create(office="east", platform="网格通", imposer_level="county", imposer_name="县委",
                                 burden_types=["checkin_ranking"])
    assert own_look_alike in bob.client.get(f"/tips/{mine}").get_data(as_text=True)


def test_a_non_admin_cannot_reach_another_office_through_the_admin_pages(two_offices):
    bob = two_offices["east"]
    for path in ("/admin/offices/default", "/admin/offices/zzzzzzz", "/admin/", "/admin/audit",
                 f"/admin/inspectors/{two_offices['default'].inspector_id}"):
        response = bob.client.get(path)
        assert response.status_code == 403, path
        assert_nothing_of("default", response, path)
