"""Related tips and likely duplicates on a tip's detail page."""

import json
import re
from datetime import date, timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.db import session_scope
from tests.analytics.helpers import set_tip


def audit_rows(installed, action):
    with session_scope(installed.url) as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_related_tips_and_likely_duplicates(inspector, inspector_client, tips, installed, other_office):
    day = date(2024, 5, 10)
    me = tips.create(platform="网格通APP", burden_types=["checkin_ranking", "work_groups"], imposer_level="county",
                     imposer_name="县委宣传部", received_on=day, region="河南省周口市")
    close = tips.create(platform="网格通", burden_types=["checkin_ranking"], imposer_level="county",
                        imposer_name="县委 宣传部", received_on=day + timedelta(days=3), region="河南省")
    different_platform = tips.create(platform="ＷＡＧＧ", burden_types=["checkin_ranking"], received_on=day)
    weaker = tips.create(platform="网格通 app", burden_types=["work_groups"], received_on=day - timedelta(days=25))
    too_old = tips.create(platform="网格通", burden_types=["checkin_ranking"], received_on=day - timedelta(days=31))
    other_burden = tips.create(platform="网格通", burden_types=["photo_trace"], received_on=day)
    same_body_only = tips.create(platform="别的平台", imposer_level="county", imposer_name="县委宣传部",
                                 received_on=day)
    other_level = tips.create(platform="别的平台", imposer_level="city", imposer_name="县委宣传部", received_on=day)
    east_tip = tips.create(office="east", platform="网格通", burden_types=["checkin_ranking"], received_on=day)
    inspector.login()  # the admin holds east's key too
    html = inspector_client.get(f"/tips/{me}").get_data(as_text=True)
    section = re.search(r'<section id="related-tips">(.*?)</section>', html, re.S).group(1)
    duplicates = re.search(r'<ol id="likely-duplicates".*?</ol>', section, re.S).group(0)
    same_platform = re.search(r'<ul id="same-platform".*?</ul>', section, re.S).group(0)
    same_body = re.search(r'<ul id="same-body".*?</ul>', section, re.S).group(0)
    found = re.findall(r'href="/tips/([^"]+)"', duplicates)
    # ranked: close (same body and province, 3 days), then east's same-day tip, then 25 days apart
    assert found == [close, east_tip, weaker]
    for absent in (too_old, other_burden, different_platform, same_body_only, me):
        assert absent not in found
    platform_ids = set(re.findall(r'href="/tips/([^"]+)"', same_platform))
    assert platform_ids == {close, weaker, too_old, other_burden, east_tip}
    assert set(re.findall(r'href="/tips/([^"]+)"', same_body)) == {close, same_body_only}
    assert other_level not in section
    assert "同一要求单位" in duplicates
    (entry,) = audit_rows(installed, "tip.related")
    assert entry.target == me and set(json.loads(entry.detail)["tips"]) == platform_ids | {same_body_only}


def test_related_tips_stay_within_the_offices_of_the_session(inspector, inspector_client, tips, other_office):
    mine = tips.create(office="east", platform="网格通", burden_types=["checkin_ranking"])
    theirs = tips.create(platform="网格通", burden_types=["checkin_ranking"])
    inspector.login(other_office.username, other_office.password, other_office.totp_secret)
    html = inspector_client.get(f"/tips/{mine}").get_data(as_text=True)
    assert 'id="related-tips"' in html and theirs not in html
    assert "没有发现可能重复的线索。" in html


def test_a_tip_without_names_has_no_related_list(inspector, inspector_client, tips):
    tip = tips.create(platform="", imposer_name="")
    tips.create(platform="", imposer_name="")
    inspector.login()
    html = inspector_client.get(f"/tips/{tip}").get_data(as_text=True)
    assert "无法查找相关线索" in html


def test_a_tip_already_marked_duplicate_is_not_suggested_again(inspector, inspector_client, tips, installed):
    original = tips.create(platform="网格通", burden_types=["checkin_ranking"])
    copy = tips.create(platform="网格通", burden_types=["checkin_ranking"])
    set_tip(installed, copy, status="duplicate", duplicate_of_id=original)
    inspector.login()
    html = inspector_client.get(f"/tips/{original}").get_data(as_text=True)
    duplicates = re.search(r'<ol id="likely-duplicates".*?</ol>', html, re.S).group(0)
    assert copy not in duplicates
    assert copy in re.search(r'<ul id="same-platform".*?</ul>', html, re.S).group(0)
