"""Publishing a month and the public transparency page: suppression on the page AND in the stored
snapshot, closed months only, replacement, and nothing per tip on the reporter site."""

import json
import re
from datetime import date

import pytest
from sqlalchemy import select

from app import clock
from app.analytics import publishing
from app.analytics.models import PublishedMonth
from app.analytics.publishing import SUPPRESSED, MonthFigures, suppress_row, suppressed_cells
from app.audit.models import AuditEntry
from app.db import session_scope
from app.offices.services import create_office
from app.reporting.models import Tip
from app.security import HEADERS
from tests.analytics.helpers import add_message, set_tip

MARCH = date(2024, 3, 1)


def publish(inspector, month: str, scope: str = "all"):
    return inspector.post("/analytics/", "/analytics/publish",
                          {"month": month, "scope": scope})


def stored(installed) -> list[PublishedMonth]:
    with session_scope(installed.url) as db:
        return list(db.scalars(select(PublishedMonth).order_by(PublishedMonth.month, PublishedMonth.scope)))


def numbers_in(value) -> list[int]:
    """Every int anywhere in a JSON value."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    return []


def page_counts(html: str) -> list[str]:
    return re.findall(r'class="(?:num )?count[^"]*">([^<]*)<', html)


def make_month(tips, first: date, statuses: dict[str, int], burden=("checkin_ranking",), **fields) -> list[str]:
    ids = []
    for status, count in statuses.items():
        for i in range(count):
            ids.append(tips.create(received_on=first.replace(day=1 + i % 28), status=status,
                                   burden_types=list(burden), **fields))
    return ids


# ---------------------------------------------------------------------------------------------
# Suppression rules (pure)


def test_cells_under_five_are_suppressed_zero_included():
    cells = suppress_row({"a": 0, "b": 4, "c": 5, "d": 30}, total_shown=False)
    assert cells == {"a": SUPPRESSED, "b": SUPPRESSED, "c": 5, "d": 30}


def test_a_lone_suppressed_cell_takes_the_smallest_other_with_it():
    # total 39 shown: 39 - 30 - 5 would give the hidden 4 back
    cells = suppress_row({"a": 30, "b": 4, "c": 5}, total_shown=True)
    assert cells == {"a": 30, "b": SUPPRESSED, "c": SUPPRESSED}


def test_hidden_cells_must_add_up_to_five():
    # two hidden zeros: "total minus the rest = 0" would read them off
    cells = suppress_row({"new": 20, "verifying": 7, "referred": 0, "rectified": 0}, total_shown=True)
    assert cells == {"new": 20, "verifying": SUPPRESSED, "referred": SUPPRESSED, "rectified": SUPPRESSED}
    # two hidden cells adding up to 5 or more are enough
    cells = suppress_row({"new": 20, "verifying": 3, "referred": 2}, total_shown=True)
    assert cells == {"new": 20, "verifying": SUPPRESSED, "referred": SUPPRESSED}


def test_nothing_more_is_hidden_without_a_shown_total():
    assert suppress_row({"a": 30, "b": 4}, total_shown=False) == {"a": 30, "b": SUPPRESSED}


def test_everything_is_suppressed_in_a_small_month():
    figures = MonthFigures(received=3, burden={"other": 3}, statuses={"new": 3, "rectified": 0}, replied=3,
                           first_reply_median=2.0)
    cells = suppressed_cells(figures)
    assert cells["received"] == SUPPRESSED and cells["rectified"] == SUPPRESSED
    assert set(cells["statuses"].values()) == {SUPPRESSED} and set(cells["burden"].values()) == {SUPPRESSED}
    assert cells["first_reply_median_days"] is None  # fewer than 5 answered
    assert numbers_in(cells) == [1]  # only the format version


def test_the_rectified_headline_is_the_status_cell():
    figures = MonthFigures(received=40, burden={"other": 40}, statuses={"new": 30, "rectified": 6, "dismissed": 4},
                           replied=10, first_reply_median=2.5)
    cells = suppressed_cells(figures)
    # dismissed (4) alone would be derivable: the smallest other (rectified 6) goes with it
    assert cells["statuses"] == {"new": 30, "rectified": SUPPRESSED, "dismissed": SUPPRESSED}
    assert cells["rectified"] == SUPPRESSED
    assert cells["first_reply_median_days"] == 2.5


def test_closed_months():
    assert publishing.is_closed(date(2024, 3, 1), date(2024, 4, 1))
    assert not publishing.is_closed(date(2024, 3, 1), date(2024, 3, 31))
    assert publishing.is_closed(date(2024, 12, 1), date(2025, 1, 1))
    assert publishing.closed_months(date(2025, 1, 15), 3) == ["2024-12", "2024-11", "2024-10"]
    assert publishing.parse_month("2024-03") == date(2024, 3, 1)
    for bad in ("2024-13", "2024-3", "24-03", "", None, "2024/03", "２０２４-03", "abcd-ef"):
        assert publishing.parse_month(bad) is None


# ---------------------------------------------------------------------------------------------
# Publishing through the dashboard


def test_publish_stores_only_suppressed_cells_and_the_page_shows_them(inspector, tips, installed, reporter):
    # March 2024: 15 tips — new 9, verifying 2, rectified 4; burden: 12× checkin_ranking + study_hours,
    # 3× work_groups
    ids = make_month(tips, MARCH, {"new": 6, "verifying": 2, "rectified": 4}, burden=("checkin_ranking", "study_hours"))
    make_month(tips, MARCH, {"new": 3}, burden=("work_groups",))
    for tip_id in ids[:5]:
        add_message(installed, tip_id, "inspector", date(2024, 3, 20))
    inspector.login()
    preview = inspector.client.get("/analytics/publish?month=2024-03&scope=all").get_data(as_text=True)
    assert 'id="publish-preview"' in preview and "&lt;5" in preview
    response = publish(inspector, "2024-03")
    assert response.status_code == 303
    (row,) = stored(installed)
    cells = json.loads(row.cells)
    assert row.month == "2024-03" and row.scope == "all" and row.office_id is None
    assert row.published_on == clock.today()
    assert all(n >= 5 for n in numbers_in(cells) if n != cells["version"])
    assert cells["received"] == 15
    assert cells["statuses"]["new"] == 9 and cells["statuses"]["verifying"] == SUPPRESSED
    assert cells["statuses"]["rectified"] == SUPPRESSED == cells["rectified"]
    # work_groups (3) and the zeros add up to 3 < 5: the smallest shown cell (checkin_ranking, 12, tied
    # with study_hours and first in the taxonomy) is hidden with them
    assert cells["burden"]["study_hours"] == 12
    assert cells["burden"]["checkin_ranking"] == SUPPRESSED and cells["burden"]["work_groups"] == SUPPRESSED
    assert cells["first_reply_median_days"] is not None

    html = reporter.get("/transparency").get_data(as_text=True)
    assert "2024年3月" in html
    counts = page_counts(html)
    assert counts and all(c == "&lt;5" or int(c) >= 5 for c in counts), counts
    assert "&lt;5" in counts and "15" in counts


def test_small_stored_numbers_are_never_shown_even_if_the_table_was_edited(installed, reporter):
    with session_scope(installed.url) as db:
        db.add(PublishedMonth(month="2024-01", scope="all", office_id=None, published_on=date(2024, 2, 2),
                              cells=json.dumps({"received": 3, "burden": {"other": 2}, "statuses": {"new": 1},
                                                "rectified": 0, "first_reply_median_days": -1})))
    html = reporter.get("/transparency").get_data(as_text=True)
    assert set(page_counts(html)) == {"&lt;5"}


def test_open_months_are_neither_published_nor_shown(inspector, tips, installed, reporter):
    tips.create()  # today
    inspector.login()
    this_month = clock.today().strftime("%Y-%m")
    response = inspector.client.get(f"/analytics/publish?month={this_month}&scope=all")
    assert response.status_code == 400 and "只能发布已经结束的月份" in response.get_data(as_text=True)
    assert publish(inspector, this_month).status_code == 400
    assert stored(installed) == []
    with session_scope(installed.url) as db:  # a row for an open month (an edited table) stays hidden
        db.add(PublishedMonth(month=this_month, scope="all", office_id=None, published_on=clock.today(),
                              cells=json.dumps({"received": 50})))
    assert 'id="nothing-published"' in reporter.get("/transparency").get_data(as_text=True)


@pytest.mark.parametrize("month", ["2024-13", "garbage", "", "2024-03-01", "%00"])
def test_bad_months_get_a_message(inspector, month):
    inspector.login()
    response = inspector.client.get(f"/analytics/publish?month={month}&scope=all")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "月份格式不正确" in html and 'id="publish-choose"' in html


def test_unknown_scope_gets_a_message(inspector, installed):
    inspector.login()
    response = inspector.client.get("/analytics/publish?month=2024-03&scope=999")
    assert response.status_code == 400 and "没有这个受理单位" in response.get_data(as_text=True)
    response = publish(inspector, "2024-03", "999")
    assert response.status_code == 400 and stored(installed) == []


def test_publishing_needs_the_csrf_token(inspector, installed):
    inspector.login()
    response = inspector.client.post("/analytics/publish", data={"month": "2024-03", "scope": "all"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "页面已失效" in html and 'id="publish-form"' in html
    assert stored(installed) == []


def test_publishing_a_month_twice_replaces_it_and_is_audited(inspector, tips, installed):
    make_month(tips, MARCH, {"new": 6})
    inspector.login()
    publish(inspector, "2024-03")
    make_month(tips, MARCH, {"rectified": 7})
    publish(inspector, "2024-03")
    (row,) = stored(installed)
    cells = json.loads(row.cells)
    assert cells["received"] == 13 and cells["rectified"] == 7
    with session_scope(installed.url) as db:
        entries = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "analytics.publish")))
    assert [json.loads(e.detail)["replaced"] for e in entries] == [False, True]
    assert all(json.loads(e.detail)["month"] == "2024-03" for e in entries)


def test_all_offices_and_single_offices_never_stand_side_by_side(inspector, tips, installed, other_office):
    make_month(tips, MARCH, {"new": 8})
    make_month(tips, MARCH, {"new": 6}, office="east")
    inspector.login()
    publish(inspector, "2024-03", str(other_office.office_id))
    with session_scope(installed.url) as db:
        default_id = db.scalar(select(Tip.office_id).where(Tip.office_id != other_office.office_id))
    publish(inspector, "2024-03", str(default_id))
    assert sorted(r.scope for r in stored(installed)) == sorted([str(other_office.office_id), str(default_id)])
    response = publish(inspector, "2024-03", "all")
    assert [r.scope for r in stored(installed)] == ["all"]
    page = inspector.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已撤下" in page
    publish(inspector, "2024-03", str(default_id))
    assert [r.scope for r in stored(installed)] == [str(default_id)]


def test_a_month_with_tips_the_admin_cannot_open_is_refused(inspector, tips, installed):
    make_month(tips, MARCH, {"new": 8})
    with session_scope(installed.url) as db:
        create_office(db, "west", "西区")  # nobody holds its key but its recovery key
    make_month(tips, MARCH, {"new": 1}, office="west")
    inspector.login()
    response = inspector.client.get("/analytics/publish?month=2024-03&scope=all")
    assert response.status_code == 400 and "无法打开的线索" in response.get_data(as_text=True)
    assert publish(inspector, "2024-03", "all").status_code == 400
    assert stored(installed) == []


def test_a_shredded_tip_blocks_publication(inspector, tips, installed):
    ids = make_month(tips, MARCH, {"new": 8})
    set_tip(installed, ids[0], key_for_office=b"")
    inspector.login()
    assert publish(inspector, "2024-03").status_code == 400
    assert stored(installed) == []


def test_published_list_on_the_dashboard(inspector, tips, installed):
    make_month(tips, MARCH, {"new": 8})
    inspector.login()
    publish(inspector, "2024-03")
    html = inspector.client.get("/analytics/").get_data(as_text=True)
    listing = re.search(r'<table class="data" id="published-list">.*?</table>', html, re.S).group(0)
    assert "2024-03" in listing and "全部受理单位" in listing
    assert 'id="publish-choose"' in html


# ---------------------------------------------------------------------------------------------
# The public page


DISTINCT = {"platform": "鸭嘴兽打卡通APP", "region": "鸭嘴兽省鸭嘴兽县", "imposer_name": "鸭嘴兽县委督查室",
            "description": "每天鸭嘴兽打卡三次，暗号红树林。"}


def test_nothing_per_tip_reaches_the_reporter_site(inspector, reporting, reporter, installed, tips):
    for i in range(6):
        reporting.submit(**{**DISTINCT, "platform": f"{DISTINCT['platform']}{i}"})
    make_month(tips, MARCH, {"new": 2})
    with session_scope(installed.url) as db:
        ids = list(db.scalars(select(Tip.id)))
        for tip in db.scalars(select(Tip)):
            tip.received_on = MARCH.replace(day=12)  # into a closed month, as time would
    inspector.login()
    assert publish(inspector, "2024-03").status_code == 303
    (row,) = stored(installed)
    for needle in ("鸭嘴兽", "红树林", "打卡通", *ids):
        assert needle not in row.cells
    assert json.loads(row.cells)["received"] == 8
    pages = ["/", "/transparency", "/transparency?lang=en", "/tip", "/safety", "/followup"]
    for path in pages:
        html = reporter.get(path).get_data(as_text=True)
        for needle in ("鸭嘴兽", "红树林", "打卡通", *ids):
            assert needle not in html, (path, needle)
    page = reporter.get("/transparency").get_data(as_text=True)
    assert "2024年3月" in page and 'href="/transparency"' in reporter.get("/").get_data(as_text=True)


def test_the_page_is_public_static_and_sets_no_cookie(reporter_app, installed):
    client = reporter_app.test_client()
    response = client.get("/transparency")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value
    html = response.get_data(as_text=True)
    assert "<script" not in html and "style=" not in html and 'id="nothing-published"' in html
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", html, re.I)


def test_per_office_months_show_the_office_name(inspector, tips, installed, reporter, other_office):
    make_month(tips, MARCH, {"new": 6}, office="east")
    inspector.login()
    publish(inspector, "2024-03", str(other_office.office_id))
    html = reporter.get("/transparency").get_data(as_text=True)
    assert "东区减负办" in html and f'id="month-2024-03-{other_office.office_id}"' in html
