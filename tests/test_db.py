"""SQLite settings that the promises and the benchmarks rely on (app/db.py)."""

from app.db import WAL_SIZE_LIMIT, make_engine


def test_sqlite_wal_is_reused_and_cut_back_to_its_limit(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'tipline.sqlite3'}")
    wal = tmp_path / "tipline.sqlite3-wal"
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (b BLOB)")
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
    finally:
        engine.dispose()
