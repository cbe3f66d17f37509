"""Reading where SQLite put things, as someone with a copy of the data directory would."""

import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FreeList:
    trunks: list[int]  # the free-list pages, which list the others
    leaves: list[int]  # the free pages they list, in their order
    stale: list[int]  # non-zero entries past a trunk's count: pages handed out from it, in reverse
    counts: list[int]  # how many pages each trunk lists, the first (pages are handed out from) first


def free_list(path: Path) -> FreeList:
    """The free list of a SQLite file, read from the file itself (empty the WAL first)."""
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size  # the header's way of writing 65,536
    found = FreeList([], [], [], [])
    trunk = int.from_bytes(data[32:36], "big")
    while trunk:
        page = data[(trunk - 1) * page_size: trunk * page_size]
        count = int.from_bytes(page[4:8], "big")
        entries = [int.from_bytes(page[i: i + 4], "big") for i in range(8, page_size, 4)]
        found.trunks.append(trunk)
        found.counts.append(count)
        found.leaves += entries[:count]
        found.stale += [entry for entry in entries[count:] if entry]
        trunk = int.from_bytes(page[:4], "big")
    return found


def first_overflow_pages(connection: sqlite3.Connection, table: str) -> list[int]:
    """The first overflow page of each row of `table` that has one, in the table's key order.

    dbstat names an overflow page by the path of the b-tree page that holds the row, the row's cell
    number and the page's place in the chain ('/003/00a+000000'). In a WITHOUT ROWID table the
    cells of interior pages are rows too, each between the subtrees on either side of it."""
    cells = []
    for path, pageno in connection.execute(
            "SELECT path, pageno FROM dbstat WHERE name = ? AND pagetype = 'overflow'", (table,)):
        if not path.endswith("+000000"):
            continue
        node, cell = path[: -len("+000000")].rsplit("/", 1)
        children = [int(part, 16) for part in node.split("/") if part]
        cells.append(([(child, 0) for child in children] + [(int(cell, 16), 1)], pageno))
    return [pageno for _, pageno in sorted(cells)]


def free_list_of_a_copy(database: Path, scratch: Path) -> FreeList:
    """free_list() of a copy of the database and its WAL, checkpointed: what a copy of the data
    directory shows, without touching the live files (emptying their WAL would change the app's
    view of what was written since)."""
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / database.name
    for suffix in ("", "-wal"):
        source = database.with_name(database.name + suffix)
        if source.exists():
            shutil.copyfile(source, copy.with_name(copy.name + suffix))
    with closing(sqlite3.connect(copy)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    found = free_list(copy)
    for suffix in ("", "-wal", "-shm"):
        copy.with_name(copy.name + suffix).unlink(missing_ok=True)
    return found
