"""SQLite settings that the promises and the benchmarks rely on (app/db.py)."""

import sqlite3
import time

import pytest

from app.db import BUSY_TIMEOUT_MS, WAL_SIZE_LIMIT, make_engine, truncate_wal


@pytest.fixture
def engine(tmp_path):
    """An engine as the app makes it, on a database with one table t (b BLOB)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'tipline.sqlite3'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (b BLOB)")
    yield engine
    engine.dispose()


def test_sqlite_wal_is_reused_and_cut_back_to_its_limit(engine, tmp_path):
    wal = tmp_path / "tipline.sqlite3-wal"
    with engine.begin() as connection:
        # A large transaction (a tip with big files): the WAL grows past the limit, and the
        # commit's automatic checkpoint copies it into the database.
        connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(6 * 1024 * 1024))")
    assert wal.stat().st_size > WAL_SIZE_LIMIT
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (x'00')")
    # The next cycle starts over in the same file, cut back to the limit: neither left at
    # 6 MiB nor cut to nothing (which would make every commit of the cycle grow the file).
    assert wal.stat().st_size == WAL_SIZE_LIMIT
    with engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2


def test_truncate_wal_empties_the_file_and_gives_up_quickly_while_a_reader_holds_it(engine, tmp_path):
    wal = tmp_path / "tipline.sqlite3-wal"
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(9000))")
    assert wal.stat().st_size > 0
    reader = sqlite3.connect(tmp_path / "tipline.sqlite3", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (1,)  # holds its snapshot
    start = time.monotonic()
    assert truncate_wal(engine, wait_ms=200) is False
    assert time.monotonic() - start < 5
    assert wal.stat().st_size > 0
    reader.execute("COMMIT")
    reader.close()
    assert truncate_wal(engine) is True
    assert wal.stat().st_size == 0
    with engine.begin() as connection:  # the pooled connection waits as long as before
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
