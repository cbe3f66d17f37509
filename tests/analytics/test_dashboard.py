"""The dashboard over HTTP: rendering, escaping, bad input, office isolation, CSV exports and their
audit entries."""

import csv
import io
import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.audit.models import AuditEntry
from app.db import session_scope

HOSTILE = '<img src=x onerror=alert(1)>"\'&'


def audit_rows(installed, action):
    with session_scope(installed.url) as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def table_rows(html: str, table_id: str) -> dict[str, int]:
    """data-key → count of one of the dashboard's tables."""
    table = re.search(rf'<table class="data[^"]*" id="table-{table_id}">(.*?)</table>', html, re.S)
    assert table, table_id
    return {key: int(count) for key, count in
            re.findall(r'<tr data-key="([^"]*)">.*?<td class="num count">(\d+)</td>', table.group(1), re.S)}


def test_dashboard_needs_a_login(inspector_client):
    response = inspector_client.get("/analytics/")
    assert response.status_code == 303 and "/login" in response.headers["Location"]


def test_dashboard_shows_counts_charts_and_tables(inspector, inspector_client, tips):
    today = clock.today()
    tips.create(platform="XX学习APP", burden_types=["study_hours"], hours_per_week=4.0, received_on=today)
    tips.create(platform="xx学习 app", burden_types=["study_hours", "work_groups"], hours_per_week=500.0,
                received_on=today)
    tips.create(platform="", burden_types=["other"], received_on=today - timedelta(days=70))
    inspector.login()
    queue = inspector_client.get("/").get_data(as_text=True)
    assert 'href="/analytics/"' in queue  # the navigation link
    response = inspector_client.get("/analytics/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:2000]
    assert '<p id="total"' not in html and re.search(r'<dd id="total">3</dd>', html)
    assert table_rows(html, "burden")["study_hours"] == 2
    assert table_rows(html, "platforms") == {"xx学习": 2, "": 1}
    assert "（未填）" in html
    assert table_rows(html, "statuses")["new"] == 3
    assert sum(table_rows(html, "months").values()) == 3
    # every bar has its number, and a width class from the stylesheet (no inline style anywhere)
    chart = re.search(r'<figure class="chart" id="chart-burden".*?</figure>', html, re.S).group(0)
    assert re.search(r'<span class="bar w-100"></span></span>\s*<span class="bar-value">2</span>', chart)
    assert "style=" not in html and "<style" not in html and "<script" not in html
    assert '<svg class="column-chart" id="chart-months"' in html
    # the 500-hour report is capped and said so
    note = re.search(r'<p class="hint" id="hours-note">(.*?)</p>', html, re.S).group(1)
    assert "1 条线索每周超过 60 小时" in note
    assert re.search(r'<td class="num hours">64</td>', html)


def test_hostile_names_are_escaped_everywhere(inspector, inspector_client, tips):
    tips.create(platform=HOSTILE, imposer_name=HOSTILE, region=HOSTILE, hours_per_week=2.0)
    inspector.login()
    html = inspector_client.get("/analytics/").get_data(as_text=True)
    assert "<img src=x" not in html and "onerror=alert(1)>" not in html.replace("&lt;", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("query,message", [
    ("date_from=2024-02-30", "日期格式不正确"),
    ("date_from=not-a-date&date_to=2024-01-01", "日期格式不正确"),
    ("date_to=" + "9" * 500, "日期格式不正确"),
    ("date_from=2024-05-01&date_to=2024-04-01", "开始日期晚于结束日期"),
    ("office=nowhere", "没有这个受理单位"),
    ("office=%00", "没有这个受理单位"),
    ("date_from=%00", "日期格式不正确"),
])
def test_bad_filters_get_a_clear_message_not_a_500(inspector, inspector_client, query, message):
    inspector.login()
    response = inspector_client.get(f"/analytics/?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="filter-errors"' in html and message in html
    assert 'id="total"' not in html


def test_bad_filters_on_an_export_are_refused_and_not_audited(inspector, inspector_client, installed):
    inspector.login()
    response = inspector_client.get("/analytics/export/burden.csv?date_from=2024-99-01")
    assert response.status_code == 400 and "日期格式不正确" in response.get_data(as_text=True)
    assert inspector_client.get("/analytics/export/nothing.csv").status_code == 404
    assert audit_rows(installed, "tip.export") == []


def test_an_empty_line_has_a_sensible_dashboard(inspector, inspector_client):
    inspector.login()
    html = inspector_client.get("/analytics/").get_data(as_text=True)
    assert 'id="no-tips"' in html and re.search(r'<dd id="total">0</dd>', html)
    assert "没有数据。" in html


def test_filters_narrow_the_numbers(inspector, inspector_client, tips):
    tips.create(received_on=date(2024, 1, 5))
    tips.create(received_on=date(2024, 2, 5))
    inspector.login()
    html = inspector_client.get("/analytics/?date_from=2024-02-01&date_to=2024-02-29").get_data(as_text=True)
    assert re.search(r'<dd id="total">1</dd>', html)
    assert 'href="/analytics/export/burden.csv?date_from=2024-02-01&amp;date_to=2024-02-29"' in html


def test_office_isolation(inspector, inspector_client, tips, other_office, installed):
    for _ in range(3):
        tips.create(platform="鸭嘴兽学习APP", imposer_name="鸭嘴兽县委", region="鸭嘴兽省")
    tips.create(office="east", platform="东区平台", burden_types=["app_install"])
    inspector.login(other_office.username, other_office.password, other_office.totp_secret)
    html = inspector_client.get("/analytics/").get_data(as_text=True)
    assert re.search(r'<dd id="total">1</dd>', html)
    assert "鸭嘴兽" not in html and table_rows(html, "platforms") == {"东区": 1}
    assert table_rows(html, "statuses")["new"] == 1
    # bob cannot even name office default in a filter or an export
    response = inspector_client.get("/analytics/?office=default")
    assert response.status_code == 400 and "鸭嘴兽" not in response.get_data(as_text=True)
    for name in ("summary", "platforms", "bodies", "regions", "burden"):
        body = inspector_client.get(f"/analytics/export/{name}.csv").get_data().decode("utf-8-sig")
        assert "鸭嘴兽" not in body
    summary = inspector_client.get("/analytics/export/summary.csv").get_data().decode("utf-8-sig")
    assert dict(csv.reader(io.StringIO(summary)))["线索总数"] == "1"


def test_admin_sees_all_offices_and_filters_by_one(inspector, inspector_client, tips, other_office):
    tips.create()
    tips.create()
    tips.create(office="east")
    inspector.login()
    html = inspector_client.get("/analytics/").get_data(as_text=True)
    assert re.search(r'<dd id="total">3</dd>', html) and 'name="office"' in html
    html = inspector_client.get("/analytics/?office=east").get_data(as_text=True)
    assert re.search(r'<dd id="total">1</dd>', html)


def test_csv_export_is_an_audited_attachment_and_injection_safe(inspector, inspector_client, tips, installed):
    tips.create(platform='=HYPERLINK("http://evil.example","x")', description="秘密的描述")
    tips.create(platform="+1", imposer_name="@县委")
    inspector.login()
    response = inspector_client.get("/analytics/export/platforms.csv?date_from=2020-01-01")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "tipline-platforms-2020-01-01-now.csv" in disposition
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    labels = [row[0] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://evil.example\",\"x\")" in labels and "'+1" in labels
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    entries = audit_rows(installed, "tip.export")
    assert len(entries) == 1
    detail = json.loads(entries[0].detail)
    assert detail == {"aggregate": "platforms", "from": "2020-01-01", "to": None, "office": None}
    assert entries[0].target == "platforms" and "秘密" not in entries[0].detail and "HYPERLINK" not in entries[0].detail
    bodies = inspector_client.get("/analytics/export/bodies.csv").get_data().decode("utf-8-sig")
    assert "'@县委" in bodies


@pytest.mark.parametrize("name", ["summary", "burden", "platforms", "platform_hours", "levels", "bodies",
                                  "body_hours", "regions", "statuses", "months"])
def test_every_aggregate_exports(inspector, inspector_client, tips, name):
    tips.create(hours_per_week=2.0)
    inspector.login()
    response = inspector_client.get(f"/analytics/export/{name}.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert len(rows) >= 2 and all(rows)


def test_viewing_the_dashboard_is_audited_with_the_filters(inspector, inspector_client, installed):
    inspector.login()
    inspector_client.get("/analytics/?date_to=2024-12-31")
    (entry,) = audit_rows(installed, "analytics.view")
    assert json.loads(entry.detail) == {"from": None, "to": "2024-12-31", "office": None}


def test_only_admins_publish(inspector, inspector_client, other_office):
    inspector.login(other_office.username, other_office.password, other_office.totp_secret)
    html = inspector_client.get("/analytics/").get_data(as_text=True)
    assert 'id="publish"' not in html
    assert inspector_client.get("/analytics/publish?month=2024-01&scope=all").status_code == 403
