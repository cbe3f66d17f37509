"""The queue: visibility, filters in the URL, counts per status, sorting, pagination, bulk actions."""

import re
from datetime import date

from sqlalchemy import select

from app.db import session_scope
from app.reporting.models import Tip
from app.triage import services
from app.triage.models import StatusChange


def _ids(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'href="/tips/([^"?]+)"', html)))


def test_counts_and_status_filter(inspector, inspector_client, tips):
    for status, n in (("new", 3), ("verifying", 2), ("rectified", 1)):
        for _ in range(n):
            tips.create(status=status)
    inspector.login()
    html = inspector_client.get("/").get_data(as_text=True)
    assert 'id="count-new">3<' in html and 'id="count-verifying">2<' in html and 'id="count-rectified">1<' in html
    assert len(_ids(html)) == 6
    filtered = inspector_client.get("/?status=verifying").get_data(as_text=True)
    assert len(_ids(filtered)) == 2
    # the counts stay those of the other filters, so the person sees where the rest are
    assert 'id="count-new">3<' in filtered


def test_burden_region_date_and_assignee_filters(inspector, inspector_client, tips, installed):
    a = tips.create(burden_types=["app_install"], region="河南省周口市", received_on=date(2026, 1, 5))
    b = tips.create(burden_types=["study_hours", "app_install"], region="四川省凉山州", received_on=date(2026, 2, 5))
    c = tips.create(burden_types=["work_groups"], region="河南省", received_on=date(2026, 3, 5))
    inspector.login()
    assert set(_ids(inspector_client.get("/?burden=app_install").get_data(as_text=True))) == {a, b}
    assert set(_ids(inspector_client.get("/?region=河南").get_data(as_text=True))) == {a, c}
    assert set(_ids(inspector_client.get("/?burden=app_install&region=河南").get_data(as_text=True))) == {a}
    assert set(_ids(inspector_client.get("/?date_from=2026-02-01").get_data(as_text=True))) == {b, c}
    assert set(_ids(inspector_client.get("/?date_from=2026-02-01&date_to=2026-02-28").get_data(as_text=True))) == {b}
    with session_scope(installed.url) as db:
        db.get(Tip, b).assignee_id = 1
    assert set(_ids(inspector_client.get("/?assignee=1").get_data(as_text=True))) == {b}
    assert set(_ids(inspector_client.get("/?assignee=none").get_data(as_text=True))) == {a, c}


def test_sorting(inspector, inspector_client, tips):
    old = tips.create(received_on=date(2025, 1, 1), status="rectified")
    mid = tips.create(received_on=date(2025, 6, 1), status="new")
    new = tips.create(received_on=date(2026, 1, 1), status="verifying")
    inspector.login()
    assert _ids(inspector_client.get("/").get_data(as_text=True)) == [new, mid, old]
    assert _ids(inspector_client.get("/?sort=date_asc").get_data(as_text=True)) == [old, mid, new]
    assert _ids(inspector_client.get("/?sort=status").get_data(as_text=True)) == [mid, new, old]


def test_pagination_keeps_the_filters(installed, tips):
    for day in range(1, 8):
        tips.create(received_on=date(2026, 1, day), status="new")
    tips.create(status="dismissed")
    keys = _admin_keys(installed)
    with session_scope(installed.url) as db:
        first = services.queue(db, keys, services.QueueFilters(status="new"), per_page=3)
        last = services.queue(db, keys, services.QueueFilters(status="new", page=3), per_page=3)
        beyond = services.queue(db, keys, services.QueueFilters(status="new", page=99), per_page=3)
    assert (first.total, first.pages, len(first.rows)) == (7, 3, 3)
    assert [r.tip.received_on.day for r in first.rows] == [7, 6, 5]
    assert [r.tip.received_on.day for r in last.rows] == [1]
    assert beyond.page == 3


def test_pager_links_carry_the_filters(inspector, inspector_client, tips, monkeypatch):
    real_queue = services.queue
    monkeypatch.setattr(services, "queue", lambda db, keys, filters, **kw: real_queue(db, keys, filters, per_page=2, **kw))
    made = [tips.create(received_on=date(2026, 1, day), region="湖南省") for day in range(1, 6)]
    inspector.login()
    html = inspector_client.get("/?region=湖南&sort=date_asc").get_data(as_text=True)
    assert _ids(html) == made[:2]
    nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert "region=" in nxt and "sort=date_asc" in nxt and "page=2" in nxt
    assert _ids(inspector_client.get(nxt).get_data(as_text=True)) == made[2:4]


def _admin_keys(installed):
    import crypto
    from app.inspectors.login import open_office_keys
    from app.inspectors.models import Inspector

    with session_scope(installed.url) as db:
        admin = db.scalar(select(Inspector).where(Inspector.username == installed.admin))
        private = crypto.unwrap_private_key(admin.wrapped_private_key, installed.admin_password)
        return {k: crypto.PrivateKey(v) for k, v in open_office_keys(db, admin, private).items()}


def test_queue_view_is_audited_with_the_ids_shown(inspector, inspector_client, tips, installed):
    tip_id = tips.create()
    inspector.login()
    inspector_client.get("/")
    from app.audit.models import AuditEntry

    with session_scope(installed.url) as db:
        row = db.scalar(select(AuditEntry).where(AuditEntry.action == "queue.view"))
    assert tip_id in row.detail and "工作群" not in row.detail


def test_bulk_status_change_and_assignment(inspector, inspector_client, tips, installed):
    chosen = [tips.create(), tips.create()]
    untouched = tips.create()
    inspector.login()
    response = inspector.post("/?sort=date_asc", "/bulk", {"tip_ids": chosen, "action": "status", "status": "referred",
                                             "reason": "已转县纪委"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/?sort=date_asc"  # back to the queue as it was
    response = inspector.post("/", "/bulk", {"tip_ids": chosen, "action": "assign", "assignee": "1"})
    assert response.status_code == 303
    with session_scope(installed.url) as db:
        rows = {t.id: t for t in db.scalars(select(Tip))}
        changes = list(db.scalars(select(StatusChange)))
    assert {rows[t].status for t in chosen} == {"referred"} and rows[untouched].status == "new"
    assert {rows[t].assignee_id for t in chosen} == {1} and rows[untouched].assignee_id is None
    assert len(changes) == 2 and all(b"\xe5\xb7\xb2\xe8\xbd\xac" not in c.reason for c in changes)  # encrypted


def test_bulk_status_needs_a_reason_and_keeps_the_choice(inspector, inspector_client, tips):
    chosen = [tips.create(), tips.create()]
    inspector.login()
    response = inspector.post("/", "/bulk", {"tip_ids": chosen, "action": "status", "status": "dismissed",
                                             "reason": ""})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "请填写变更理由" in html
    assert all(f'value="{t}" checked' in html for t in chosen)


def test_bulk_ignores_tips_of_other_offices(inspector, inspector_client, tips, other_office, installed):
    mine = tips.create()
    theirs = tips.create(office="east")
    inspector.forget_totp_use(other_office.username)
    inspector.login(other_office.username, other_office.password, other_office.totp_secret)
    response = inspector.post("/", "/bulk", {"tip_ids": [mine, theirs], "action": "status", "status": "dismissed",
                                             "reason": "批量"})
    assert response.status_code == 303
    with session_scope(installed.url) as db:
        assert db.get(Tip, mine).status == "new"
        assert db.get(Tip, theirs).status == "dismissed"


def test_an_inspector_sees_only_their_offices(inspector, inspector_client, tips, other_office):
    mine = tips.create()
    theirs = tips.create(office="east")
    inspector.login(other_office.username, other_office.password, other_office.totp_secret)
    assert _ids(inspector_client.get("/").get_data(as_text=True)) == [theirs]
    assert mine
