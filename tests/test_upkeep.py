"""Upkeep: a tip is tied to the minute it came in for minutes, not for as long as the WAL lasts."""

import sqlite3
import struct
import threading
import time
from contextlib import closing

from sqlalchemy import func, select

from app import clock, gunicorn_config, upkeep
from app.db import RESERVE_PAGES, session_scope
from app.flood import services as flood
from app.flood.models import RateBucket
from app.reporting.models import Tip
from tests.sqlite_pages import free_list


def _files(data_dir) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.iterdir() if p.is_file())


def test_the_minute_counted_with_a_tip_is_forgotten_by_the_next_run(reporting, installed, database_backend,
                                                                   monkeypatch):
    reporting.submit(description="计数的那一分钟")
    with session_scope(installed.url) as db:
        flood.record(db, flood.SUBMISSION)  # what a submission's commit counts with flood protection on
        minute = db.scalar(select(RateBucket.minute))
    # The count's row as SQLite stores it: the kind, then the minute as a 4-byte integer.
    row = b"submission" + struct.pack(">i", minute)
    if database_backend == "sqlite":
        assert row in _files(installed.data_dir)
    later = clock.now() + (flood.WINDOW_MINUTES + 1) * 60
    monkeypatch.setattr(clock, "now", lambda: later)
    assert upkeep.forget_recent(installed.url) is True
    with session_scope(installed.url) as db:
        assert db.scalar(select(func.count()).select_from(RateBucket)) == 0
        assert db.scalar(select(func.count()).select_from(Tip)) == 1
    if database_backend != "sqlite":
        return  # PostgreSQL: no WAL in the data directory; the count is gone, checked above
    wal = installed.data_dir / "tipline.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert row not in _files(installed.data_dir)
    # The same run left a shuffled reserve of free pages for the next tips (app.db.keep_pages_shuffled).
    with closing(sqlite3.connect(installed.data_dir / "tipline.sqlite3")) as connection:
        assert connection.execute("PRAGMA freelist_count").fetchone()[0] >= RESERVE_PAGES


def test_counts_inside_the_window_are_kept(installed):
    with session_scope(installed.url) as db:
        flood.record(db, flood.SUBMISSION)
    upkeep.forget_recent(installed.url)
    with session_scope(installed.url) as db:
        assert flood.rate_per_minute(db, flood.SUBMISSION) * flood.WINDOW_MINUTES == 1


def test_run_every_goes_on_after_a_failed_run_and_stops_when_told():
    runs: list[int] = []
    done = threading.Event()

    def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("first run fails")
        if len(runs) == 3:
            done.set()

    start = time.monotonic()
    stop = upkeep.run_every(0.01, job, "test-upkeep", first_delay=0.05)
    assert done.wait(10)
    assert time.monotonic() - start >= 0.05
    stop.set()
    deadline = time.monotonic() + 10
    while any(t.name == "test-upkeep" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name == "test-upkeep" for t in threading.enumerate())


def test_at_exit_the_counts_go_and_the_wal_is_emptied_once_readers_let_go(reporting, installed,
                                                                         database_backend, monkeypatch):
    upkeep.forget_recent(installed.url)  # the page reserve, as a running site has it
    reporting.submit(description="停机前的线索")
    with session_scope(installed.url) as db:
        flood.record(db, flood.SUBMISSION)  # inside the window: the minute job would keep it
    earlier = clock.now() - (flood.WINDOW_MINUTES + 5) * 60
    monkeypatch.setattr(clock, "now", lambda: earlier)
    with session_scope(installed.url) as db:
        flood.record(db, flood.RECEIPT_ATTEMPT)  # from before the window
    monkeypatch.undo()
    reader = None
    if database_backend == "sqlite":
        # An inspector's read in progress at the stop: the WAL is emptied once it ends.
        reader = sqlite3.connect(installed.data_dir / "tipline.sqlite3", isolation_level=None,
                                 check_same_thread=False)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM tips").fetchone()
        threading.Timer(1.0, lambda: (reader.execute("COMMIT"), reader.close())).start()
    assert upkeep.forget_at_exit(installed.url) is True
    with session_scope(installed.url) as db:
        kinds = db.scalars(select(RateBucket.kind)).all()
        assert db.scalar(select(func.count()).select_from(Tip)) == 1
    if database_backend != "sqlite":
        # Other hosts still count on the live counts; only the old one goes.
        assert kinds == [flood.SUBMISSION]
        return
    assert kinds == []
    wal = installed.data_dir / "tipline.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert free_list(installed.data_dir / "tipline.sqlite3").stale == []  # the tip's pages: scrubbed


def test_each_reporter_worker_starts_the_upkeep_with_its_database(monkeypatch):
    started = []
    monkeypatch.setattr(upkeep, "run_every", lambda interval, job, name, **kw: started.append((interval, job, name, kw)))
    called = []
    monkeypatch.setattr(upkeep, "forget_recent", lambda url: called.append(url))

    class Worker:
        class wsgi:  # noqa: N801 (gunicorn's attribute name)
            config = {"DATABASE_URL": "sqlite:////srv/tipline/tipline.sqlite3"}

    hook = gunicorn_config.site_settings("reporter")["post_worker_init"]
    hook(Worker())
    [(interval, job, name, kw)] = started
    assert interval == upkeep.INTERVAL_SECONDS == 60 and name == "tipline-upkeep"
    assert 1 <= kw["first_delay"] <= 10
    job()
    assert called == ["sqlite:////srv/tipline/tipline.sqlite3"]
    inspector = gunicorn_config.site_settings("inspector")
    assert "post_worker_init" not in inspector and "on_exit" not in inspector
    assert callable(gunicorn_config.site_settings("reporter")["on_exit"])


def test_tipline_serve_clears_up_when_stopped(installed, database_backend, tmp_path):
    # A real `tipline serve`, stopped as systemd or `kill` would stop it.
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.gunicornproc import _listening, free_port

    reporter_port, inspector_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TIPLINE_")}
    env.update({"TIPLINE_DATA_DIR": str(installed.data_dir), "TIPLINE_DATABASE_URL": installed.url,
                "HOME": str(tmp_path)})
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "tipline"), "serve", "--reporter-port", str(reporter_port),
         "--inspector-port", str(inspector_port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (_listening(reporter_port) and _listening(inspector_port)):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()[0]
            time.sleep(0.1)
        assert process.stdout is not None
        while b"inspector site:" not in process.stdout.readline():  # serving, not still starting
            assert process.poll() is None
        with session_scope(installed.url) as db:
            flood.record(db, flood.SUBMISSION)  # inside its window
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    with session_scope(installed.url) as db:
        # PostgreSQL: other hosts may count on the live count (see the test above).
        assert db.scalar(select(func.count()).select_from(RateBucket)) == (database_backend != "sqlite")
    if database_backend == "sqlite":
        wal = installed.data_dir / "tipline.sqlite3-wal"
        assert not wal.exists() or wal.stat().st_size == 0


def test_the_free_list_page_is_scrubbed_once_readers_let_go_and_on_a_first_run(reporting, installed,
                                                                              database_backend, monkeypatch):
    from app.db import engine_for, truncate_wal

    if database_backend != "sqlite":
        assert upkeep.forget_recent(installed.url) is True  # no free list or WAL of ours there
        return
    database = installed.data_dir / "tipline.sqlite3"
    wal = installed.data_dir / "tipline.sqlite3-wal"
    upkeep.forget_recent(installed.url)  # the reserve
    for number in range(5):
        reporting.submit(description=f"第{number}条")
    reader = sqlite3.connect(database, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM tips").fetchone()  # an inspector's long read
    size = wal.stat().st_size
    assert upkeep.forget_recent(installed.url) is False
    assert wal.stat().st_size < size + 1024 * 1024  # no scrub into a WAL that cannot be emptied
    reader.execute("COMMIT")
    reader.close()
    assert upkeep.forget_recent(installed.url) is True  # the scrub it owed
    assert free_list(database).stale == []

    # A crash or SIGKILL skipped the runs: the WAL shows nothing, the free-list page still lists
    # the last tips. A new process's first run scrubs all the same.
    for number in range(5):
        reporting.submit(description=f"第{number}条")
    assert truncate_wal(engine_for(installed.url))
    assert free_list(database).stale != []
    monkeypatch.setattr(upkeep, "_written_last_run", True)  # as a process starts
    assert upkeep.forget_recent(installed.url) is True
    assert free_list(database).stale == []
