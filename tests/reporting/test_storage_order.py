"""Where a tip's pages land in the SQLite file must not tell when it came (app.db.keep_pages_shuffled).

Tips carry their date only. But SQLite numbers the pages it appends in the order it needs them, and a
tip's keys and sealed content overflow its b-tree page: without the shuffled reserve of free pages,
the page numbers of a copied database list the tips in arrival order, between the audit log's pages,
whose rows carry the time of day.
"""

import sqlite3
from itertools import pairwise

from click.testing import CliRunner
from sqlalchemy import select

from app import create_reporter_app, upkeep
from app.audit import services as audit
from app.cli import main
from app.db import session_scope
from app.reporting.models import Tip
from tests.conftest import ADMIN_PASSWORD, ClosingClient, ReporterActions
from tests.sqlite_pages import first_overflow_pages, free_list, free_list_of_a_copy


def descents(numbers: list[int]) -> int:
    """How often a number is smaller than the one before: 0 for numbers handed out in order, about
    half the pairs for numbers in a random order."""
    return sum(later < earlier for earlier, later in pairwise(numbers))


def test_a_copied_database_does_not_tell_the_order_tips_came_in(tmp_path, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["init", "--admin", "admin", "--json"], input=ADMIN_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    app = create_reporter_app({"DATA_DIR": str(tmp_path), "FLOOD_PROTECTION": "off"})
    app.test_client_class = ClosingClient
    url = app.config["DATABASE_URL"]
    arrivals: list[str] = []
    for number in range(40):
        ReporterActions(app.test_client()).submit(description=f"第{number}条：每天打卡，积分排名。")
        with session_scope(url) as db:
            arrivals += sorted(set(db.scalars(select(Tip.id))) - set(arrivals))
            for action in range(10):  # an inspector at work between two tips: timed audit rows
                audit.record(db, "tip.viewed", actor_id=1, target=f"{number}-{action}",
                             detail={"note": "x" * 200})
    assert len(arrivals) == 40
    connection = sqlite3.connect(tmp_path / "tipline.sqlite3")
    try:
        ids = [row[0] for row in connection.execute("SELECT id FROM tips ORDER BY id")]
        page_of = dict(zip(ids, first_overflow_pages(connection, "tips"), strict=True))
        audit_pages = [row[0] for row in connection.execute(
            "SELECT pageno FROM dbstat WHERE name = 'audit_log' AND pagetype = 'leaf' ORDER BY path")]
    finally:
        connection.close()
    in_arrival_order = [page_of[tip] for tip in arrivals]
    # Appended, these would be 0 and 0. Shuffled: ~19.5 of 39 pairs, and about half the audit
    # log's ~30 pages; a random order gives fewer than 10 (or 2) once in millions of runs.
    assert descents(in_arrival_order) >= 10, in_arrival_order
    assert len(audit_pages) > 10 and descents(audit_pages) >= 2, audit_pages

    # But the free-list page they came from lists them still, past its count, in the order it
    # handed them out (backwards), until the minute's upkeep writes it afresh.
    database, scratch = tmp_path / "tipline.sqlite3", tmp_path / "copy"
    stale = free_list_of_a_copy(database, scratch).stale
    found = [stale.index(page) for page in in_arrival_order if page in stale]
    assert len(found) >= 30 and descents(found) >= len(found) - 3, found
    assert upkeep.forget_recent(url)
    assert free_list(database).stale == []
