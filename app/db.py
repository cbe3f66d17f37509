"""Database engine, declarative base and the per-request session.

Services take a Session and never commit; the view commits once, so a tip and everything that
belongs to it land in one transaction or not at all.
"""

import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# The WAL is reused from its start after each checkpoint, not cut to nothing: a WAL truncated at
# every checkpoint grows again on every commit of the next cycle, and a file that grows makes each
# commit's fsync also journal its new size (a third of a submission's commit under load, see
# bench/submissions). One cycle (wal_autocheckpoint's 1,000 pages of 4 KiB with their frame
# headers, ~4.1 MB) fits under this limit; a WAL grown past it by a large transaction is cut back
# to it by the first commit after the next checkpoint. What the WAL holds is emptied by
# truncate_wal() every minute (app/upkeep.py) and after each retention purge.
WAL_SIZE_LIMIT = 4 * 1024 * 1024
BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL for concurrent readers; FULL sync so an acknowledged tip survives power loss;
    # secure_delete so deleted ciphertext and keys are overwritten rather than left in free pages.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    cursor.close()


# SQLite's WAL index is made of blocks of 32 KiB (WALINDEX_PGSZ in its wal.c). The first holds
# the header and the page numbers of the WAL's first 4,062 frames; each further block those of the
# next 4,096.
WAL_INDEX_BLOCK = 32 * 1024


def _clear_wal_index(connection: Connection) -> None:
    """The WAL index (-shm) lists, in commit order, the pages of the frames a WAL held, until the
    next write starts it over: on a quiet line, for days. Make that write now, one that touches
    only the header page, then empty the WAL of it. Left to the next write if the lock is taken.

    That write starts over only the first block. A WAL that grew past 4,062 frames (a long reader
    kept it from being emptied) leaves the rest of its list in the blocks beyond, which SQLite
    zeroes one by one only as a WAL grows that far again; _zero_wal_index_tail zeroes them now."""
    try:
        version = int(connection.exec_driver_sql("PRAGMA user_version").scalar_one())
        connection.exec_driver_sql(f"PRAGMA user_version={version}")
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        _zero_wal_index_tail(connection)
    except OperationalError:
        pass  # the lock was taken: the next run clears it
    except OSError as error:
        log.warning("could not clear the WAL index (%s); the next run tries again", type(error).__name__)


def _zero_wal_index_tail(connection: Connection) -> None:
    """Zero the WAL index past its first block, as SQLite itself zeroes a block when the WAL's
    first frame in it is written, and only when no connection can be using those blocks: under the
    write lock (no frame can be added) with the WAL empty (a reader then looks up no frame at all,
    and one still on older frames would have kept the WAL from being emptied). Every connection
    maps the file shared, so each sees the zeroes at once. Otherwise left to the next run."""
    path = _database_path(connection)
    if not path:
        return  # an in-memory database has no files
    wal_index = f"{path}-shm"
    if not os.path.exists(wal_index) or os.path.getsize(wal_index) <= WAL_INDEX_BLOCK:
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        if os.path.getsize(f"{path}-wal") == 0:
            with open(wal_index, "r+b") as file:
                size = os.fstat(file.fileno()).st_size  # never written past: others map it
                for offset in range(WAL_INDEX_BLOCK, size, WAL_INDEX_BLOCK):
                    file.seek(offset)
                    if any(file.read(WAL_INDEX_BLOCK)):  # the -shm never shrinks: skip what is clear
                        file.seek(offset)
                        file.write(bytes(min(WAL_INDEX_BLOCK, size - offset)))
    finally:
        connection.rollback()


def _database_path(connection: Connection) -> str:
    """The main database's file ('' for one in memory)."""
    main = connection.exec_driver_sql("PRAGMA database_list").first()
    return (main[2] if main is not None else "") or ""


def _usable_size(connection: Connection) -> int:
    """The bytes of a page SQLite uses: the page size less the bytes reserved at the end of each
    page (byte 20 of the file's header; none unless an extension asked for them)."""
    page_size = int(connection.exec_driver_sql("PRAGMA page_size").scalar_one())
    path = _database_path(connection)
    if not path or not os.path.exists(path):
        return page_size
    with open(path, "rb") as file:
        header = file.read(21)
    return page_size - (header[20] if len(header) == 21 else 0)


def truncate_wal(engine: Engine, *, wait_ms: int = 250) -> bool:
    """Copy SQLite's WAL into the database and cut the file to nothing, so that no page image of
    an earlier moment stays behind in it (a rate count next to the tip it counted, a deleted row,
    a replaced key), nor the order of its pages in the WAL index. On a connection of its own.

    A passive checkpoint comes first: it neither waits nor blocks anyone. Only when it has copied
    every frame does the truncating one run, which holds the write lock while it waits for readers
    still on the WAL, so it waits at most `wait_ms` (a long read, such as an inspector's first index
    build, must not stall submissions). False if readers or another checkpoint kept the WAL in use:
    the caller tries again later. Nothing to do on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as connection:
        busy, frames, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        if busy or frames != copied:
            return False
        try:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_ms)}")
            busy, _frames, _copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            if busy == 0:
                _clear_wal_index(connection)
            connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except BaseException:
            connection.invalidate()  # never back into the pool with the short wait
            raise
    return busy == 0


# Where a row's pages land must not record when it came. SQLite appends a page it needs at the end
# of the file when no page is free, so a tip's overflow pages (its keys and sealed content do not
# fit on a b-tree page) would be numbered in arrival order, between the pages of the audit log,
# whose rows carry the time of day: a copied database would tell the order of the tips and
# bracket each between two inspector actions. So a reserve of free pages is kept, freed in a
# random order: SQLite takes a new page from the free list first, so pages are handed out in an
# order that says nothing of time. 12 MiB at 4 KiB pages, refilled when half is used.
def _free_list_page_worth(usable: int) -> int:
    """A full free-list page and the pages it lists (SQLite lists at most usable / 4 - 8)."""
    return usable // 4 - 7


RESERVE_PAGES = 3 * _free_list_page_worth(4096)  # 3,051: see _fill_first_free_list_page
RESERVE_LOW = RESERVE_PAGES // 2


def keep_pages_shuffled(engine: Engine, *, pages: int = RESERVE_PAGES, low: int = RESERVE_LOW,
                        scrub: bool = False) -> int:
    """Refill SQLite's free list to about `pages` pages, in a random order, when fewer than `low`
    are free; with `scrub`, rewrite the free-list page that pages are handed out from even when
    enough are free. The number of pages taken and freed again (0: nothing done, or not SQLite).

    Why scrub: SQLite hands out the entries of that page (slot 0, then the last, then the one
    before...) and only lowers its count, so the entries past the count list, in order, every page
    handed out since the page was written: the order of the tips after all. Taking more pages
    than one free-list page can list uses all of its entries and then the page itself; freeing
    them again writes fresh, zeroed free-list pages. Run it after writes (app/upkeep.py does every
    minute there were any), and the order of the pages handed out lasts until then.

    In one transaction: rows of exactly one overflow page each, under random keys, take free
    pages (the old ones too, so they are shuffled with the new) and then the end of the file; then
    the table is dropped, which frees the pages in key order, a random one. secure_delete (on for
    every connection) zeroes them, keys included, and the table is gone when the transaction
    commits. Last, the ballast is set so that the free-list page pages come from next is full
    (_fill_first_free_list_page). It holds the write lock while it writes (a fraction of a
    second)."""
    if engine.dialect.name != "sqlite":
        return 0
    with engine.connect() as connection:
        usable = _usable_size(connection)
        if not scrub and _free_once_filled(connection, usable) >= low:
            return 0
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            if _free_once_filled(connection, usable) < low:
                rows = pages
            elif scrub:
                rows = usable // 4  # more than a free-list page's worth
            else:  # another process refilled it while this one waited
                connection.rollback()
                return 0
            keys: set[int] = set()
            while len(keys) < rows:
                keys.add(secrets.randbits(62))
            connection.exec_driver_sql("DROP TABLE IF EXISTS page_reserve")  # left by hand, say
            connection.exec_driver_sql("CREATE TABLE page_reserve (id INTEGER PRIMARY KEY, filler BLOB)")
            # Each row fills exactly one overflow page, so an old free-list page it takes is
            # overwritten whole.
            connection.exec_driver_sql("INSERT INTO page_reserve VALUES (?, zeroblob(?))",
                                       [(key, _filling(usable, 1)) for key in keys])
            connection.exec_driver_sql("DROP TABLE page_reserve")
            _fill_first_free_list_page(connection, usable)
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
    return rows


def _filling(usable: int, pages: int) -> int:
    """The length of a blob whose row fills exactly `pages` overflow pages and keeps a few bytes
    over SQLite's minimum on its b-tree page (sqlite.org/fileformat2.html, "Cell Payload Overflow
    Pages": the minimum is kept on the b-tree page, the rest fills whole overflow pages)."""
    if pages == 0:
        return 0
    return pages * (usable - 4) + (usable - 12) * 32 // 255 - 23


# What _fill_first_free_list_page makes, and the largest page it is made for: at 4 KiB a free-list
# page's worth is 4 MiB, at 8 KiB already 16 MiB, and the ballast holds up to one.
BALLAST_COLUMNS = [("id", "INTEGER", 1), ("filler", "BLOB", 0)]
BALLAST_MAX_USABLE = 4096


def _fill_first_free_list_page(connection: Connection, usable: int) -> None:
    """Leave the free-list page that pages are handed out from full.

    Freed pages go onto that page until it lists usable / 4 - 8 of them, then the next freed page
    becomes a new one in front; pages are handed out from it, then it is handed out itself. So
    every free-list page but the first is full, and the first lists (free - 1) mod (usable / 4 - 7)
    pages: after a scrub, anything from none to all. A page that few use up soon, and when it is
    handed out its stale list of the pages handed out since the scrub (their order) stays in the
    unused end of the row that takes it. So a ballast row, `page_ballast`, holds just so many
    pages that the free count is a multiple of a full page's worth, and the first page is full: at
    4 KiB it takes over 4 MiB of new rows between two upkeep runs to use it up. The ballast holds
    fewer than one page's worth, only zeroes. Not made at pages over 4 KiB (see above)."""
    if usable > BALLAST_MAX_USABLE:
        return
    per_page = _free_list_page_worth(usable)
    held = _ballast(connection, usable)
    if held is None:
        kind = connection.exec_driver_sql("SELECT type FROM sqlite_schema WHERE name = 'page_ballast'").scalar()
        if kind in ("table", "view", "index", "trigger"):
            connection.exec_driver_sql(f"DROP {kind.upper()} page_ballast")  # not one made here
        if connection.exec_driver_sql("PRAGMA freelist_count").scalar_one() < per_page:
            return  # too few free pages to fill one: all of them stay free
        # Made first: its own page comes from the free list.
        connection.exec_driver_sql("CREATE TABLE page_ballast (id INTEGER PRIMARY KEY, filler BLOB)")
    total = connection.exec_driver_sql("PRAGMA freelist_count").scalar_one() + (held or 0)
    wanted = total - _left_free(total, usable)
    if held != wanted:
        # Rewriting the row frees its pages and takes `wanted` from the free list again.
        connection.exec_driver_sql("INSERT OR REPLACE INTO page_ballast VALUES (1, zeroblob(?))",
                                   (_filling(usable, wanted),))


def _ballast(connection: Connection, usable: int) -> int | None:
    """The pages the ballast row holds; None if there is none, or none as made here (a view, other
    columns, other rows, a length that no number of pages gives: made by hand, say)."""
    kind = connection.exec_driver_sql("SELECT type FROM sqlite_schema WHERE name = 'page_ballast'").scalar()
    if kind != "table":
        return None
    columns = [(row[1], row[2].upper(), row[5])
               for row in connection.exec_driver_sql("PRAGMA table_info(page_ballast)")]
    if columns != BALLAST_COLUMNS:
        return None
    rows = connection.exec_driver_sql("SELECT id, length(filler) FROM page_ballast LIMIT 2").all()
    if len(rows) != 1 or rows[0][0] != 1 or rows[0][1] is None:
        return None
    return next((n for n in range(_free_list_page_worth(usable)) if _filling(usable, n) == rows[0][1]), None)


def _free_once_filled(connection: Connection, usable: int) -> int:
    """The free count once the ballast is set (_left_free of the free pages and the ballast's)."""
    free = connection.exec_driver_sql("PRAGMA freelist_count").scalar_one()
    if usable > BALLAST_MAX_USABLE:
        return free
    return _left_free(free + (_ballast(connection, usable) or 0), usable)


def _left_free(pages: int, usable: int) -> int:
    """Of `pages` free or in the ballast, those left free: down to a multiple of a free-list
    page's worth (all of them, while fewer than that)."""
    worth = _free_list_page_worth(usable)
    return pages - pages % worth if pages >= worth else pages


def written_since_emptied(engine: Engine) -> bool:
    """Whether anything was committed to SQLite since the WAL was last emptied (truncate_wal)."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as connection:
        _busy, frames, _copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return bool(frames)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Any number of connections (a threaded server waiting on a KDF must not starve the pool
        # into errors); SQLite connections are cheap and its write lock serialises writers anyway.
        engine = create_engine(url, connect_args={"timeout": 30}, pool_size=10, max_overflow=-1)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    # One engine (and pool) per database per process, shared by both sites when served together.
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def dispose_engine(url: str) -> None:
    """Close the engine of `url` and forget it (a database about to be dropped, a test's done): the
    next engine_for makes a new one, and the per-engine caches, held weakly, go with the old."""
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def init_app(app: Flask) -> None:
    engine = engine_for(app.config["DATABASE_URL"])
    app.extensions["tipline_engine"] = engine
    app.extensions["tipline_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()  # rolls back anything not committed


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = current_app.extensions["tipline_sessionmaker"]()
    return g.db_session


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A committed-or-rolled-back session for the CLI and scripts."""
    session = sessionmaker(bind=engine_for(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
