"""The reporter's worst case in a real browser: Chromium with JavaScript disabled, Chinese by default."""

import re

import pytest

pytestmark = pytest.mark.browser


def submit_with_form(page, base_url: str, description: str) -> str:
    page.goto(f"{base_url}/tip")
    page.check("input[name=burden_types][value=study_hours]")
    page.check("input[name=burden_types][value=checkin_ranking]")
    page.fill("#platform", "干部在线学习平台")
    page.select_option("#imposer_level", "county")
    page.select_option("#frequency", "weekly")
    page.fill("#hours_per_week", "8")
    page.fill("#region", "甘肃省定西市")
    page.fill("#description", description)
    page.click("button[value=preview]")
    assert "确认要发送的内容" in page.content()
    assert description in page.inner_text("#preview")
    page.click("button[value=send]")
    receipt_text = page.inner_text("#receipt")
    assert re.fullmatch(r"\d{4}( \d{4}){4}", receipt_text.strip()), receipt_text
    receipt = receipt_text.replace(" ", "")
    page.fill("#last_group", receipt[-4:])
    page.click("text=我已抄好")
    assert "提交完成" in page.content()
    return receipt


def test_submit_with_javascript_off_and_follow_up(browser_page, live):
    page = browser_page
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(live.reporter_url + "/")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    description = "每年要求完成500学时线上学习，只能快进刷视频。"
    receipt = submit_with_form(page, live.reporter_url, description)
    assert len(receipt) == 20

    page.goto(live.reporter_url + "/followup")
    page.fill("input[name=receipt]", " ".join(receipt[i:i + 4] for i in range(0, 20, 4)))
    page.click("button[type=submit]")
    assert page.inner_text("#status") == "新线索"
    page.fill("#message", "补充：本周又增加了100学时。")
    page.click("text=发送")
    assert "补充：本周又增加了100学时。" in page.inner_text("#conversation")
    page.click("text=退出")
    page.goto(live.reporter_url + "/followup/tip")
    assert page.url.endswith("/followup")

    # every request went to the reporter site itself
    assert requests and all(url.startswith(live.reporter_url) for url in requests), requests


def test_form_keeps_text_after_a_validation_error(browser_page, live):
    page = browser_page
    page.goto(live.reporter_url + "/tip")
    page.fill("#description", "没有选类型，但这段话要留着")
    page.fill("#hours_per_week", "500")
    page.click("button[value=preview]")
    assert "请至少选择一种负担类型" in page.content()
    assert page.input_value("#description") == "没有选类型，但这段话要留着"
    assert page.input_value("#hours_per_week") == "500"


def test_mobile_viewport_has_no_horizontal_scroll(chromium, live):
    context = chromium.new_context(java_script_enabled=True, viewport={"width": 360, "height": 740},
                                   device_scale_factor=2, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    try:
        for path in ("/", "/tip", "/followup", "/safety"):
            page.goto(live.reporter_url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (path, width)
    finally:
        context.close()
