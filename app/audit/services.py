"""The tamper-evident audit log: every row carries the SHA-256 of the row before it.

Appends are serialised (an advisory lock on PostgreSQL, SQLite's single writer taken before the last
row is read), so that two workers never fork the chain. Row ids are assigned here, one after the
other, so that a deleted row leaves a gap that `verify` names.
"""

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from app import clock
from app.audit.models import AuditEntry

GENESIS = "0" * 64
_PG_LOCK_KEY = 0x7469706C  # "tipl": one advisory lock for the audit chain
MAX_DETAIL_CHARS = 4000

# Actions (the names are part of the log's meaning: do not rename).
LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
LOGOUT = "logout"
PASSWORD_CHANGE = "password.change"  # noqa: S105 (an action name, not a password)
SETUP_COMPLETE = "setup.complete"
QUEUE_VIEW = "queue.view"
TIP_OPEN = "tip.open"
TIP_STATUS = "tip.status"
TIP_OUTCOME = "tip.outcome"
TIP_ASSIGN = "tip.assign"
TIP_TAGS = "tip.tags"
TIP_DUPLICATE = "tip.duplicate"
TIP_NOTE = "tip.note"
TIP_REPLY = "tip.reply"
TIP_EXPORT = "tip.export"
ADMIN_INSPECTOR_ADD = "admin.inspector.add"
ADMIN_INSPECTOR_GRANTS = "admin.inspector.grants"
ADMIN_INSPECTOR_DISABLE = "admin.inspector.disable"
ADMIN_INSPECTOR_ENABLE = "admin.inspector.enable"
ADMIN_INSPECTOR_REMOVE = "admin.inspector.remove"
ADMIN_INSPECTOR_RESET = "admin.inspector.reset"
ADMIN_OFFICE_ADD = "admin.office.add"
ADMIN_OFFICE_ROTATE = "admin.office.rotate_key"
ADMIN_OFFICE_RECOVER = "admin.office.recover"
ADMIN_AUDIT_VIEW = "admin.audit.view"


def _canonical_detail(detail: dict[str, Any] | None) -> str:
    text_ = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if len(text_) > MAX_DETAIL_CHARS:
        raise ValueError("audit detail too large")
    return text_


def row_hash(entry_id: int, at: float, actor_id: int | None, action: str, target: str, detail: str,
             prev_hash: str) -> str:
    """SHA-256 over a canonical serialisation of every column but the hash itself."""
    canonical = json.dumps(["audit/v1", entry_id, repr(float(at)), actor_id, action, target, detail, prev_hash],
                           ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _hash_of(entry: AuditEntry) -> str:
    return row_hash(entry.id, entry.at, entry.actor_id, entry.action, entry.target, entry.detail,
                    entry.prev_hash)


def _take_chain_lock(db: Session) -> None:
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        # A write statement (even one that matches nothing) takes SQLite's single write lock for the
        # rest of the transaction, before the last row is read: no other writer can slip in between.
        db.execute(update(AuditEntry).where(AuditEntry.id == -1).values(action=AuditEntry.action))


def record(db: Session, action: str, *, actor_id: int | None = None, target: str = "",
           detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append a row in the caller's transaction (the action and its record commit together)."""
    _take_chain_lock(db)
    query = select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    if db.get_bind().dialect.name not in {"postgresql", "sqlite"}:
        query = query.with_for_update()
    last = db.execute(query).first()
    entry = AuditEntry(
        id=(last.id + 1) if last else 1,
        at=round(clock.now(), 6),
        actor_id=actor_id,
        action=action,
        target=str(target)[:128],
        detail=_canonical_detail(detail),
        prev_hash=last.hash if last else GENESIS,
    )
    entry.hash = _hash_of(entry)
    db.add(entry)
    db.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    head: str
    bad_row: int | None = None
    problem: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.rows} audit rows, chain intact, head {self.head}"
        return f"FAILED at row {self.bad_row}: {self.problem}"


def _rows(db: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    after = 0
    while True:
        chunk = list(db.scalars(select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(batch)))
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].id


def verify(db: Session) -> VerifyResult:
    """Walk the chain from the first row; name the first row that was edited, deleted or moved."""
    expected_id, expected_prev, count = 1, GENESIS, 0
    for entry in _rows(db):
        if entry.id != expected_id:
            missing = f"row {expected_id}" if entry.id == expected_id + 1 else f"rows {expected_id}–{entry.id - 1}"
            return VerifyResult(False, count, expected_prev, expected_id,
                                f"{missing} missing (deleted) before row {entry.id}")
        if _hash_of(entry) != entry.hash:
            return VerifyResult(False, count, expected_prev, entry.id,
                                "contents do not match the row's hash (edited or moved)")
        if entry.prev_hash != expected_prev:
            return VerifyResult(False, count, expected_prev, entry.id,
                                "does not follow the previous row (a row was deleted, replaced or reordered)")
        expected_id, expected_prev, count = entry.id + 1, entry.hash, count + 1
    return VerifyResult(True, count, expected_prev)


def count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(AuditEntry)) or 0


def page(db: Session, *, page_number: int, per_page: int, action: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.scalars(query.offset((page_number - 1) * per_page).limit(per_page)))


def parse_detail(entry: AuditEntry) -> dict[str, Any]:
    try:
        value = json.loads(entry.detail)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
