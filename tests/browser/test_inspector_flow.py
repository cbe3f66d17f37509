"""The whole loop in real Chromium: a reporter (JavaScript off) sends a tip; an inspector logs in with
password + TOTP, finds it, replies and sets 核查中 with an outcome note; the reporter reads both."""

import re

import pyotp
import pytest

pytestmark = pytest.mark.browser


def test_inspector_answers_a_tip_the_reporter_sent_with_javascript_off(chromium, browser_page, live, installed):
    # --- the reporter, JavaScript off, through the real form
    reporter = browser_page
    reporter.goto(f"{live.reporter_url}/tip")
    reporter.check("input[name=burden_types][value=photo_trace]")
    reporter.fill("#platform", "平安乡村小程序")
    reporter.fill("#region", "云南省昭通市")
    description = "每天要在十个风险点拍带定位的照片上传，还要摆拍入户走访。"
    reporter.fill("#description", description)
    reporter.click("button[value=preview]")
    reporter.click("button[value=send]")
    receipt = reporter.inner_text("#receipt").replace(" ", "").strip()
    assert re.fullmatch(r"\d{20}", receipt)
    reporter.fill("#last_group", receipt[-4:])
    reporter.click("text=我已抄好")

    # --- the inspector (JavaScript on is fine) logs in with password + TOTP
    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    try:
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{live.inspector_url}/")
        assert "/login" in page.url
        page.fill("input[name=username]", installed.admin)
        page.fill("input[name=password]", installed.admin_password)
        page.fill("input[name=totp]", pyotp.TOTP(installed.totp_secret).now())
        page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "线索队列"

        # finds the tip in the queue (filtered by its burden type) and opens it
        page.select_option("#burden", "photo_trace")
        page.click("#filter-form button[type=submit]")
        assert "burden=photo_trace" in page.url
        page.click("text=平安乡村小程序")
        assert description in page.inner_text("#tip-description")

        # replies
        reply = "您好，线索已收到，我们会在两周内核实。"
        page.fill("#reply-form textarea[name=body]", reply)
        page.click("#reply-form button[type=submit]")
        assert reply in page.inner_text("#conversation")

        # sets 核查中 with a reason and an outcome note for the reporter
        page.select_option("#status-form select[name=status]", "verifying")
        page.fill("#status-form textarea[name=reason]", "开始核查")
        outcome = "已要求县里停止按张数考核拍照。"
        page.fill("#status-form textarea[name=outcome]", outcome)
        page.click("#status-form button[type=submit]")
        assert "核查中" in page.inner_text(".status")

        # back to the queue with the same filter
        page.click("#back-to-queue")
        assert "burden=photo_trace" in page.url
        assert all(url.startswith(live.inspector_url) for url in requests), requests
    finally:
        context.close()

    # --- the reporter, JavaScript still off, reads the reply, the status and the outcome
    reporter.goto(f"{live.reporter_url}/followup")
    reporter.fill("input[name=receipt]", receipt)
    reporter.click("button[type=submit]")
    assert reporter.inner_text("#status") == "核查中"
    assert reply in reporter.inner_text("#conversation")
    assert outcome in reporter.inner_text("#outcome")
