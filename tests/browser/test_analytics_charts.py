"""The analytics charts in real Chromium with JavaScript OFF: bars are drawn (their boxes have a width),
every bar shows its number, and the strict CSP is never violated (no console errors at all).
The public transparency page is checked the same way, on a phone-sized screen."""

from datetime import date, timedelta

import pyotp
import pytest

from app import clock

pytestmark = pytest.mark.browser


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # a favicon still loading when the test moves on is aborted by the navigation: not a failure
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}")
            if request.failure != "net::ERR_ABORTED" else None)
    return problems


def _login(page, live, installed) -> None:
    page.goto(f"{live.inspector_url}/login")
    page.fill("input[name=username]", installed.admin)
    page.fill("input[name=password]", installed.admin_password)
    page.fill("input[name=totp]", pyotp.TOTP(installed.totp_secret).now())
    page.click("button[type=submit]")
    assert "/login" not in page.url


def test_dashboard_charts_render_without_javascript(chromium, live, installed, tips):
    today = clock.today()
    ids = []
    for i, (platform, burden, hours) in enumerate([
        ("XX学习APP", ["study_hours"], 6.0), ("xx学习 app", ["study_hours", "checkin_ranking"], 500.0),
        ("ＸＸ学习ＡＰＰ", ["study_hours"], 2.0), ("网格通APP", ["work_groups"], 3.0),
        ("<b>网格通</b>", ["work_groups"], 1.0), ("", ["other"], None),
    ]):
        ids.append(tips.create(platform=platform, burden_types=burden, hours_per_week=hours,
                               received_on=today - timedelta(days=40 * i)))
    context = chromium.new_context(java_script_enabled=False, locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        problems = _watch(page)
        _login(page, live, installed)
        page.goto(f"{live.inspector_url}/analytics/")
        assert page.locator("h1").inner_text() == "统计分析"

        # horizontal bars: a non-zero value has a visible box and its number beside it
        rows = page.locator("#chart-burden .bar-row")
        assert rows.count() == 10
        seen = {}
        for i in range(rows.count()):
            row = rows.nth(i)
            number = int(row.locator(".bar-value").inner_text())
            box = row.locator(".bar").bounding_box()
            track = row.locator(".bar-track").bounding_box()
            assert box is not None and track is not None and track["width"] > 50
            if number:
                assert box["width"] > 0 and box["height"] > 0, (i, number, box)
            else:
                assert box["width"] == 0
            seen[row.locator(".bar-label").inner_text()] = (number, box["width"])
        assert seen["学习时长/刷课考核"][0] == 3
        assert seen["学习时长/刷课考核"][1] == pytest.approx(max(w for _n, w in seen.values()))
        assert seen["工作群过多、群内派活、限时回复"][1] == pytest.approx(seen["学习时长/刷课考核"][1] * 2 / 3, rel=0.05)

        # the platform chart: the three spellings are one bar of 3, the hostile name is text
        labels = page.locator("#chart-platforms .bar-label").all_inner_texts()
        assert labels[0] == "XX学习APP" and "<b>网格通</b>" in labels
        assert page.locator("#chart-platforms b").count() == 0

        # the monthly trend: SVG columns with a size, the count written above each
        columns = page.locator("#chart-months rect.column")
        values = page.locator("#chart-months text.column-value").all_text_contents()
        assert columns.count() == len(values) >= 6 and sum(int(v) for v in values) == 6
        for i, value in enumerate(values):
            box = columns.nth(i).bounding_box()
            assert box is not None and (box["height"] > 0) == (int(value) > 0) and box["width"] > 0

        # a table behind every chart
        for name in ("burden", "platforms", "platform-hours", "levels", "bodies", "body-hours", "regions",
                     "statuses", "months"):
            assert page.locator(f"table#table-{name}").count() == 1, name
        assert "1 条线索每周超过 60 小时" in page.inner_text("#hours-note")

        # a tip's detail page with its related tips, same rules
        page.goto(f"{live.inspector_url}/tips/{ids[0]}")
        related = page.locator("#same-platform a").all_inner_texts()
        assert sorted(related) == sorted(ids[1:3])
        assert problems == [], problems
    finally:
        context.close()


def test_transparency_page_on_a_phone_without_javascript(chromium, live, installed, tips, inspector):
    first = date(2024, 3, 1)
    for i in range(12):
        tips.create(received_on=first + timedelta(days=i), status="rectified" if i < 6 else "new",
                    burden_types=["checkin_ranking"] if i % 2 else ["work_groups", "photo_trace"])
    inspector.login()
    assert inspector.post("/analytics/", "/analytics/publish", {"month": "2024-03", "scope": "all"}).status_code == 303

    context = chromium.new_context(java_script_enabled=False, locale="zh-CN", viewport={"width": 375, "height": 740},
                                   is_mobile=True)
    page = context.new_page()
    try:
        problems = _watch(page)
        page.goto(f"{live.reporter_url}/")
        page.click("text=公开数据")
        assert page.url.endswith("/transparency")
        assert "2024年3月" in page.inner_text("h2")
        cells = page.locator(".count").all_inner_texts()
        assert cells and all(c == "<5" or int(c) >= 5 for c in cells)
        assert "12" in cells and "<5" in cells
        # fits the phone: no table wider than the screen
        for table in page.locator("table").all():
            box = table.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375 + 1
        assert page.context.cookies() == []
        assert problems == [], problems
    finally:
        context.close()
