"""SQLite settings that the promises and the benchmarks rely on (app/db.py)."""

import random
import sqlite3
import struct
import time
from contextlib import closing
from itertools import pairwise

import pytest
from alembic import command

from app.db import (
    BUSY_TIMEOUT_MS,
    RESERVE_LOW,
    RESERVE_PAGES,
    WAL_INDEX_BLOCK,
    WAL_SIZE_LIMIT,
    keep_pages_shuffled,
    make_engine,
    truncate_wal,
)
from app.install.services import alembic_config, migrate
from tests.sqlite_pages import FreeList, free_list


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


def test_truncate_wal_leaves_no_page_order_in_the_wal_index(engine, tmp_path):
    for _ in range(30):  # commits, each with its pages
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(5000))")

    def pages_listed() -> set[int]:
        # The first block of the -shm file: a 136-byte header, then the page number of each of
        # the WAL's first 4,062 frames (native byte order).
        data = (tmp_path / "tipline.sqlite3-shm").read_bytes()[136: 136 + 4062 * 4]
        return {number for (number,) in struct.iter_unpack("=I", data) if number}

    assert len(pages_listed()) > 30
    assert truncate_wal(engine)
    assert pages_listed() <= {1}  # the header page's image, written to clear it
    assert (tmp_path / "tipline.sqlite3-wal").stat().st_size == 0


def test_truncate_wal_clears_the_wal_index_past_its_first_block(engine, tmp_path):
    shm = tmp_path / "tipline.sqlite3-shm"
    # A reader on an old snapshot (a long backup) keeps the WAL from starting over, so it grows
    # past the 4,062 frames whose pages the first block of the WAL index lists.
    reader = sqlite3.connect(tmp_path / "tipline.sqlite3", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (0,)
    for _ in range(6):
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(4 * 1024 * 1024))")

    def beyond_first_block() -> set[int]:
        # Each further 32 KiB block: the page numbers of 4,096 frames, then their hash table.
        data = shm.read_bytes()[WAL_INDEX_BLOCK:]
        return {number for block in range(0, len(data), WAL_INDEX_BLOCK)
                for (number,) in struct.iter_unpack("=I", data[block: block + 4096 * 4]) if number}

    listed = beyond_first_block()
    assert len(listed) > 1000
    size = shm.stat().st_size
    assert truncate_wal(engine, wait_ms=100) is False  # still in use: nothing is touched
    assert beyond_first_block() == listed
    reader.execute("COMMIT")
    assert truncate_wal(engine)
    assert shm.read_bytes()[WAL_INDEX_BLOCK:] == bytes(size - WAL_INDEX_BLOCK)
    assert shm.stat().st_size == size
    # Every connection, the reader still open too, goes on working through a WAL that grows
    # into the zeroed blocks again.
    for _ in range(6):
        reader.execute("INSERT INTO t VALUES (randomblob(4 * 1024 * 1024))")
    with engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 12
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert reader.execute("SELECT count(*), sum(length(b)) FROM t").fetchone() == (12, 12 * 4 * 1024 * 1024)
    reader.close()


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


def test_the_reserve_of_free_pages_is_refilled_when_low_shuffled_and_zeroed(engine, tmp_path):
    database = tmp_path / "tipline.sqlite3"

    def count(pragma: str) -> int:
        with engine.connect() as connection:
            return connection.exec_driver_sql(f"PRAGMA {pragma}").scalar_one()

    assert keep_pages_shuffled(engine, pages=300, low=150) == 300
    assert count("freelist_count") >= 300
    with engine.connect() as connection:  # the table that made it is gone with its transaction
        assert connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all() == ["t"]
    size = count("page_count")
    assert keep_pages_shuffled(engine, pages=300, low=150) == 0  # enough left: nothing written
    assert count("page_count") == size
    with engine.begin() as connection:  # tips come in and take free pages
        for _ in range(200):
            connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(3000))")
    assert count("freelist_count") < 150
    assert count("page_count") == size  # taken from the reserve, none appended
    assert keep_pages_shuffled(engine, pages=300, low=150) == 300
    assert count("freelist_count") >= 300
    assert truncate_wal(engine)
    free = free_list(database)
    assert len(free.trunks) + len(free.leaves) == count("freelist_count")
    assert free.stale == []
    data, page_size = database.read_bytes(), count("page_size")
    # Zeroed (secure_delete): no filler, and none of the random keys whose order shuffled them.
    assert not any(any(data[(p - 1) * page_size: p * page_size]) for p in free.leaves)
    # Handed out (slot by slot) in an order unrelated to where they are in the file.
    assert 0.25 < sum(b < a for a, b in pairwise(free.leaves)) / len(free.leaves) < 0.75


def test_a_scrub_rewrites_the_free_list_page_that_lists_what_was_handed_out(engine, tmp_path):
    database = tmp_path / "tipline.sqlite3"
    keep_pages_shuffled(engine, pages=3000, low=1500)
    for _ in range(40):  # tips, one commit each
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(4200))")
    with engine.connect() as connection:
        handed_out = [row[0] for row in connection.exec_driver_sql(
            "SELECT pageno FROM dbstat WHERE name = 't' AND pagetype = 'overflow' AND path LIKE '%+000000'")]
    assert truncate_wal(engine)
    # SQLite only lowered the free-list page's count: its old entries are the pages just handed
    # out (all but the first, whose slot took the last entry).
    assert len(handed_out) == 40 and len(set(handed_out) - set(free_list(database).stale)) <= 1
    assert keep_pages_shuffled(engine, pages=3000, low=1500) == 0  # enough free: no refill
    assert keep_pages_shuffled(engine, pages=3000, low=1500, scrub=True) > 0
    assert truncate_wal(engine)
    assert free_list(database).stale == []


def _scrub_after_tips(engine, database, rng) -> tuple[int, FreeList]:
    """Tips, of any size and in any number, then a scrub: the pages it took, and the free list."""
    with engine.begin() as connection:
        for _ in range(rng.randint(1, 400)):
            connection.exec_driver_sql("INSERT INTO t VALUES (randomblob(?))", (rng.randint(100, 20_000),))
    taken = keep_pages_shuffled(engine, scrub=True)
    assert truncate_wal(engine)
    return taken, free_list(database)


def test_scrubs_and_refills_leave_the_free_list_page_pages_come_from_full(engine, tmp_path):
    # A free-list page that lists few pages is used up, and then handed out itself, by the next few
    # tips; its stale list of what it handed out then stays in the unused end of the row that takes
    # it. A full one lists 1,016 (at 4 KiB): over 4 MiB of new rows before the next upkeep run.
    database = tmp_path / "tipline.sqlite3"
    rng = random.Random(6)
    taken = set()
    for _ in range(8):
        pages, free = _scrub_after_tips(engine, database, rng)
        taken.add(pages)
        assert free.counts == [1016] * len(free.trunks)
        assert free.stale == []
        assert len(free.trunks) + len(free.leaves) >= RESERVE_LOW
    assert taken == {RESERVE_PAGES, 1024}  # refills when the tips used half, scrubs otherwise
    with engine.connect() as connection:
        held = connection.exec_driver_sql("SELECT filler FROM page_ballast").scalars().all()
        assert len(held) == 1 and not any(held[0])  # one row of zeroes...
        assert len(held[0]) < 1017 * 4096  # ...of less than a full free-list page's worth
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() > 8


@pytest.mark.parametrize("by_hand", [
    "CREATE VIEW page_ballast AS SELECT 1 AS filler",
    "CREATE TABLE page_ballast (id INTEGER PRIMARY KEY, filler BLOB, note TEXT)",
    "CREATE TABLE page_ballast (id INTEGER PRIMARY KEY, filler BLOB); "
    "INSERT INTO page_ballast VALUES (1, zeroblob(9000)), (2, zeroblob(90000))",
])
def test_a_ballast_made_by_hand_is_replaced_and_the_reserve_kept(engine, tmp_path, by_hand):
    database = tmp_path / "tipline.sqlite3"
    with engine.begin() as connection:
        for statement in by_hand.split("; "):
            connection.exec_driver_sql(statement)
    rng = random.Random(7)
    for _ in range(3):
        assert _scrub_after_tips(engine, database, rng)[1].counts[0] == 1016
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM page_ballast").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA freelist_count").scalar() >= RESERVE_LOW


def test_pages_with_reserved_bytes_leave_the_first_free_list_page_full_too(tmp_path):
    database = tmp_path / "tipline.sqlite3"
    with closing(sqlite3.connect(database)) as connection:  # a new file: its first page only
        connection.execute("PRAGMA user_version=1")
        connection.commit()
    header = bytearray(database.read_bytes())
    header[20] = 32  # bytes reserved at the end of every page (as an extension may ask)
    header[105:107] = (4096 - 32).to_bytes(2, "big")  # the empty first page's content starts there
    database.write_bytes(bytes(header))
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (b BLOB)")
    rng = random.Random(8)
    for _ in range(3):
        counts = _scrub_after_tips(engine, database, rng)[1].counts
        assert counts == [(4096 - 32) // 4 - 8] * len(counts)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    engine.dispose()


def test_the_ballast_is_not_taken_for_a_model_the_migrations_forgot(tmp_path):
    url = f"sqlite:///{tmp_path / 'tipline.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    assert keep_pages_shuffled(engine) == RESERVE_PAGES
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM page_ballast").scalar() == 1
    engine.dispose()
    command.check(alembic_config(url))  # raises if autogenerate would drop the table


def test_the_reserve_is_sqlite_only():
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected to
    assert keep_pages_shuffled(engine) == 0
