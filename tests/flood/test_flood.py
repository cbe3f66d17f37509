"""Flood protection without addresses: adaptive proof of work, wait tokens, global limits, honeypot."""

import hashlib
import re

import pytest

from app import clock, create_reporter_app
from app.db import session_scope
from app.flood import services as flood
from tests.conftest import ReporterActions, csrf_token

SECRET = "s" * 40


def settings(**overrides) -> flood.FloodSettings:
    values = {"FLOOD_PROTECTION": "on", "POW_SUBMISSION_THRESHOLD": "2 per minute",
              "POW_FAILED_RECEIPT_THRESHOLD": "2 per minute", "SUBMISSION_RATE_LIMIT": "1000 per minute",
              "RECEIPT_RATE_LIMIT": "1000 per minute"}
    values.update(overrides)
    return flood.settings_from_config(values)


def solve(token: str, bits: int) -> str:
    n = 0
    while not flood.solves(token, str(n), bits):
        n += 1
    return str(n)


@pytest.mark.parametrize(("text", "per_minute"), [("120 per minute", 120), ("2 per second", 120),
                                                  ("30/hour", 0.5), ("5 per minutes", 5)])
def test_parse_rate(text, per_minute):
    assert flood.parse_rate(text) == pytest.approx(per_minute)


def test_bad_rate_setting_fails_at_start(config):
    from app.config import ConfigError

    with pytest.raises(ConfigError):
        create_reporter_app({**config, "SUBMISSION_RATE_LIMIT": "lots"})


def test_difficulty_is_zero_in_normal_times_and_rises_with_the_global_rate(installed):
    s = settings()
    levels = []
    with session_scope(installed.url) as db:
        assert flood.difficulty(db, s) == 0
        for count in (5, 10, 40, 160, 640):
            while flood.rate_per_minute(db, flood.SUBMISSION) * flood.WINDOW_MINUTES < count:
                flood.record(db, flood.SUBMISSION)
            levels.append(flood.difficulty(db, s))
    assert levels[0] == levels[1] == 0  # 1/min and 2/min: at or under the threshold of 2/min
    assert levels == sorted(levels) and levels[-1] > levels[2] > 0
    assert levels[-1] <= flood.MAX_BITS


def test_the_off_switch_reads_the_same_everywhere():
    # The app, `tipline serve`'s warning and gunicorn's read one function: a value that turns
    # protection off also shows the warning, and anything else keeps it on.
    for value in ("off", " OFF ", "0", "false", "No\n"):
        assert flood.switched_off(value) and not settings(FLOOD_PROTECTION=value).enabled
    for value in ("on", "", "of", "disabled"):
        assert not flood.switched_off(value) and settings(FLOOD_PROTECTION=value).enabled


def test_failed_receipt_lookups_raise_difficulty_too(installed):
    with session_scope(installed.url) as db:
        for _ in range(40):
            flood.record(db, flood.RECEIPT_FAILED)
        assert flood.difficulty(db, settings()) > 0
        assert flood.difficulty(db, settings(FLOOD_PROTECTION="off")) == 0


def test_counters_forget_after_the_window(installed, monkeypatch):
    with session_scope(installed.url) as db:
        for _ in range(50):
            flood.record(db, flood.SUBMISSION)
    later = clock.now() + (flood.WINDOW_MINUTES + 1) * 60
    monkeypatch.setattr(clock, "now", lambda: later)
    with session_scope(installed.url) as db:
        flood.record(db, flood.RECEIPT_ATTEMPT)  # any write purges buckets outside the window
        from sqlalchemy import select

        from app.flood.models import RateBucket

        rows = db.scalars(select(RateBucket)).all()
        assert [r.kind for r in rows] == [flood.RECEIPT_ATTEMPT]
        assert flood.difficulty(db, settings()) == 0


def test_solution_wait_spent_and_tampered_tokens(installed, monkeypatch):
    s = settings()
    with session_scope(installed.url) as db:
        for _ in range(40):
            flood.record(db, flood.SUBMISSION)
        challenge = flood.issue_challenge(db, s, SECRET)
        assert challenge and challenge.bits >= flood.BASE_BITS and challenge.wait >= 5
        # no solution, too early: told how long to wait
        with pytest.raises(flood.FloodError) as early:
            flood.check(db, s, SECRET, challenge.token, "")
        assert early.value.reason == "wait" and 0 < early.value.retry_after <= challenge.wait
        # a wrong solution is the same as none
        with pytest.raises(flood.FloodError):
            flood.check(db, s, SECRET, challenge.token, "12345")
        # a tampered token is refused
        with pytest.raises(flood.FloodError) as tampered:
            flood.check(db, s, SECRET, challenge.token[:-2] + "xx", solve(challenge.token, challenge.bits))
        assert tampered.value.reason == "challenge_invalid"
        # a missing token under pressure is refused
        with pytest.raises(flood.FloodError):
            flood.check(db, s, SECRET, "", "")
        # the right solution passes, once
        flood.check(db, s, SECRET, challenge.token, solve(challenge.token, challenge.bits))
        with pytest.raises(flood.FloodError) as spent:
            flood.check(db, s, SECRET, challenge.token, solve(challenge.token, challenge.bits))
        assert spent.value.reason == "challenge_spent"
        # without JavaScript: the same kind of token is accepted once it is old enough
        other = flood.issue_challenge(db, s, SECRET)
        start = clock.now()
        monkeypatch.setattr(clock, "now", lambda: start + other.wait + 1)
        flood.check(db, s, SECRET, other.token, "")


def test_spent_token_table_keeps_dates_only(installed):
    from sqlalchemy import select

    from app.flood.models import SpentToken

    with session_scope(installed.url) as db:
        for _ in range(40):
            flood.record(db, flood.SUBMISSION)
        challenge = flood.issue_challenge(db, settings(), SECRET)
        flood.check(db, settings(), SECRET, challenge.token, solve(challenge.token, challenge.bits))
        row = db.scalars(select(SpentToken)).one()
        assert row.token_hash == hashlib.sha256(challenge.token.encode()).hexdigest()
        assert row.purge_after > clock.today()


@pytest.fixture
def pressured(config, installed):
    """A reporter site whose proof of work starts at 2 submissions a minute."""
    app = create_reporter_app({**config, "POW_SUBMISSION_THRESHOLD": "2 per minute",
                               "POW_FAILED_RECEIPT_THRESHOLD": "2 per minute"})
    app.config["TESTING"] = True
    return app


def _flood(installed, count: int, kind: str = flood.SUBMISSION) -> None:
    with session_scope(installed.url) as db:
        for _ in range(count):
            flood.record(db, kind)


def _preview(client, **overrides):
    actions = ReporterActions(client)
    fields = actions.form_fields(**overrides)
    page = client.post("/tip", data={**fields, "action": "preview"}).get_data(as_text=True)
    return fields, page


def _field(page: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', page).group(1)


def test_scripted_flood_raises_the_bar_and_a_normal_reporter_without_javascript_gets_through(
        pressured, installed, monkeypatch):
    client = pressured.test_client()
    fields, page = _preview(client)
    assert "pow_token" not in page, "no proof of work in normal times"
    _flood(installed, 60)  # a scripted flood: 12 a minute against a threshold of 2
    fields, page = _preview(client, description="洪水期间的正常举报")
    assert 'data-pow-bits="' in page and "pow.js" in page and "安全校验" in page
    token = _field(page, "pow_token")
    wait = int(re.search(r"请等待 (\d+) 秒", page).group(1))
    too_early = client.post("/tip", data={**fields, "action": "send", "pow_token": token, "pow_solution": ""})
    body = too_early.get_data(as_text=True)
    assert too_early.status_code == 400 and "请再等" in body and "洪水期间的正常举报" in body
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start + wait + 1)
    sent = client.post("/tip", data={**fields, "action": "send", "pow_token": token, "pow_solution": ""})
    assert sent.status_code == 303, sent.get_data(as_text=True)[:500]
    assert "/tip/receipt" in sent.headers["Location"]


def test_a_reporter_with_javascript_solves_and_gets_through_at_once(pressured, installed):
    client = pressured.test_client()
    _flood(installed, 60)
    fields, page = _preview(client)
    token = _field(page, "pow_token")
    bits = int(re.search(r'data-pow-bits="(\d+)"', page).group(1))
    sent = client.post("/tip", data={**fields, "action": "send", "pow_token": token,
                                     "pow_solution": solve(token, bits)})
    assert sent.status_code == 303


def test_hard_submission_limit_keeps_the_text(config, installed):
    app = create_reporter_app({**config, "SUBMISSION_RATE_LIMIT": "2 per minute",
                               "POW_SUBMISSION_THRESHOLD": "1000 per minute"})
    client = app.test_client()
    actions = ReporterActions(client)
    actions.submit()
    actions.submit()
    fields = actions.form_fields(description="第三条被限流但内容要保留")
    response = client.post("/tip", data={**fields, "action": "send"})
    assert response.status_code == 429
    assert "第三条被限流但内容要保留" in response.get_data(as_text=True)


def test_flood_protection_off_for_load_tests(config, installed):
    app = create_reporter_app({**config, "FLOOD_PROTECTION": "off", "SUBMISSION_RATE_LIMIT": "1 per minute",
                               "POW_SUBMISSION_THRESHOLD": "1 per minute"})
    _flood(installed, 100)
    actions = ReporterActions(app.test_client())
    for _ in range(3):
        assert len(actions.submit()) == 20
    receipt = actions.submit()
    actions.open(receipt)
    actions.open("1" * 20)
    with session_scope(installed.url) as db:  # nothing counted: the 100 seeded submissions only
        assert flood.rate_per_minute(db, flood.SUBMISSION) * flood.WINDOW_MINUTES == 100
        assert flood.rate_per_minute(db, flood.RECEIPT_ATTEMPT) == 0
        assert flood.rate_per_minute(db, flood.RECEIPT_FAILED) == 0


def test_failed_receipts_bring_a_challenge_to_the_follow_up_form(pressured, installed):
    client = pressured.test_client()
    assert "pow_token" not in client.get("/followup").get_data(as_text=True)
    _flood(installed, 60, flood.RECEIPT_FAILED)
    page = client.get("/followup").get_data(as_text=True)
    assert "pow_token" in page
    token = _field(page, "pow_token")
    response = client.post("/followup", data={"csrf_token": csrf_token(page), "receipt": "1" * 20,
                                              "pow_token": token, "pow_solution": ""})
    assert response.status_code == 400 and "请再等" in response.get_data(as_text=True)
    assert 'value="11111111111111111111"' in response.get_data(as_text=True)


def test_each_lookup_is_counted_and_a_wrong_one_counted_as_failed(reporting, installed):
    reporting.open("1" * 20)
    reporting.open(reporting.submit())
    with session_scope(installed.url) as db:
        assert flood.rate_per_minute(db, flood.RECEIPT_ATTEMPT) * flood.WINDOW_MINUTES == 2
        assert flood.rate_per_minute(db, flood.RECEIPT_FAILED) * flood.WINDOW_MINUTES == 1


def test_honeypot_filled_is_refused_with_the_text_kept(reporting, reporter, installed):
    fields = reporting.form_fields(description="机器人填了蜜罐", website="http://spam.example")
    response = reporter.post("/tip", data={**fields, "action": "send"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "请勿填写此栏" in body and "机器人填了蜜罐" in body


def test_stockpiled_tokens_wait_longer_and_stale_ones_are_refused(installed, monkeypatch):
    """Security review H2: tokens cost nothing to collect, so collecting many must not pay."""
    s = settings()
    with session_scope(installed.url) as db:
        _flood_db(db, 60)
        first = flood.issue_challenge(db, s, SECRET)
        for _ in range(40):
            last = flood.issue_challenge(db, s, SECRET)
        assert last.wait >= first.wait * 4
        # a token from a calm moment is refused once the pressure is far higher
        low_token = first.token
        _flood_db(db, 3000)
        assert flood.difficulty(db, s) > first.bits + flood.STALE_BITS
        with pytest.raises(flood.FloodError) as stale:
            flood.check(db, s, SECRET, low_token, solve(low_token, first.bits))
        assert stale.value.reason == "challenge_expired"


def _flood_db(db, count):
    for _ in range(count):
        flood.record(db, flood.SUBMISSION)


def test_malformed_receipts_cost_and_count_nothing(reporting, installed):
    reporting.open("12345")
    reporting.open("not a receipt at all")
    with session_scope(installed.url) as db:
        assert flood.rate_per_minute(db, flood.RECEIPT_ATTEMPT) == 0
        assert flood.rate_per_minute(db, flood.RECEIPT_FAILED) == 0
