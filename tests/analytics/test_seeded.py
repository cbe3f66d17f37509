"""What will be checked: with `tipline seed --count 2000`, the dashboard's counts match an independent
count of the seeded tips, and the transparency page shows no cell under 5 after publishing.

The independent count decrypts every tip on its own through app.triage.services (data_key and
read_content), never through the analytics code, and groups the seeded platform names by a table
written out by hand below.
"""

import html as htmllib
import re
import time
from collections import Counter

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import clock
from app.analytics.models import PublishedMonth
from app.cli import main
from app.db import session_scope
from app.reporting.models import Tip
from app.reporting.taxonomy import BURDEN_CODES, STATUSES
from app.seeding import PLATFORMS
from app.triage import services as triage
from tests.analytics.helpers import default_keys

pytestmark = pytest.mark.slow

COUNT = 2000
# The seed's deliberate spelling variants, grouped by hand; every other name stands alone.
SAME_PLATFORM = [{"XX学习APP", "xx学习 app", "ＸＸ学习ＡＰＰ"}, {"智慧党建", "智慧党建客户端"},
                 {"平安乡村", "平安乡村小程序"}, {"网格通", "网格通APP"}]


def hand_group(name: str) -> frozenset[str]:
    return next((frozenset(g) for g in SAME_PLATFORM if name in g), frozenset({name}))


def table(html: str, table_id: str) -> str:
    match = re.search(rf'<table class="data[^"]*" id="table-{table_id}">(.*?)</table>', html, re.S)
    assert match, table_id
    return match.group(1)


def counts_by_key(html: str, table_id: str) -> dict[str, int]:
    return {htmllib.unescape(k): int(n) for k, n in
            re.findall(r'<tr data-key="([^"]*)">.*?<td class="num count">(\d+)</td>', table(html, table_id), re.S)}


def platform_groups(html: str) -> dict[frozenset[str], tuple[int, int]]:
    """The dashboard's platform rows as {raw spellings listed: (tip count, sum of the spellings' counts)}."""
    groups = {}
    for row in re.findall(r'<tr data-key="[^"]*">(.*?)</tr>', table(html, "platforms"), re.S):
        count = int(re.search(r'<td class="num count">(\d+)</td>', row).group(1))
        spellings = re.findall(r'<span class="spelling">([^<]*)</span>.*?<span class="spelling-count">(\d+)</span>',
                               row, re.S)
        names = frozenset("" if raw == "（未填）" else htmllib.unescape(raw) for raw, _n in spellings)
        groups[names] = (count, sum(int(n) for _raw, n in spellings))
    return groups


@pytest.fixture
def seeded(installed):
    env = {"TIPLINE_DATA_DIR": str(installed.data_dir), "TIPLINE_DATABASE_URL": installed.url}
    result = CliRunner().invoke(main, ["seed", "--count", str(COUNT), "--seed", "1"], env=env)
    assert result.exit_code == 0, result.output
    return installed


def independent_count(installed):
    keys = default_keys(installed)
    burden, platforms, statuses, months = Counter(), Counter(), Counter(), Counter()
    with session_scope(installed.url) as db:
        tips = list(db.scalars(select(Tip)))
        for tip in tips:
            content = triage.read_content(tip, triage.data_key(tip, keys))
            burden.update(set(content.burden_types))
            platforms[hand_group(content.platform.strip())] += 1
            statuses[tip.status] += 1
            months[tip.received_on.strftime("%Y-%m")] += 1
    return len(tips), burden, platforms, statuses, months


def test_dashboard_matches_an_independent_count_and_the_public_page_has_no_small_cell(seeded, inspector,
                                                                                     inspector_client, reporter):
    total, burden, platforms, statuses, months = independent_count(seeded)
    assert total == COUNT
    assert set(platforms) <= {hand_group(p) for p in PLATFORMS}

    inspector.login()
    started = time.perf_counter()
    response = inspector_client.get("/analytics/")
    elapsed = time.perf_counter() - started
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    print(f"\ndashboard over {COUNT} seeded tips: {elapsed:.2f} s")

    assert re.search(rf'<dd id="total">{COUNT}</dd>', html)
    assert counts_by_key(html, "burden") == {code: burden.get(code, 0) for code in BURDEN_CODES}
    assert counts_by_key(html, "statuses") == {status: statuses.get(status, 0) for status in STATUSES}
    assert sum(counts_by_key(html, "statuses").values()) == COUNT
    shown_months = counts_by_key(html, "months")
    assert {m: n for m, n in shown_months.items() if n} == dict(months)
    # platforms: one row per hand-made group, the spellings it lists are exactly that group's
    # (those that occur), and the counts agree
    expected = {group: n for group, n in platforms.items()}
    shown = platform_groups(html)
    assert len(shown) == len(expected)
    for spellings, (count, spelled) in shown.items():
        group = hand_group(next(iter(spellings)))
        assert spellings <= group, spellings
        assert count == spelled == expected[group], (spellings, count, expected[group])
    assert sum(count for count, _s in shown.values()) == COUNT
    # the 500-hour guard never trips on the seed (it caps at 25 h), and no total is lost
    assert "已按 60 小时计入合计" not in html

    # publish every closed month that has tips, then read the public page and the stored rows
    token_page = "/analytics/"
    closed = [m for m in sorted(months) if m < clock.today().strftime("%Y-%m")]
    assert len(closed) >= 12
    for month in closed:
        response = inspector.post(token_page, "/analytics/publish", {"month": month, "scope": "all"})
        assert response.status_code == 303
    with session_scope(seeded.url) as db:
        rows = list(db.scalars(select(PublishedMonth)))
    assert sorted(r.month for r in rows) == closed
    page = reporter.get("/transparency").get_data(as_text=True)
    cells = re.findall(r'class="(?:num )?count[^"]*">([^<]*)<', page)
    assert len(cells) == len(closed) * (2 + len(BURDEN_CODES) + len(STATUSES))
    assert all(c == "&lt;5" or int(c) >= 5 for c in cells), [c for c in cells if c != "&lt;5" and int(c) < 5]
    assert "&lt;5" in cells  # the early, thin months of the seed do have small cells
    for month in closed:
        assert f'id="month-{month}"' in page
