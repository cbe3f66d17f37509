"""Upkeep on a timer: what keeps the data directory from remembering more than it must.

Every minute, rate counts older than the flood window are deleted, SQLite's WAL is emptied, and
then SQLite's reserve of free pages in a random order is refilled if it runs low and its
free-list page scrubbed after writes (so that where a new row lands says nothing of when,
app.db.keep_pages_shuffled). A submission's commit counts it in the current minute (app/flood), so
until the WAL is emptied its page images tie each new tip to the minute it came in; deleted rows
and replaced keys would stay there too. When the reporter site stops, the WAL is emptied once
more, and on SQLite (one host) every count goes. Once a day the retention purge (`run_purge` in
app/cli.py) ends like the minute job.

`tipline serve` runs these in background threads and at its exit; under gunicorn each reporter
worker runs the minute job and the master the one at exit (app/gunicorn_config.py), and a systemd
timer the daily purge (deploy/systemd). Not covered: a crash, a power cut, a SIGKILL, or readers
that keep the WAL in use for the whole minute or the whole stop; the next run, the next start
(within seconds) or the daily purge does it then.
"""

import logging
import threading
import time
from collections.abc import Callable

from app.db import (
    engine_for,
    keep_pages_shuffled,
    session_scope,
    truncate_wal,
    written_since_emptied,
)
from app.flood.services import forget_all_counts, purge_stale

INTERVAL_SECONDS = 60
WARN_AFTER_FAILURES = 10  # one failure is a reader or another worker's checkpoint at that moment
log = logging.getLogger(__name__)
_failures = 0
_written_last_run = True  # a first run scrubs: a crash or SIGKILL may have skipped it


def forget_recent(url: str, *, scrub: bool | None = None) -> bool:
    """Delete rate counts older than the flood window and empty the WAL. Then, if it could be
    emptied: refill the shuffled reserve of free pages if it runs low, and scrub the free-list
    page that records the order pages were handed out in (app.db.keep_pages_shuffled) if anything
    was written since this process's last run or the one before (a tip committed between a scrub
    and the emptying of the WAL shows in neither WAL), or on the process's first run (after a
    crash the WAL shows nothing); and empty the WAL of that. While a reader keeps the WAL from
    being emptied, both wait: they would only add to a WAL whose index keeps page order past its
    first 4,062 frames. False if readers or another checkpoint kept the WAL in use (the next run
    tries again)."""
    global _failures, _written_last_run
    engine = engine_for(url)
    written = written_since_emptied(engine)
    if scrub is None:
        scrub = written or _written_last_run
    try:
        with session_scope(url) as db:
            purge_stale(db)
    finally:
        emptied = truncate_wal(engine)
    _written_last_run = written or (scrub and not emptied)
    if emptied and keep_pages_shuffled(engine, scrub=scrub):
        emptied = truncate_wal(engine)
    _failures = 0 if emptied else _failures + 1
    if _failures == WARN_AFTER_FAILURES:
        log.warning("the database's write-ahead log has stayed in use for %d runs in a row and was not "
                    "emptied; is a long read running?", _failures)
    return emptied


def forget_at_exit(url: str, *, patience_seconds: float = 10.0) -> bool:
    """When the reporter site stops. On SQLite (one host): every count, which is only live flood
    state; then the WAL, retried while readers (the inspector site) keep it in use, for up to
    `patience_seconds`; then, as every minute, the scrub of the free-list page into the emptied
    WAL, and the WAL once more. On PostgreSQL the other hosts still count on the counts, and there
    is no WAL of ours to empty: only the old counts go, as every minute."""
    engine = engine_for(url)
    with session_scope(url) as db:
        if engine.dialect.name == "sqlite":
            forget_all_counts(db)
        else:
            purge_stale(db)
    deadline = time.monotonic() + patience_seconds
    while not (emptied := truncate_wal(engine)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if emptied and keep_pages_shuffled(engine, scrub=True):  # left to the next start if not
        emptied = truncate_wal(engine)
    if not emptied:
        log.warning("the database's write-ahead log was in use at exit and was not emptied")
    return emptied


def run_every(interval_seconds: float, job: Callable[[], object], name: str, *,
              first_delay: float = 0.0) -> threading.Event:
    """Run `job` in a daemon thread after `first_delay` seconds, then every `interval_seconds`,
    until the returned event is set. A failed run is logged and does not stop the next."""
    stop = threading.Event()

    def loop() -> None:
        if stop.wait(first_delay):
            return
        while True:
            try:
                job()
            except Exception:  # noqa: BLE001 (a failed run must not stop the next one)
                log.exception("%s failed", name)
            if stop.wait(interval_seconds):
                return

    threading.Thread(target=loop, name=name, daemon=True).start()
    return stop
