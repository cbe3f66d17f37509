"""The proof-of-work script in real Chromium: a reporter with JavaScript on gets through a flood
without waiting; the script is same-origin and the page stays within the CSP."""

import pytest

from app import create_inspector_app, create_reporter_app
from app.db import session_scope
from app.flood import services as flood
from tests.conftest import LiveServers

pytestmark = pytest.mark.browser


def test_javascript_solves_the_challenge_and_sends(chromium, config, installed):
    reporter = create_reporter_app({**config, "POW_SUBMISSION_THRESHOLD": "2 per minute"})
    servers = LiveServers(reporter, create_inspector_app(config))
    with session_scope(installed.url) as db:
        for _ in range(60):
            flood.record(db, flood.SUBMISSION)
    context = chromium.new_context(java_script_enabled=True, locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(servers.reporter_url + "/tip")
        page.check("input[name=burden_types][value=app_install]")
        page.fill("#description", "按村下达下载指标，洪水期间也要能提交。")
        page.click("button[value=preview]")
        assert page.get_attribute("#tip-form", "data-pow-bits")
        page.click("button[value=send]")
        page.wait_for_selector("#receipt", timeout=60_000)
        assert len(page.inner_text("#receipt").replace(" ", "")) == 20
        assert not errors, errors  # no CSP violation, no script error
    finally:
        context.close()
        servers.stop()
