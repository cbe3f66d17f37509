"""The dashboard's aggregates against a small fixture computed by hand."""

from datetime import date

import pytest

import crypto
from app.analytics import normalize, services
from app.analytics.services import Filters
from app.db import session_scope
from tests.analytics.helpers import add_message, default_keys, office_id, set_tip

END = date(2024, 4, 30)


@pytest.fixture
def six(tips, installed):
    """Six tips of office `default` (hand-computed expectations in the tests below)."""
    ids = {
        "t1": tips.create(received_on=date(2024, 1, 10), status="new", burden_types=["checkin_ranking", "work_groups"],
                          platform="XX学习APP", imposer_level="county", imposer_name="县委宣传部",
                          hours_per_week=6.0, region="河南省周口市"),
        "t2": tips.create(received_on=date(2024, 1, 20), status="verifying", burden_types=["checkin_ranking"],
                          platform="xx学习 app", imposer_level="county", imposer_name="县委 宣传部",
                          hours_per_week=500.0, region="河南周口"),  # the form refuses 500: inserted directly
        "t3": tips.create(received_on=date(2024, 3, 5), status="rectified", burden_types=["study_hours"],
                          platform="ＸＸ学习ＡＰＰ", imposer_level="province", imposer_name="省委组织部",
                          hours_per_week=10.0, region="四川省凉山州"),
        "t4": tips.create(received_on=date(2024, 3, 6), status="dismissed", burden_types=["photo_trace"],
                          platform="", imposer_level="township", imposer_name="", hours_per_week=None,
                          region=""),
        "t5": tips.create(received_on=date(2024, 3, 7), status="new", burden_types=["work_groups", "photo_trace"],
                          platform="网格通APP", imposer_level="county", imposer_name="县委宣传部",
                          hours_per_week=2.5, region="周口市"),
        "t6": tips.create(received_on=date(2024, 3, 31), status="new", burden_types=["other"],
                          platform="网格通", imposer_level="", imposer_name="", hours_per_week=0.0,
                          region="广西南宁"),
    }
    set_tip(installed, ids["t3"], closed_on=date(2024, 3, 15))
    set_tip(installed, ids["t4"], closed_on=date(2024, 3, 8))
    add_message(installed, ids["t1"], "reporter", date(2024, 1, 11))   # a reporter's message is no reply
    add_message(installed, ids["t1"], "inspector", date(2024, 1, 13))  # first reply: 3 days
    add_message(installed, ids["t1"], "inspector", date(2024, 1, 20))
    add_message(installed, ids["t3"], "inspector", date(2024, 3, 5))   # same day: 0 days
    add_message(installed, ids["t5"], "reporter", date(2024, 3, 8))
    return ids


def compute(inspector_app, installed, filters=None, keys=None):
    keys = default_keys(installed) if keys is None else keys
    with inspector_app.test_request_context(), session_scope(installed.url) as db:
        return services.dashboard(db, keys, filters or Filters(date_to=END))


def by_key(rows):
    return {row.key: row for row in rows}


def test_totals_statuses_and_months(six, inspector_app, installed):
    d = compute(inspector_app, installed)
    assert d.total == 6 and d.opened == 6 and d.unopened == 0
    assert {r.key: r.count for r in d.statuses} == {"new": 3, "verifying": 1, "referred": 0, "rectified": 1,
                                                    "dismissed": 1, "duplicate": 0}
    assert [r.key for r in d.statuses] == ["new", "verifying", "referred", "rectified", "dismissed", "duplicate"]
    # February had no tip and April none either: both are shown as 0
    assert [(r.key, r.count) for r in d.months] == [("2024-01", 2), ("2024-02", 0), ("2024-03", 4), ("2024-04", 0)]


def test_burden_types_count_every_type_of_a_tip_and_show_the_empty_ones(six, inspector_app, installed):
    d = compute(inspector_app, installed)
    counts = {r.key: r.count for r in d.burden}
    assert counts == {"checkin_ranking": 2, "work_groups": 2, "photo_trace": 2, "study_hours": 1, "other": 1,
                      "app_install": 0, "duplicate_reporting": 0, "account_metrics": 0, "inspection_ledger": 0,
                      "meetings_documents": 0}
    assert [r.count for r in d.burden] == sorted((r.count for r in d.burden), reverse=True)
    assert by_key(d.burden)["study_hours"].label == "学习时长/刷课考核"


def test_platforms_are_normalised_with_raw_spellings_and_a_blank_group(six, inspector_app, installed):
    d = compute(inspector_app, installed)
    assert [(r.key, r.count) for r in d.platforms] == [("xx学习", 3), ("网格通", 2), ("", 1)]
    xx = by_key(d.platforms)["xx学习"]
    assert xx.label == "XX学习APP"  # most frequent spelling; a tie goes to the first in code-point order
    assert sorted(xx.spellings) == sorted([("XX学习APP", 1), ("xx学习 app", 1), ("ＸＸ学习ＡＰＰ", 1)])
    blank = by_key(d.platforms)[""]
    assert blank.label == "（未填）" and blank.count == 1 and blank.hours_tips == 0


def test_outlier_hours_are_capped_and_flagged_never_summed(six, inspector_app, installed):
    d = compute(inspector_app, installed)
    xx = by_key(d.platforms)["xx学习"]
    assert xx.hours == 6 + services.HOURS_CAP + 10 and xx.hours_tips == 3 and xx.capped == 1
    wg = by_key(d.platforms)["网格通"]
    assert wg.hours == 2.5 and wg.hours_tips == 2 and wg.capped == 0
    assert d.hours.total == 6 + 60 + 10 + 2.5 + 0
    assert d.hours.tips == 5 and d.hours.capped == 1 and d.hours.invalid == 0
    assert [r.key for r in d.platform_hours] == ["xx学习", "网格通"]  # the blank platform gave no hours


def test_issuing_levels_and_bodies(six, inspector_app, installed):
    d = compute(inspector_app, installed)
    assert {r.key: r.count for r in d.levels} == {"county": 3, "province": 1, "township": 1, "": 1}
    assert by_key(d.levels)[""].label == "（未填）"
    bodies = by_key(d.bodies)
    assert set(bodies) == {"county|县委宣传部", "province|省委组织部", "township|", "|"}
    county = bodies["county|县委宣传部"]
    assert county.count == 3 and county.hours == 6 + 60 + 2.5 and county.capped == 1
    assert county.label == "县 · 县委宣传部"
    assert dict(county.spellings) == {"县委宣传部": 2, "县委 宣传部": 1}
    assert bodies["township|"].label == "乡镇 · （未填）"
    assert [r.key for r in d.body_hours][:2] == ["county|县委宣传部", "province|省委组织部"]


def test_regions_by_province(six, inspector_app, installed):
    d = compute(inspector_app, installed)
    assert {r.key: r.count for r in d.regions} == {"河南省": 2, "四川省": 1, "广西壮族自治区": 1,
                                                   normalize.BLANK: 1, normalize.UNKNOWN_REGION: 1}
    assert d.regions[0].key == "河南省"
    assert by_key(d.regions)[normalize.UNKNOWN_REGION].label == "（未能识别省份）"


def test_medians_of_first_reply_and_close(six, inspector_app, installed):
    d = compute(inspector_app, installed)
    assert (d.first_reply.days, d.first_reply.tips) == (1.5, 2)   # 3 and 0 days
    assert (d.close.days, d.close.tips) == (6.0, 2)               # 10 and 2 days


def test_date_filter(six, inspector_app, installed):
    d = compute(inspector_app, installed, Filters(date_from=date(2024, 3, 6), date_to=date(2024, 3, 31)))
    assert d.total == 3
    assert [(r.key, r.count) for r in d.months] == [("2024-03", 3)]
    assert {r.key: r.count for r in d.platforms} == {"网格通": 2, "": 1}
    assert d.first_reply.tips == 0 and d.first_reply.days is None
    assert (d.close.days, d.close.tips) == (2.0, 1)


def test_an_office_without_tips(six, inspector_app, installed, other_office):
    keys = default_keys(installed)
    keys.update({kid: crypto.PrivateKey(raw) for kid, raw in other_office.private_keys.items()})
    d = compute(inspector_app, installed, Filters(office_id=other_office.office_id, office_code="east"), keys)
    assert d.total == 0 and d.months == [] and d.platforms == []
    assert all(r.count == 0 for r in d.burden) and len(d.burden) == 10
    assert all(r.count == 0 for r in d.statuses)
    assert d.first_reply.days is None and d.close.days is None and d.hours.total == 0


def test_no_keys_no_numbers(six, inspector_app, installed):
    d = compute(inspector_app, installed, keys={})
    assert d.total == 0 and d.platforms == []


def test_another_offices_tips_are_not_counted(six, inspector_app, installed, other_office, tips):
    tips.create(office="east", received_on=date(2024, 1, 5), platform="东区专用APP", burden_types=["app_install"])
    d = compute(inspector_app, installed)
    assert d.total == 6 and "东区专用" not in by_key(d.platforms)
    assert by_key(d.burden)["app_install"].count == 0


def test_months_without_tips_inside_a_range(tips, inspector_app, installed):
    tips.create(received_on=date(2023, 11, 2))
    tips.create(received_on=date(2024, 2, 27))
    d = compute(inspector_app, installed, Filters(date_from=date(2023, 10, 1), date_to=date(2024, 3, 31)))
    assert [(r.key, r.count) for r in d.months] == [("2023-10", 0), ("2023-11", 1), ("2023-12", 0), ("2024-01", 0),
                                                    ("2024-02", 1), ("2024-03", 0)]


def test_a_very_long_range_is_cut_to_the_latest_months(tips, inspector_app, installed):
    tips.create(received_on=date(2024, 2, 27))
    d = compute(inspector_app, installed, Filters(date_from=date(1900, 1, 1), date_to=date(2024, 3, 31)))
    assert d.months_truncated and len(d.months) == services.MAX_TREND_MONTHS
    assert d.months[-1].key == "2024-03"


def test_unusable_hours_and_unknown_burden_codes(tips, inspector_app, installed):
    tips.create(received_on=date(2024, 1, 2), hours_per_week=-3.0)
    tips.create(received_on=date(2024, 1, 2), hours_per_week="很多", burden_types=["bogus", "work_groups"])
    tips.create(received_on=date(2024, 1, 2), hours_per_week=168.0)
    tips.create(received_on=date(2024, 1, 2), hours_per_week=60.0)
    d = compute(inspector_app, installed)
    assert d.hours.invalid == 2 and d.hours.capped == 1 and d.hours.tips == 2
    assert d.hours.total == 120.0
    assert by_key(d.burden)["?"].count == 1 and by_key(d.burden)["?"].label == "（未知类型）"
    assert by_key(d.burden)["work_groups"].count == 4


def test_a_tip_that_cannot_be_opened_counts_only_in_clear_columns(six, inspector_app, installed):
    set_tip(installed, six["t6"], key_for_office=b"")  # as retention leaves it between its two steps
    d = compute(inspector_app, installed)
    assert d.total == 6 and d.opened == 5 and d.unopened == 1
    assert sum(r.count for r in d.platforms) == 5
    assert sum(r.count for r in d.statuses) == 6


@pytest.mark.parametrize("args,message", [
    ({"date_from": "2024-13-01"}, "日期格式不正确"),
    ({"date_to": "yesterday"}, "日期格式不正确"),
    ({"date_from": "2024-01-01" * 50}, "日期格式不正确"),
    ({"date_from": "2024-05-01", "date_to": "2024-04-01"}, "开始日期晚于结束日期"),
    ({"office": "nowhere"}, "没有这个受理单位"),
])
def test_bad_filters_give_messages(args, message, inspector_app, installed):
    with inspector_app.test_request_context(), session_scope(installed.url) as db:
        from app.triage.services import offices_for_keys
        offices = offices_for_keys(db, default_keys(installed))
        filters, errors = services.parse_filters(args, offices)
    assert filters == Filters() and any(message in e for e in errors), errors


def test_good_filters(inspector_app, installed):
    with inspector_app.test_request_context(), session_scope(installed.url) as db:
        from app.triage.services import offices_for_keys
        offices = offices_for_keys(db, default_keys(installed))
        filters, errors = services.parse_filters(
            {"date_from": " 2024-01-01", "date_to": "2024-02-01", "office": "default"}, offices)
    assert not errors
    assert filters.date_from == date(2024, 1, 1) and filters.office_id == office_id(installed)
    assert filters.query_args() == {"date_from": "2024-01-01", "date_to": "2024-02-01", "office": "default"}


def test_usable_hours():
    assert services.usable_hours(None) == (None, False)
    assert services.usable_hours(True) == (None, False)
    assert services.usable_hours(float("nan")) == (None, False)
    assert services.usable_hours(float("inf")) == (None, False)
    assert services.usable_hours(-1) == (None, False)
    assert services.usable_hours(0) == (0.0, False)
    assert services.usable_hours(60) == (60.0, False)
    assert services.usable_hours(60.5) == (60.0, True)
    assert services.usable_hours(500) == (60.0, True)
