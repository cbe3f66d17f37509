"""Decrypted tip summaries, held in memory only for the inspector sessions that opened them.

Burden type, platform, issuing body, frequency, hours and region are encrypted, yet the queue filters
and the dashboard need them for every tip. Opening 100,000 tips costs seconds (one HPKE open each,
and cryptography holds the GIL, so the first build forks one process per core). After that:

- the summaries stay in this process's memory, keyed by office key, together with the sessions
  ("holders") that presented that key; when the last holder logs out or goes idle the entry is
  dropped, so no plaintext outlives the sessions that opened it, and none is ever written anywhere;
- each later view only syncs what changed: tips updated by inspectors carry a commit-ordered
  revision; new tips are found by their date (arrivals are deliberately not numbered); deletions
  by a count check. The long free-text account is never cached.
"""

import gc
import logging
import multiprocessing
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import String, create_engine, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

import crypto
from app import clock
from app.reporting.models import Tip, TipRevision
from app.reporting.services import CONTENT, TipContent

OfficeKeys = dict[int, crypto.PrivateKey]
PARALLEL_THRESHOLD = 4000
COMPLETION_CHUNK = 5000  # rows per step of the background completion (~7 ms)
log = logging.getLogger(__name__)

_CLEAR = (Tip.id, Tip.office_id, Tip.office_key_id, Tip.status, Tip.received_on, Tip.updated_on,
          Tip.closed_on, Tip.assignee_id, Tip.duplicate_of_id, Tip.revision)


@dataclass(slots=True)
class IndexedTip:
    id: str
    office_id: int
    office_key_id: int
    status: str
    received_on: date
    updated_on: date | None
    closed_on: date | None
    assignee_id: int | None
    duplicate_of_id: str | None
    revision: int
    # Every field but the free-text account (description is ""). Read-only: rows with the same
    # burden types share one list (across the keys of a build), so that a large index is not
    # 100,000 more objects for the cyclic collector to walk. Content that changes must be opened
    # again into a new row, never patched in place.
    content: TipContent
    # What another module derived from this tip's content (analytics' facts), kept with it.
    derived: object = None
    # One dict for all the tips of an index entry, for values derived from content that many tips
    # share (analytics interns its facts there). Like `derived`, it lives and dies with the entry.
    shared: dict = field(default_factory=dict)


# id, office_id, office_key_id, status, received_on, updated_on, closed_on, assignee_id,
# duplicate_of_id, revision: IndexedTip's first fields, in order.
_Clear = tuple[str, int, int, str, date, date | None, date | None, int | None, str | None, int]


def _summary(raw: bytes) -> TipContent:
    content = TipContent.from_bytes(raw)
    content.description = ""
    return content


BurdenLists = dict[tuple, list]


def _opened(rows: Iterable, keys: OfficeKeys, lists: BurdenLists | None = None) -> Iterator[tuple[_Clear, TipContent]]:
    """rows: the clear columns followed by key_for_office and content, in _select_full's order (they
    are unpacked by position) →
    (the clear values, the summary) for every row the keys open.

    lists: one list per distinct set of burden types, shared by the rows that have it (see
    IndexedTip), across all the shares of a build."""
    days: dict[str, date] = {}  # the few hundred distinct dates, each parsed once
    lists = {} if lists is None else lists

    def day(value: Any) -> Any:
        if value is None or type(value) is date:
            return value
        found = days.get(value)
        if found is None:
            found = days[value] = date.fromisoformat(value)
        return found

    for row in rows:
        (tip_id, office_id, key_id, status, received_on, updated_on, closed_on, assignee_id, duplicate_of_id,
         revision, sealed, token) = row
        key = keys.get(key_id)
        if key is None or not sealed:
            continue
        try:
            data_key = crypto.open_key(sealed, key, owner=tip_id, purpose="office")
            content = _summary(crypto.decrypt_field(data_key, token, tip_id=tip_id, purpose=CONTENT))
        except (crypto.CryptoError, ValueError, TypeError):
            continue
        burdens = content.burden_types
        if type(burdens) is list and all(type(code) is str for code in burdens):
            content.burden_types = lists.setdefault(tuple(burdens), burdens)
        yield (tip_id, office_id, key_id, status, day(received_on), day(updated_on), day(closed_on),
               assignee_id, duplicate_of_id, revision), content


def _open_rows(rows: Iterable, keys: OfficeKeys, lists: BurdenLists | None = None) -> list[IndexedTip]:
    with without_cyclic_gc():
        return [IndexedTip(*clear, content) for clear, content in _opened(rows, keys, lists)]


_gc_lock = threading.RLock()  # re-entrant: a finalizer run by a collection under it may come back here
_gc_depth = 0
_gc_was_enabled = False
_gc_collect = False  # the last one out runs a full collection (see without_cyclic_gc)
_gc_promoted = False  # objects moved to the oldest generation that no full collection has walked yet
SETTLE_AT_LATEST = 5.0  # seconds after a promotion, whatever becomes of the response


@contextmanager
def without_cyclic_gc(*, long_lived: bool = False) -> Iterator[None]:
    """Building 100,000 summaries allocates ~10 objects each, none in a cycle; the cyclic collector
    would otherwise walk the growing heap again and again while they are made. The collector is
    process-wide: threads count their uses, and the last one out turns it back on.

    long_lived: what is made inside stays (an index entry). Left in the youngest generation, those
    million objects would be walked three times over by the collector's next passes (young,
    middle, old: ~0.3 s at 100,000 tips, in this request or a later one). When long-lived work is
    the last one out and ends normally, it moves everything alive to the oldest generation
    instead, without walking anything (gc.freeze then gc.unfreeze). Garbage cycles alive at that
    moment, any thread's, move too, and only a full collection frees them: settle() does, by
    itself SETTLE_AT_LATEST seconds later at the latest (the index calls it sooner, once the view's
    response has been sent). When other work is still inside, or the long-lived work failed, the
    last one out runs the full collection at once instead, as before: nobody would settle after
    it. Nothing is left frozen."""
    global _gc_depth, _gc_was_enabled, _gc_collect
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    ended = False
    try:
        yield
        ended = True
    finally:
        with _gc_lock:
            _gc_depth -= 1
            last = _gc_depth == 0
            promote = long_lived and last and ended and not _gc_collect and gc.get_freeze_count() == 0
            _gc_collect = _gc_collect or (long_lived and not promote)
            if last:
                collect, enable = _gc_collect, _gc_was_enabled
                _gc_collect = False
                try:
                    if enable and promote:
                        _promote()
                    elif enable and collect:
                        gc.collect()
                finally:
                    if enable:
                        gc.enable()


def _promote() -> None:
    """Everything alive to the oldest generation, unwalked; settled by a timer at the latest."""
    global _gc_promoted
    try:
        gc.freeze()
    finally:
        gc.unfreeze()  # even if a signal lands in between: nothing may stay frozen
    _gc_promoted = True
    timer = threading.Timer(SETTLE_AT_LATEST, settle)
    timer.name, timer.daemon = "gc settle", True
    timer.start()


def settle() -> None:
    """One full collection after a promotion (no-op without one): it walks the moved objects once,
    frees the garbage cycles moved along with them, and becomes the collector's new baseline, so
    that its next full pass is far off."""
    global _gc_promoted
    with _gc_lock:
        if _gc_promoted:
            _gc_promoted = False
            gc.collect()


# A forked opener sends its share back through a pipe. Pickling 50,000 objects and unpickling them
# in the parent would cost a third of the opening itself, so the share travels packed: each value
# that repeats (status, dates, platform, body, region, level…) once in a table, and per tip a
# tuple of plain ints, floats and the id.
def _pack(opened: Iterable[tuple]) -> tuple[list, list[tuple], list[tuple]]:
    """(table, packed, loose): a row whose content holds something a table cannot key (a list, a
    nested value, as only a hand-made ciphertext could) travels loose, as plain values."""
    codes: dict[tuple, int] = {}
    values: list = []

    def code(value: object) -> int:
        key = (value.__class__, value)  # 1, 1.0 and True stay apart
        found = codes.get(key)
        if found is None:
            found = codes[key] = len(values)
            values.append(value)
        return found

    packed, loose = [], []
    for clear, c in opened:
        tip_id, office_id, key_id, status, received_on, updated_on, closed_on, assignee_id, duplicate_of_id, revision = clear
        try:
            if not (isinstance(c.burden_types, list) and all(type(b) is str for b in c.burden_types)):
                raise TypeError
            packed.append((tip_id, office_id, key_id, code(status), code(received_on),
                           code(updated_on), code(closed_on), assignee_id, duplicate_of_id,
                           revision, code(tuple(c.burden_types)), code(c.platform), code(c.imposer_level),
                           code(c.imposer_name), code(c.frequency), c.hours_per_week, code(c.region)))
        except TypeError:
            loose.append((*clear, c))
    return values, packed, loose


def _unpack(table: list, packed: list[tuple], loose: list[tuple], lists: BurdenLists) -> list[IndexedTip]:
    t = table
    shared = {code: lists.setdefault(t[code], list(t[code])) for code in {p[10] for p in packed}}  # as in _opened
    with without_cyclic_gc():
        return [IndexedTip(p[0], p[1], p[2], t[p[3]], t[p[4]], t[p[5]], t[p[6]], p[7], p[8], p[9],
                           TipContent(shared[p[10]], t[p[11]], t[p[12]], t[p[13]], t[p[14]], p[15], t[p[16]], ""))
                for p in packed] + [IndexedTip(*values) for values in loose]


# The dates as the database hands them over: SQLAlchemy's conversion of SQLite's date text costs
# more per row than reading the row; _opened parses each distinct date once instead.
_CLEAR_RAW_DATES = tuple(type_coerce(column, String).label(column.key) if column.key.endswith("_on") else column
                         for column in _CLEAR)


def _select_full(key_ids: list[int], *, by_id_range: bool = False):
    """The clear columns (dates as text on SQLite, as dates on PostgreSQL), the sealed data key and
    the content of the tips of `key_ids`.

    by_id_range: the caller narrows by ranges of id and wants the rows read in primary-key order.
    Through an index on office_key_id, SQLite looks every row up at random in the tips table
    (WITHOUT ROWID, rows of ~2 KB): ~45 µs a row at 100,000 tips, against ~4 µs for a range scan
    of the table itself. `office_key_id + 0` keeps the planner off that index."""
    key_column = Tip.office_key_id + 0 if by_id_range else Tip.office_key_id
    return select(*_CLEAR_RAW_DATES, Tip.key_for_office, Tip.content).where(key_column.in_(key_ids))


def _child(connection, url: str, key_ids: list[int], keys: OfficeKeys, low: str | None, high: str | None,
           by_id_range: bool) -> None:
    # A forked child: a fresh engine (never the parent's pooled connections), the inherited parsed keys.
    try:
        engine = create_engine(url, poolclass=NullPool)
        query = _select_full(key_ids, by_id_range=by_id_range)
        if low is not None:
            query = query.where(_id_column(url) >= low)
        if high is not None:
            query = query.where(_id_column(url) < high)
        gc.disable()  # a throwaway process: never the parent's lock, which a fork may have copied held
        with engine.connect() as db:
            connection.send(_pack(_opened(db.execute(query), keys)))
        engine.dispose()
    except BaseException as error:  # noqa: BLE001 (report to the parent, never hang it)
        connection.send(error)
    finally:
        connection.close()


# Tip ids are random URL-safe base64 (app.reporting.services.new_id), so splitting their two-letter
# prefixes splits the tips evenly without reading a single id first. Other ids still fall in some
# range; only the balance would suffer.
_ID_ALPHABET = "".join(sorted("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def _id_column(url: str):
    """Tip.id compared byte by byte, as the bounds are: PostgreSQL's default collation may sort
    "KK" after "ee", and the ranges would then overlap."""
    return Tip.id.collate("C") if url.startswith("postgresql") else Tip.id


def _id_at(fraction: float) -> str:
    """The id prefix below which `fraction` of uniformly random ids fall."""
    position = min(int(fraction * 64 * 64), 64 * 64 - 1)
    return _ID_ALPHABET[position // 64] + _ID_ALPHABET[position % 64]


def _build(db: Session, keys: OfficeKeys) -> list[IndexedTip]:
    rows, large = _build_unsettled(db, keys)
    if large:
        settle()
    return rows


def _build_unsettled(db: Session, keys: OfficeKeys) -> tuple[list[IndexedTip], bool]:
    """(the rows, whether the build was large): a large build may leave its objects in the oldest
    generation unwalked, and its caller then settles (see without_cyclic_gc). A full collection
    walks the whole process: worth it for a large index, not for a few hundred tips, which the
    young generation's passes handle cheaply."""
    key_ids = list(keys)
    total = db.scalar(select(func.count()).select_from(Tip).where(Tip.office_key_id.in_(key_ids))) or 0
    large = total >= PARALLEL_THRESHOLD
    with without_cyclic_gc(long_lived=large):
        return _build_rows(db, keys, total), large


def _build_rows(db: Session, keys: OfficeKeys, total: int) -> list[IndexedTip]:
    key_ids = list(keys)
    workers = min(os.cpu_count() or 1, 8)
    if total < PARALLEL_THRESHOLD or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return _open_rows(db.execute(_select_full(key_ids)), keys)
    # A range scan reads the other offices' rows in the range too: worth it while these keys' tips
    # are more than a small part of the table (a row read is ~10 times cheaper in a scan).
    by_id_range = total * 8 >= (db.scalar(select(func.count()).select_from(Tip)) or 0)
    bounds = [_id_at(i / workers) for i in range(1, workers)]
    ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
    url = db.get_bind().engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    for low, high in ranges[1:]:  # the other shares go to forked workers ...
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(sender, url, key_ids, keys, low, high, by_id_range),
                                  daemon=True)
        process.start()
        sender.close()
        pipes.append(receiver)
        processes.append(process)
    # ... and this process opens the first share itself meanwhile.
    first_share = _select_full(key_ids, by_id_range=by_id_range).where(_id_column(url) < ranges[0][1])
    lists: BurdenLists = {}
    results = _open_rows(db.execute(first_share), keys, lists)
    failure: BaseException | None = None
    for receiver in pipes:
        try:
            got = receiver.recv()
        except EOFError:
            got = RuntimeError("index worker died")
        if isinstance(got, BaseException):
            failure = got
        else:
            table, packed, loose = got
            results.extend(_unpack(table, packed, loose, lists))
    for process in processes:
        process.join()
    if failure is not None:
        raise failure
    # Ranges never overlap when ids compare byte by byte; should they ever, a tip still counts once.
    return list({row.id: row for row in results}.values())


def _sharing(rows: list[IndexedTip]) -> list[IndexedTip]:
    shared: dict = {}
    for row in rows:
        row.shared = shared
    return rows


class _Entry:
    __slots__ = ("rows", "revision", "synced_on", "holders", "shared", "__weakref__")

    def __init__(self, rows: list[IndexedTip], revision: int, synced_on: date) -> None:
        self.rows = {row.id: row for row in rows}
        self.shared: dict = {}
        self.renew_shared()
        self.revision = revision
        self.synced_on = synced_on
        self.holders: dict[str, float] = {}

    def add(self, row: IndexedTip) -> None:
        row.shared = self.shared
        self.rows[row.id] = row

    def renew_shared(self) -> None:
        """Forget everything derived from the rows (some were shredded): a new dict rather than a
        cleared one. A derivation running meanwhile in another thread (a dashboard, the background
        completion) may still give a row facts with shares from the old dict; they hold that row's
        own values only, and the counts add them up by key, so nothing shredded stays and nothing
        is counted wrong."""
        self.shared = {}
        for row in self.rows.values():
            row.shared = self.shared
            row.derived = None


class TipIndex:
    def __init__(self, idle_seconds: float, *,
                 complete: Callable[[list[IndexedTip]], object] | None = None) -> None:
        """complete: more work on the rows of a large new entry (the dashboard's facts), run in a
        thread of its own once the response of the view that built the entry has been sent (see
        tips): that view does not wait for it, and a later view finds it done."""
        self.idle_seconds = idle_seconds
        self.complete = complete
        self._entries: dict[int, _Entry] = {}
        self._lock = threading.Lock()

    # -- lifetime ---------------------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        for key_id in list(self._entries):
            entry = self._entries[key_id]
            for holder, until in list(entry.holders.items()):
                if until < now:
                    del entry.holders[holder]
            if not entry.holders:
                del self._entries[key_id]

    def forget(self, holder: str) -> None:
        """A session ended: drop it, and every entry nobody else holds."""
        with self._lock:
            for entry in self._entries.values():
                entry.holders.pop(holder, None)
            self._sweep(clock.now())

    def sweep(self) -> None:
        """Drop entries whose holders have all gone idle (run on every inspector request, so an
        entry never outlives its sessions by more than the time until the site's next request)."""
        with self._lock:
            self._sweep(clock.now())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def held_key_ids(self) -> set[int]:
        with self._lock:
            return set(self._entries)

    # -- reading ----------------------------------------------------------------------------

    def tips(self, db: Session, keys: OfficeKeys, holder: str, *,
             after_response: Callable[[Callable[[], None], Callable[[], None]], None] | None = None,
             ) -> list[IndexedTip]:
        """Every tip the caller's keys open, as summaries; builds or syncs what it must.

        after_response(work, otherwise): schedules `work` for when the caller's response has been
        sent, or `otherwise` in its place after an error page. Given it, a large new entry is
        completed (`complete`) in the background from then on, and the collector settles then
        rather than in the view (see without_cyclic_gc)."""
        now = clock.now()
        with self._lock:
            for key_id, entry in self._entries.items():
                if key_id not in keys:
                    entry.holders.pop(holder, None)  # a revoked grant stops holding at once
            self._sweep(now)
            revision = db.scalar(select(TipRevision.value).where(TipRevision.id == 1)) or 0
            today = clock.today()
            missing = {k: v for k, v in keys.items() if k not in self._entries}
            if missing:
                built, large = _build_unsettled(db, missing)
                by_key: dict[int, list[IndexedTip]] = {k: [] for k in missing}
                for row in built:
                    by_key[row.office_key_id].append(row)
                for key_id, rows in by_key.items():
                    self._entries[key_id] = _Entry(rows, revision, today)
                del built
                if large and after_response is None:
                    settle()
                elif large and after_response is not None:
                    # Weakly, and the tip ids only: the rows must not outlive the entry's holders
                    # while the response waits to be sent or the work waits its turn.
                    new = [(key_id, weakref.ref(self._entries[key_id]), list(self._entries[key_id].rows))
                           for key_id in missing]
                    after_response(settle if self.complete is None else lambda: self._complete_in_background(new),
                                   settle)
            held = {k: self._entries[k] for k in keys}
            self._sync(db, keys, held, revision, today)
            out: list[IndexedTip] = []
            for entry in held.values():
                entry.holders[holder] = now + self.idle_seconds
                out.extend(entry.rows.values())
        return out

    def _complete_in_background(self, entries: list[tuple[int, "weakref.ref[_Entry]", list[str]]]) -> None:
        complete = self.complete
        assert complete is not None

        def run() -> None:
            # A chunk at a time, and only while the entry is still this index's: once its last
            # holder has gone (a logout, idle, a revoked key), the rest of it is not kept alive
            # for the work. A view that needs the work meanwhile does what is left itself.
            try:
                for key_id, ref, ids in entries:
                    for start in range(0, len(ids), COMPLETION_CHUNK):
                        entry = ref()
                        if entry is None or self._entries.get(key_id) is not entry:
                            break
                        chunk = [row for row in map(entry.rows.get, ids[start:start + COMPLETION_CHUNK])
                                 if row is not None]
                        del entry
                        complete(chunk)
                        del chunk
            except Exception as error:  # noqa: BLE001 (a view does the work itself when it needs it)
                # The class only: a message or a traceback could quote what was decrypted.
                log.warning("completing a new index entry failed (%s)", type(error).__name__)
            finally:
                settle()  # the build's objects, this work's, and the garbage moved along with them

        threading.Thread(target=run, name="index completion", daemon=True).start()

    def _sync(self, db: Session, keys: OfficeKeys, held: dict[int, _Entry], revision: int, today: date) -> None:
        if not held:
            return
        key_ids = list(held)
        oldest_revision = min(entry.revision for entry in held.values())
        if revision > oldest_revision:
            for changed in db.execute(select(*_CLEAR).where(Tip.office_key_id.in_(key_ids),
                                                            Tip.revision > oldest_revision)):
                entry = held[changed.office_key_id]
                cached = entry.rows.get(changed.id)
                if cached is not None:  # clear columns only: content is read-only (see IndexedTip)
                    cached.status, cached.updated_on = changed.status, changed.updated_on
                    cached.closed_on, cached.assignee_id = changed.closed_on, changed.assignee_id
                    cached.duplicate_of_id, cached.revision = changed.duplicate_of_id, changed.revision
        # New arrivals: by date, not by number (the day before too, for commits across midnight).
        since = min(entry.synced_on for entry in held.values()) - timedelta(days=1)
        recent = db.execute(select(Tip.id, Tip.office_key_id)
                            .where(Tip.office_key_id.in_(key_ids), Tip.received_on >= since)).all()
        unseen = [r.id for r in recent if r.id not in held[r.office_key_id].rows]
        if unseen:
            for opened in _open_rows(db.execute(_select_full(key_ids).where(Tip.id.in_(unseen))), keys):
                held[opened.office_key_id].add(opened)
        # Anything else (deletions by retention, tips stored with an earlier date by a restore or a
        # seed): a count per key tells whether the entry is off, and then the ids put it right.
        counts = dict(db.execute(select(Tip.office_key_id, func.count())
                                 .where(Tip.office_key_id.in_(key_ids)).group_by(Tip.office_key_id)).all())
        for key_id, entry in held.items():
            if counts.get(key_id, 0) != len(entry.rows):
                present = set(db.scalars(select(Tip.id).where(Tip.office_key_id == key_id)))
                gone = [t for t in entry.rows if t not in present]
                for tip_id in gone:
                    del entry.rows[tip_id]
                if gone:  # what was derived from their content goes with them
                    entry.renew_shared()
                missing = [t for t in present if t not in entry.rows]
                for start in range(0, len(missing), 500):
                    chunk = missing[start:start + 500]
                    for opened in _open_rows(db.execute(_select_full([key_id]).where(Tip.id.in_(chunk))), keys):
                        entry.add(opened)
            entry.revision = max(entry.revision, revision)
            entry.synced_on = today


def tips_for(db: Session, keys: OfficeKeys, holder: str | None = None) -> list[IndexedTip]:
    """The caller's tips as summaries: through the inspector app's index when there is a session
    to hold it (by default the inspector session of the current request), otherwise opened afresh
    (scripts and tests calling services directly)."""
    from flask import current_app, has_app_context, has_request_context, session

    if holder is None and has_request_context():
        holder = session.get("index_holder")
    index = current_app.extensions.get("tipline_index") if has_app_context() else None
    if index is None or holder is None or not keys:
        return _sharing(_build(db, keys)) if keys else []  # an index entry gives its own shared dict
    return index.tips(db, keys, holder, after_response=_after_response if has_request_context() else None)


def _after_response(work: Callable[[], None], otherwise: Callable[[], None]) -> None:
    """Run `work` when the current response is closed: once the server has sent it (and a test
    client's response when it is closed). After an error page (Flask runs after_this_request on
    those too, unless it lets the exception propagate, as in debug mode), `otherwise` runs in its
    place: the work is skipped, and a dashboard that needs it does it itself. (Should neither run,
    settle() still runs by its timer.)"""
    from flask import after_this_request

    @after_this_request
    def schedule(response):
        response.call_on_close(work if response.status_code < 400 else otherwise)
        return response
