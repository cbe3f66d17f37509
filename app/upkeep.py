"""Upkeep on a timer: what keeps the data directory from remembering more than it must.

Every minute, rate counts older than the flood window are deleted and SQLite's WAL is emptied. A
submission's commit counts it in the current minute (app/flood), so until the WAL is emptied its
page images tie each new tip to the minute it came in, and their order is the order the tips
arrived; deleted rows and replaced keys would stay there too. Once a day the retention purge
(`run_purge` in app/cli.py) ends the same way.

`tipline serve` runs both jobs in background threads; under gunicorn each reporter worker runs the
minute job (app/gunicorn_config.py) and a systemd timer the daily one (deploy/systemd).
"""

import logging
import threading
from collections.abc import Callable

from app.db import engine_for, session_scope, truncate_wal
from app.flood.services import purge_stale

INTERVAL_SECONDS = 60
log = logging.getLogger(__name__)


def forget_recent(url: str) -> bool:
    """Delete rate counts older than the flood window, then empty the WAL. False if readers kept
    the WAL in use (the next run tries again)."""
    with session_scope(url) as db:
        purge_stale(db)
    emptied = truncate_wal(engine_for(url))
    if not emptied:
        log.warning("the database's write-ahead log is in use and was not emptied; the next run tries again")
    return emptied


def run_every(interval_seconds: float, job: Callable[[], object], name: str, *,
              first_delay: float = 0.0) -> threading.Thread:
    """Run `job` in a daemon thread after `first_delay` seconds, then every `interval_seconds`. A
    failed run is logged and does not stop the next."""
    stop = threading.Event()

    def loop() -> None:
        stop.wait(first_delay)
        while True:
            try:
                job()
            except Exception:  # noqa: BLE001 (a failed run must not stop the next one)
                log.exception("%s failed", name)
            stop.wait(interval_seconds)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
