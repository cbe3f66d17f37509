"""Crash consistency (issue 7, item 5; DESIGN.md promise 5: nothing acknowledged is lost).

The reporter site runs under REAL gunicorn with the production configuration (two sync workers,
flood protection off for the load) on 127.0.0.1. Sixteen submitter threads send tips through the
forms, like browsers with JavaScript off, some with one to three attachments (PNG and text files
whose cleaned form is known byte for byte). At random moments the whole gunicorn process group —
master and workers — gets SIGKILL, several times, and gunicorn is started again on the same port and
data while the clients carry on. Each restart must serve receipts again.

Then, with the site stopped cleanly, on the database the site used (SQLite in the data directory, or
PostgreSQL with --db=postgresql):
- every receipt any client saw opens its tip through the reporter services, with exactly the content
  sent and exactly the files sent (count, names, bytes);
- every tip in the database, opened with the office's recovery key, is one a client tried to send,
  with that content and ALL of its files, each of which decrypts through to its final chunk — so a
  tip stored without a receipt ever reaching its sender is still never a partial tip;
- nothing is broken or locked: SQLite's integrity and foreign-key checks, no lock or transaction
  left behind, every table writable at once.
The checks check themselves: a changed byte, a changed character, a missing file and a missing
final chunk must each be reported.
"""

import random
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import func, select, text

import crypto
from app import create_reporter_app
from app.db import session_scope
from app.evidence import services as evidence
from app.evidence.models import Attachment, AttachmentChunk, HeldUpload, HeldUploadChunk
from app.offices.models import OfficeKey
from app.offices.services import open_with_recovery_key
from app.reporting import services
from app.reporting.models import Message, Tip
from app.sessions import ServerSession
from tests.adversarial.crashload import (
    HTTP_TIMEOUT,
    RECEIPT_RETRY_SECONDS,
    Attempt,
    CrashableSite,
    LoadState,
    SentFile,
    Submitter,
)
from tests.conftest import TEST_SECRET, csrf_token

pytestmark = pytest.mark.slow

SUBMITTERS = 16
KILLS = 4
KILL_DELAY = (0.5, 3.0)  # seconds after a (re)start has served its first receipt
FIRST_RECEIPT_TIMEOUT = 60.0  # a restarted site that serves no receipt in this time did not come back
FINAL_RUN_SECONDS = 3.0
THROUGH_FOLLOWUP_PAGE = 3  # receipts also opened through POST /followup of a fresh reporter app
MARKER = re.compile(r"^标记 ([0-9a-f]{24})\r\n")


@dataclass(frozen=True)
class StoredFile:
    name: str
    kind: str
    size: int
    removed: tuple[str, ...]
    data: bytes


# --- reading back --------------------------------------------------------------------------------


def chunk_problems(db, model, owner_column, owner_id: str, stored_size: int | None) -> list[str]:
    """Chunk rows must be 0..n-1 without a gap, a header and at least one sealed chunk."""
    rows = db.execute(select(model.index, func.length(model.data)).where(owner_column == owner_id)
                      .order_by(model.index)).all()
    problems = []
    if [index for index, _ in rows] != list(range(len(rows))):
        problems.append(f"{owner_id}: chunk indexes {[index for index, _ in rows]}")
    if len(rows) < 2:
        problems.append(f"{owner_id}: {len(rows)} chunk rows (a header and a final chunk at least)")
    if stored_size is not None and stored_size != sum(length for _, length in rows):
        problems.append(f"{owner_id}: stored_size {stored_size} != {sum(length for _, length in rows)} stored")
    return problems


def read_files(db, tip_id: str, data_key: bytes) -> tuple[list[StoredFile], list[str]]:
    """Every attachment row of the tip, meta and content decrypted to the final chunk."""
    files, problems = [], []
    for attachment in db.scalars(select(Attachment).where(Attachment.tip_id == tip_id)):
        if attachment.message_id is not None:
            problems.append(f"tip {tip_id}: attachment {attachment.id} belongs to a message")
        problems += chunk_problems(db, AttachmentChunk, AttachmentChunk.attachment_id, attachment.id,
                                   attachment.stored_size)
        try:
            info = evidence.describe(attachment, data_key)
            data = b"".join(evidence.plaintext(db, attachment, data_key))
        except (crypto.CryptoError, ValueError) as error:
            problems.append(f"tip {tip_id}: attachment {attachment.id} does not decrypt ({error!r})")
            continue
        if len(data) != info.size:
            problems.append(f"tip {tip_id}: attachment {info.name} is {len(data)} bytes, meta says {info.size}")
        files.append(StoredFile(info.name, info.kind, info.size, tuple(info.removed), data))
    return files, problems


def compare(attempt: Attempt, content: services.TipContent, files: list[StoredFile]) -> list[str]:
    """What was sent against what is stored: the content field by field, the files exactly."""
    problems = []
    expected = services.TipContent(**attempt.content)
    if content != expected:
        for name, value in vars(expected).items():
            if getattr(content, name) != value:
                problems.append(f"{attempt.marker}: {name} stored {getattr(content, name)!r}, sent {value!r}")
    want = sorted((f.name, f.kind, len(f.data), (), f.data) for f in attempt.files)
    have = sorted((f.name, f.kind, f.size, f.removed, f.data) for f in files)
    if want != have:
        problems.append(f"{attempt.marker}: files stored {[(n, k, s, r) for n, k, s, r, _ in have]} "
                        f"(bytes equal: {[w[4] == h[4] for w, h in zip(want, have, strict=False)]}), "
                        f"sent {[(n, k, s) for n, k, s, _, _ in want]}")
    return problems


def office_keys(db, recovery_key: str) -> dict[int, bytes]:
    return {key.id: open_with_recovery_key(key, recovery_key) for key in db.scalars(select(OfficeKey))}


# --- the checks ----------------------------------------------------------------------------------


def check_receipts(url: str, receipts: list[Attempt]) -> tuple[dict[str, Attempt], list[str]]:
    """Every receipt opens its tip through the reporter services, with exactly what was sent."""
    by_tip: dict[str, Attempt] = {}
    problems = []
    with session_scope(url) as db:
        for attempt in receipts:
            opened = services.open_with_receipt(db, attempt.receipt)
            if opened is None:
                how = "by reloading the receipt page after the send's answer was lost" if attempt.recovered else ""
                problems.append(f"receipt of {attempt.marker} (shown by gunicorn start {attempt.receipt_generation}"
                                f"{how and ', ' + how}) opens no tip")
                continue
            if opened.tip_id in by_tip:
                problems.append(f"receipts of {attempt.marker} and {by_tip[opened.tip_id].marker} open one tip")
            by_tip[opened.tip_id] = attempt
            view = services.read_for_reporter(db, opened)
            if view is None:
                problems.append(f"receipt of {attempt.marker}: tip {opened.tip_id} does not read")
                continue
            if view.status != "new" or view.outcome is not None or view.messages:
                problems.append(f"receipt of {attempt.marker}: status {view.status}, messages {view.messages}")
            files, file_problems = read_files(db, opened.tip_id, opened.data_key)
            listed = evidence.list_attachments(db, opened.tip_id, opened.data_key)  # what the reporter sees
            if len(listed) != len(attempt.files):
                problems.append(f"receipt of {attempt.marker}: the follow-up lists {len(listed)} files, "
                                f"{len(attempt.files)} were sent")
            problems += file_problems + compare(attempt, view.content, files)
    return by_tip, problems


@dataclass
class DatabaseSummary:
    tips: int
    attachments: int
    held_uploads: int
    unacknowledged: Counter


def check_every_tip(url: str, recovery_key: str, attempts: list[Attempt],
                    by_tip: dict[str, Attempt]) -> tuple[DatabaseSummary, list[str]]:
    """Every tip in the database is complete: one that a client sent, with that content and all its files."""
    by_marker = {a.marker: a for a in attempts}
    seen: dict[str, str] = {}
    problems = []
    unacknowledged: Counter = Counter()
    with session_scope(url) as db:
        keys = office_keys(db, recovery_key)
        tip_ids = list(db.scalars(select(Tip.id)))
        for tip_id in tip_ids:
            tip = db.get(Tip, tip_id)
            try:
                data_key = crypto.open_key(tip.key_for_office, keys[tip.office_key_id], owner=tip.id,
                                           purpose="office")
                content = services.TipContent.from_bytes(
                    crypto.decrypt_field(data_key, tip.content, tip_id=tip.id, purpose=services.CONTENT))
            except (crypto.CryptoError, KeyError, ValueError, TypeError) as error:
                problems.append(f"tip {tip_id} does not open with the office key ({error!r})")
                continue
            match = MARKER.match(content.description)
            attempt = by_marker.get(match.group(1)) if match else None
            if attempt is None:
                problems.append(f"tip {tip_id} was sent by no client: {content.description[:60]!r}")
                continue
            if attempt.marker in seen:
                problems.append(f"{attempt.marker} stored twice: tips {seen[attempt.marker]} and {tip_id}")
            seen[attempt.marker] = tip_id
            if tip_id in by_tip and by_tip[tip_id] is not attempt:
                problems.append(f"tip {tip_id}: its receipt was {by_tip[tip_id].marker}'s, its content {attempt.marker}'s")
            if attempt.receipt is not None and tip_id not in by_tip:
                problems.append(f"tip {tip_id} of {attempt.marker} has a receipt that did not open it")
            if attempt.receipt is None:
                unacknowledged[attempt.outcome] += 1
            files, file_problems = read_files(db, tip_id, data_key)
            problems += file_problems + compare(attempt, content, files)
        # Nothing outside a tip, nothing half-held.
        orphans = db.scalar(select(func.count()).select_from(AttachmentChunk).where(
            AttachmentChunk.attachment_id.not_in(select(Attachment.id)))) or 0
        if orphans:
            problems.append(f"{orphans} attachment chunks belong to no attachment")
        stray = db.scalar(select(func.count()).select_from(Attachment).where(Attachment.tip_id.not_in(select(Tip.id))))
        if stray:
            problems.append(f"{stray} attachments belong to no tip")
        if db.scalar(select(func.count()).select_from(Message)):
            problems.append("messages exist, none was sent")
        held = list(db.execute(select(HeldUpload.id, HeldUpload.stored_size, HeldUpload.session_id)))
        sessions = set(db.scalars(select(ServerSession.id)))
        for held_id, stored_size, session_id in held:
            problems += chunk_problems(db, HeldUploadChunk, HeldUploadChunk.held_id, held_id, stored_size)
            if session_id not in sessions:
                problems.append(f"held upload {held_id} outlived its session")
        attachments = db.scalar(select(func.count()).select_from(Attachment)) or 0
    return DatabaseSummary(len(tip_ids), attachments, len(held), unacknowledged), problems


def check_the_checks(url: str, recovery_key: str, receipts: list[Attempt], by_tip: dict[str, Attempt]) -> None:
    """The comparisons above must see one changed byte, one changed character, one missing file, and a
    file cut before its final chunk; otherwise this test could not fail."""
    with_files = [a for a in receipts if a.files]
    assert with_files, "no receipt for a tip with attachments: the file checks were not exercised"
    attempt = with_files[0]
    tip_id = next(tip_id for tip_id, a in by_tip.items() if a is attempt)
    with session_scope(url) as db:
        tip = db.get(Tip, tip_id)
        data_key = crypto.open_key(tip.key_for_office, office_keys(db, recovery_key)[tip.office_key_id],
                                   owner=tip.id, purpose="office")
        content = services.TipContent.from_bytes(
            crypto.decrypt_field(data_key, tip.content, tip_id=tip.id, purpose=services.CONTENT))
        files, problems = read_files(db, tip_id, data_key)
        assert compare(attempt, content, files) == [] and problems == []
        first = attempt.files[0]
        flipped = bytes([first.data[0] ^ 1]) + first.data[1:]
        one_byte = replace(attempt, files=[replace(first, data=flipped), *attempt.files[1:]])
        assert compare(one_byte, content, files), "a changed byte went unnoticed"
        one_char = replace(attempt, content={**attempt.content, "description": attempt.content["description"] + "。"})
        assert compare(one_char, content, files), "a changed character went unnoticed"
        assert compare(replace(attempt, files=attempt.files[1:]), content, files), "a missing file went unnoticed"
        extra = replace(attempt, files=[*attempt.files, SentFile("x.txt", b"x", "txt")])
        assert compare(extra, content, files), "a file too many went unnoticed"
        # Cut the file before its final chunk (rolled back): reading it must fail.
        attachment_id = db.scalar(select(Attachment.id).where(Attachment.tip_id == tip_id))
        last = db.scalar(select(func.max(AttachmentChunk.index)).where(AttachmentChunk.attachment_id == attachment_id))
        db.execute(AttachmentChunk.__table__.delete().where(AttachmentChunk.attachment_id == attachment_id,
                                                            AttachmentChunk.index == last))
        files, problems = read_files(db, tip_id, data_key)
        assert problems, "a file without its final chunk went unnoticed"
        db.rollback()


def check_followup_page(config: dict, receipts: list[Attempt]) -> None:
    """A few receipts through the reporter's own route, in a fresh app (POST /followup)."""
    app = create_reporter_app({**config, "FLOOD_PROTECTION": "off"})
    # Receipts that came by reloading the page after a lost answer first, then tips with files.
    chosen = sorted(receipts, key=lambda a: (not a.recovered, not a.files))[:THROUGH_FOLLOWUP_PAGE]
    for attempt in chosen:
        client = app.test_client()
        page = client.get("/followup").get_data(as_text=True)
        opened = client.post("/followup", data={"csrf_token": csrf_token(page), "receipt": attempt.receipt})
        assert opened.status_code == 303, (attempt.marker, opened.status_code)
        shown = client.get(opened.headers["Location"])
        html = shown.get_data(as_text=True)
        assert shown.status_code == 200 and attempt.marker in html, attempt.marker
        for f in attempt.files:
            assert f.name in html, (attempt.marker, f.name)


def check_nothing_locked(url: str, backend: str, data_dir) -> list[str]:
    """After the clean stop: nothing else holds the database, and every table can be written at once."""
    tables = ["tips", "attachments", "attachment_chunks", "held_uploads", "sessions", "rate_buckets"]
    problems = []
    if backend == "sqlite":
        path = url.removeprefix("sqlite:///")
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            integrity = connection.execute("PRAGMA integrity_check").fetchall()
            if integrity != [("ok",)]:
                problems.append(f"integrity_check: {integrity[:20]}")
            foreign = connection.execute("PRAGMA foreign_key_check").fetchall()
            if foreign:
                problems.append(f"foreign_key_check: {foreign[:20]}")
            try:
                connection.execute("BEGIN IMMEDIATE")  # the write lock, without waiting
                connection.execute("ROLLBACK")
            except sqlite3.OperationalError as error:
                problems.append(f"the database is still locked: {error}")
        finally:
            connection.close()
        return problems
    with session_scope(url) as db:
        deadline = time.monotonic() + 10
        while True:  # backends of killed workers go when they notice; after a clean stop, promptly
            others = db.execute(text(
                "SELECT pid, state, left(query, 80) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'")).all()
            db.rollback()
            if not others or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if others:
            problems.append(f"backends still busy after the stop: {others}")
        if db.execute(text("SELECT count(*) FROM pg_prepared_xacts")).scalar():
            problems.append("prepared transactions left behind")
        db.execute(text("SET LOCAL lock_timeout = '1s'"))
        for table in tables:
            try:
                db.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE NOWAIT"))
            except Exception as error:  # noqa: BLE001 (reported)
                problems.append(f"{table} is still locked: {error}")
                break
        db.rollback()
    return problems


# --- the test ------------------------------------------------------------------------------------


def _wait_for_receipt(state: LoadState, site: CrashableSite, generation: int, submitters: list[Submitter]) -> float:
    started = time.monotonic()
    while state.receipts_in(generation) == 0:
        dead = [s.name for s in submitters if not s.is_alive()]
        assert not dead, f"submitters died: {dead} {[s.error for s in submitters if s.error]}"
        if time.monotonic() - started > FIRST_RECEIPT_TIMEOUT:
            raise AssertionError(
                f"gunicorn start {generation} served no receipt within {FIRST_RECEIPT_TIMEOUT:.0f} s "
                f"(anomalies: {state.anomalies[-5:]}):\n{site.output()[-6000:]}")
        time.sleep(0.05)
    return time.monotonic() - started


def test_kill_9_under_load_loses_no_acknowledged_tip(request, installed, config, database_backend, tmp_path):
    if database_backend == "postgresql":
        request.applymarker(pytest.mark.postgres)
    began = time.monotonic()
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    site = CrashableSite(tmp_path / "run", {
        "TIPLINE_DATA_DIR": str(installed.data_dir), "TIPLINE_DATABASE_URL": installed.url,
        "TIPLINE_SECRET_KEY": TEST_SECRET, "TIPLINE_FLOOD_PROTECTION": "off"}, workers=2)
    state = LoadState(port=site.port)
    submitters = [Submitter(state, index, seed + index) for index in range(SUBMITTERS)]
    kills, comeback = 0, []
    try:
        site.start()
        state.generation = site.generation
        for submitter in submitters:
            submitter.start()
        for _ in range(KILLS):
            comeback.append(_wait_for_receipt(state, site, site.generation, submitters))
            time.sleep(rng.uniform(*KILL_DELAY))
            with state.lock:  # anything that succeeds from now on was served by the next start
                state.generation = site.generation + 1
            site.kill()
            kills += 1
            site.start()
            assert site.generation == state.generation
        comeback.append(_wait_for_receipt(state, site, site.generation, submitters))
        time.sleep(FINAL_RUN_SECONDS)
        state.stop.set()
        for submitter in submitters:  # each finishes the tip it is sending, against a live site
            submitter.join(2 * HTTP_TIMEOUT + RECEIPT_RETRY_SECONDS)
        assert not [s.name for s in submitters if s.is_alive()], "submitters did not finish"
        site.stop()
        assert site.current.process.returncode == 0, site.output()[-4000:]
    finally:
        state.stop.set()
        left = site.sweep()
        for submitter in submitters:
            if submitter.ident is not None:
                submitter.join(5)
    assert not left, f"gunicorn processes left running: {left}"
    load_seconds = time.monotonic() - began
    assert [s.error for s in submitters if s.error] == []
    assert state.anomalies == [], "\n".join(f"client {a.client} {a.stage}: {a.detail}" for a in state.anomalies[:20])

    # --- after the clean stop ---
    problems = check_nothing_locked(installed.url, database_backend, installed.data_dir)
    receipts = state.receipts()
    assert receipts, "no receipt at all"
    by_tip, receipt_problems = check_receipts(installed.url, receipts)
    summary, tip_problems = check_every_tip(installed.url, installed.recovery_key, state.attempts, by_tip)
    problems += receipt_problems + tip_problems
    assert problems == [], f"{len(problems)} problems (seed {seed}):\n" + "\n".join(problems[:40])
    check_the_checks(installed.url, installed.recovery_key, receipts, by_tip)
    check_followup_page(config, receipts)

    per_generation = Counter(a.receipt_generation for a in receipts)
    assert all(per_generation[g] > 0 for g in range(1, kills + 2)), per_generation
    assert summary.tips >= len(receipts)
    outcomes = Counter(a.outcome for a in state.attempts)
    print(f"\n[crash consistency, {database_backend}] seed {seed}; {kills} kills (SIGKILL to master and workers); "
          f"{len(state.attempts)} attempts, {len(receipts)} receipts received "
          f"({sum(a.recovered for a in receipts)} by reloading the receipt page after the send's answer was lost); "
          f"receipts per start {dict(sorted(per_generation.items()))}; first receipt after each start within "
          f"{[round(c, 1) for c in comeback]} s; tips in the database {summary.tips} "
          f"({summary.tips - len(receipts)} stored without a receipt reaching the client: "
          f"{dict(summary.unacknowledged)}); attachments {summary.attachments} "
          f"({sum(len(a.files) for a in receipts)} with received receipts); held uploads left "
          f"{summary.held_uploads}; connection errors {state.connection_errors}; outcomes {dict(outcomes)}; "
          f"load {load_seconds:.1f} s, total {time.monotonic() - began:.1f} s")
