"""The whole loop in real Chromium, in Chinese (the default) and in English (`?lang=en`), with the
reporter's JavaScript on and off.

The reporter sends a tip through the real form, gets the receipt and retypes its last group; the
inspector logs in with password + TOTP in the same language, finds the tip in the queue, replies,
and sets 核查中 / Verifying with an outcome note; the reporter opens the follow-up with the receipt
and reads the reply, the status and the outcome, in that language.

The language is never taken from the browser (app/i18n.py): the browser's locale is set to the
*other* language on purpose. `?lang=en` is carried by every link and form of the site, so after the
first page the reporter and the inspector only click. In English mode no page may show Chinese
interface text: everything in the page that is not the tip's own text (typed in English here) must be
free of CJK characters, apart from the language switch that offers 中文.
"""

import re

import pyotp
import pytest
from babel.support import Translations

from app.i18n import TRANSLATIONS_DIR

pytestmark = pytest.mark.browser

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
EN = Translations.load(str(TRANSLATIONS_DIR), ["en"])

CONTENT = {
    "zh": {"platform": "村务通APP", "region": "贵州省毕节市", "imposer": "县农业农村局",
           "description": "每个村每月要完成200个注册下载指标，完不成就通报批评。",
           "reply": "您好，线索已收到，我们正在核实下载指标的来源。",
           "reason": "开始核查", "outcome": "已要求县农业农村局停止按注册数考核。"},
    "en": {"platform": "Village Affairs App", "region": "Bijie, Guizhou", "imposer": "County agriculture bureau",
           "description": "Every village must reach 200 app registrations a month or be criticised in public.",
           "reply": "Hello, we received your tip and are checking where the download quota came from.",
           "reason": "Verification started", "outcome": "The county bureau was told to stop counting registrations."},
}


def t(lang: str, msgid: str) -> str:
    """The interface text as the site shows it in that language (the catalog's translation)."""
    if lang == "zh":
        return msgid
    text = EN.gettext(msgid)
    assert text != msgid, f"no English for {msgid!r}"
    return text


def check_page(page, lang: str, h1_msgid: str | None, content: dict) -> None:
    """The page is in the chosen language: <html lang>, the heading, and (English) no Chinese
    interface text anywhere outside what the reporter and the inspector typed."""
    assert page.get_attribute("html", "lang") == ("zh-Hans" if lang == "zh" else "en"), page.url
    if h1_msgid is not None:
        assert page.locator("h1").first.inner_text().strip().startswith(t(lang, h1_msgid)), (
            page.url, page.locator("h1").first.inner_text())
    if lang == "en":
        assert "lang=en" in page.url, page.url
        text = page.inner_text("body")
        for typed in content.values():
            text = text.replace(typed, "")
        text = text.replace("中文", "")  # the switch back to Chinese, written in Chinese on purpose
        leftovers = sorted({line.strip() for line in text.splitlines() if CJK.search(line)})
        assert not leftovers, (page.url, leftovers)
        title = page.title()
        assert not CJK.search(title), (page.url, title)


def office_name(installed) -> str:
    from app.db import session_scope
    from app.offices.services import get_office_by_code

    with session_scope(installed.url) as db:
        return get_office_by_code(db, installed.office).name


def start_url(base: str, path: str, lang: str) -> str:
    return f"{base}{path}" + ("?lang=en" if lang == "en" else "")


@pytest.mark.parametrize("js", [True, False], ids=["js-on", "js-off"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_whole_loop(chromium, live, installed, lang, js):
    content = {**CONTENT[lang], "office": office_name(installed)}  # an office's name is data, not interface
    other_locale = "en-US" if lang == "zh" else "zh-CN"

    # --- the reporter: landing page, then only links and buttons
    reporter_context = chromium.new_context(java_script_enabled=js, locale=other_locale)
    reporter = reporter_context.new_page()
    reporter_requests: list[str] = []
    reporter.on("request", lambda r: reporter_requests.append(r.url))
    errors: list[str] = []
    reporter.on("pageerror", lambda e: errors.append(str(e)))
    reporter.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        reporter.goto(start_url(live.reporter_url, "/", lang))
        check_page(reporter, lang, "反映“指尖上的形式主义”", content)
        reporter.click("main a.button[href*='/tip']")
        check_page(reporter, lang, "反映一项“指尖上的形式主义”负担", content)
        assert reporter.locator("#tip-form").count() == 1
        reporter.check("input[name=burden_types][value=app_install]")
        reporter.fill("#platform", content["platform"])
        reporter.select_option("#imposer_level", "county")
        reporter.fill("#imposer_name", content["imposer"])
        reporter.select_option("#frequency", "monthly")
        reporter.fill("#hours_per_week", "4")
        reporter.fill("#region", content["region"])
        reporter.fill("#description", content["description"])
        reporter.click("button[value=preview]")
        check_page(reporter, lang, "确认要发送的内容", content)
        assert content["description"] in reporter.inner_text("#preview")
        reporter.click("button[value=send]")
        check_page(reporter, lang, "已收到，这是您的回执码", content)
        receipt_text = reporter.inner_text("#receipt").strip()
        assert re.fullmatch(r"\d{4}( \d{4}){4}", receipt_text), receipt_text
        receipt = receipt_text.replace(" ", "")
        # a wrong last group is refused, in the same language, and the receipt stays on screen
        reporter.fill("#last_group", "0000" if receipt[-4:] != "0000" else "1111")
        reporter.click("form[action*='/tip/receipt'] button[type=submit]")
        check_page(reporter, lang, "已收到，这是您的回执码", content)
        assert reporter.inner_text("#receipt").replace(" ", "").strip() == receipt
        assert t(lang, "最后四位不对。请对照上面的回执码重新输入，并确认已经抄写下来。") in reporter.inner_text(".flash.error")
        assert errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
        errors.clear()  # that 400 was the point
        reporter.fill("#last_group", receipt[-4:])
        reporter.click("form[action*='/tip/receipt'] button[type=submit]")
        check_page(reporter, lang, "谢谢，提交完成", content)
        assert not errors, errors
    except BaseException:
        reporter_context.close()
        raise

    # --- the inspector, same language, password + TOTP
    inspector_context = chromium.new_context(java_script_enabled=True, locale=other_locale)
    page = inspector_context.new_page()
    inspector_requests: list[str] = []
    page.on("request", lambda r: inspector_requests.append(r.url))
    try:
        page.goto(start_url(live.inspector_url, "/", lang))
        assert "/login" in page.url
        check_page(page, lang, "核查员登录", content)
        page.fill("input[name=username]", installed.admin)
        page.fill("input[name=password]", installed.admin_password)
        page.fill("input[name=totp]", pyotp.TOTP(installed.totp_secret).now())
        page.click("#login-form button[type=submit]")
        check_page(page, lang, "线索队列", content)

        page.select_option("#burden", "app_install")
        page.click("#filter-form button[type=submit]")
        assert "burden=app_install" in page.url
        check_page(page, lang, "线索队列", content)
        page.click(f"table.queue a:has-text('{content['platform']}')")
        check_page(page, lang, "线索", content)
        assert page.inner_text("#tip-description") == content["description"]

        page.fill("#reply-form textarea[name=body]", content["reply"])
        page.click("#reply-form button[type=submit]")
        check_page(page, lang, "线索", content)
        assert content["reply"] in page.inner_text("#conversation")
        assert t(lang, "回复已发送。来源凭回执码可以看到。") in page.inner_text(".flash.ok")

        page.select_option("#status-form select[name=status]", "verifying")
        page.fill("#status-form textarea[name=reason]", content["reason"])
        page.fill("#status-form textarea[name=outcome]", content["outcome"])
        page.click("#status-form button[type=submit]")
        check_page(page, lang, "线索", content)
        assert page.inner_text("p > .status").strip() == t(lang, "核查中")
        assert content["reason"] in page.inner_text("#history")

        page.click("#back-to-queue")
        check_page(page, lang, "线索队列", content)
        assert "burden=app_install" in page.url
        assert page.inner_text("#count-verifying") == "1"
        page.click("header nav a[href*='/analytics/']")
        check_page(page, lang, "统计分析", content)
        assert all(url.startswith(live.inspector_url) for url in inspector_requests), inspector_requests
    finally:
        inspector_context.close()

    # --- the reporter comes back with the receipt
    try:
        reporter.goto(start_url(live.reporter_url, "/", lang))
        reporter.click("header nav a[href*='/followup']")
        check_page(reporter, lang, "用回执码查看处理进度和回复", content)
        reporter.fill("input[name=receipt]", receipt_text)
        reporter.click("form[action*='/followup'] button[type=submit]")
        check_page(reporter, lang, "处理进度", content)
        assert reporter.inner_text("#status") == t(lang, "核查中")
        assert reporter.inner_text("#status") == ("核查中" if lang == "zh" else "Verifying")
        assert content["reply"] in reporter.inner_text("#conversation")
        assert t(lang, "核查员回复") in reporter.inner_text("#conversation")
        assert reporter.inner_text("#outcome").strip() == content["outcome"]
        assert not errors, errors
        assert reporter_requests and all(url.startswith(live.reporter_url) for url in reporter_requests), reporter_requests
    finally:
        reporter_context.close()
