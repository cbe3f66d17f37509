"""The hash-chained audit log: intact chains verify; edits, deletions and reorderings are named."""

import threading

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from app.audit import services as audit
from app.audit.models import AuditEntry
from app.cli import main
from app.db import session_scope
from app.install import services as install


@pytest.fixture
def log(database_url):
    install.migrate(database_url)
    with session_scope(database_url) as db:
        for i in range(6):
            audit.record(db, audit.TIP_OPEN, actor_id=1, target=f"tip{i}", detail={"n": i})
    return database_url


@pytest.fixture
def cli(data_dir, database_url, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("TIPLINE_SECRET_KEY", "x" * 40)

    def run():
        return CliRunner().invoke(main, ["audit", "verify"])

    return run


def _verify(url):
    with session_scope(url) as db:
        return audit.verify(db)


def test_an_intact_chain_verifies(log, cli):
    result = _verify(log)
    assert result.ok and result.rows == 6
    out = cli()
    assert out.exit_code == 0, out.output
    assert out.output.startswith("OK")


def test_an_empty_log_verifies(database_url, cli):
    install.migrate(database_url)
    assert _verify(database_url).ok
    assert cli().exit_code == 0


def test_each_row_links_to_the_previous(log):
    with session_scope(log) as db:
        rows = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert rows[0].prev_hash == audit.GENESIS
    assert [r.id for r in rows] == [1, 2, 3, 4, 5, 6]
    for before, after in zip(rows, rows[1:], strict=False):
        assert after.prev_hash == before.hash


def test_an_edited_detail_is_named(log, cli):
    with session_scope(log) as db:
        db.execute(update(AuditEntry).where(AuditEntry.id == 3).values(detail='{"n":99}'))
    result = _verify(log)
    assert not result.ok and result.bad_row == 3 and "edited" in result.problem
    out = cli()
    assert out.exit_code != 0
    assert "row 3" in out.output


@pytest.mark.parametrize("column,value", [("action", "tip.reply"), ("actor_id", 2), ("target", "other"),
                                          ("at", 1.0)])
def test_an_edit_of_any_column_is_found(log, column, value):
    with session_scope(log) as db:
        db.execute(update(AuditEntry).where(AuditEntry.id == 4).values({column: value}))
    result = _verify(log)
    assert not result.ok and result.bad_row == 4


def test_a_deleted_row_is_named(log, cli):
    with session_scope(log) as db:
        db.execute(delete(AuditEntry).where(AuditEntry.id == 2))
    result = _verify(log)
    assert not result.ok and result.bad_row == 2 and "deleted" in result.problem
    out = cli()
    assert out.exit_code != 0 and "row 2" in out.output


def test_a_deleted_first_row_is_named(log):
    with session_scope(log) as db:
        db.execute(delete(AuditEntry).where(AuditEntry.id == 1))
    result = _verify(log)
    assert not result.ok and result.bad_row == 1


def test_a_deleted_row_with_renumbering_is_found(log):
    """Delete row 2 and shift the later ids down to hide the gap: the links no longer match."""
    with session_scope(log) as db:
        db.execute(delete(AuditEntry).where(AuditEntry.id == 2))
        for i in range(3, 7):
            db.execute(update(AuditEntry).where(AuditEntry.id == i).values(id=i - 1))
    result = _verify(log)
    assert not result.ok and result.bad_row == 2


def test_two_swapped_rows_are_named(log, cli):
    with session_scope(log) as db:
        rows = {r.id: r for r in db.scalars(select(AuditEntry).where(AuditEntry.id.in_([3, 4])))}
        fields = ("at", "actor_id", "action", "target", "detail", "prev_hash", "hash")
        three = {f: getattr(rows[3], f) for f in fields}
        four = {f: getattr(rows[4], f) for f in fields}
        db.execute(update(AuditEntry).where(AuditEntry.id == 3).values(four))
        db.execute(update(AuditEntry).where(AuditEntry.id == 4).values(three))
    result = _verify(log)
    assert not result.ok and result.bad_row == 3
    out = cli()
    assert out.exit_code != 0 and "row 3" in out.output


def test_a_rehashed_edit_still_breaks_the_next_link(log):
    """Someone who recomputes the edited row's hash must also rewrite every later row."""
    with session_scope(log) as db:
        row = db.get(AuditEntry, 3)
        row.detail = '{"n":42}'
        row.hash = audit.row_hash(row.id, row.at, row.actor_id, row.action, row.target, row.detail, row.prev_hash)
    result = _verify(log)
    assert not result.ok and result.bad_row == 4


def test_detail_never_holds_large_content(database_url):
    install.migrate(database_url)
    with session_scope(database_url) as db, pytest.raises(ValueError):
        audit.record(db, audit.TIP_NOTE, detail={"text": "x" * 10000})


def test_two_threads_appending_keep_one_chain(database_url):
    install.migrate(database_url)
    errors = []

    def worker(name):
        try:
            for i in range(25):
                with session_scope(database_url) as db:
                    # some other work in the same transaction, as a request would do
                    db.execute(select(AuditEntry.id).limit(1)).all()
                    audit.record(db, audit.TIP_OPEN, target=f"{name}-{i}")
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    result = _verify(database_url)
    assert result.ok and result.rows == 50


def test_cli_verify_on_an_installed_data_dir(installed, cli, inspector):
    inspector.login()
    out = cli()
    assert out.exit_code == 0 and "OK" in out.output
