"""Retention: closed tips are crypto-shredded a set number of days after they were closed.

Shredding happens in two committed steps: first the sealed data keys are destroyed (after that no
password, receipt or recovery key can open the tip, even from a backup of the rows), then the
ciphertext rows themselves are deleted (messages, notes, status history and attachments follow by
ON DELETE CASCADE). SQLite runs with secure_delete, so freed pages are overwritten.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, delete, or_, select, text, update
from sqlalchemy.orm import Session

from app.db import truncate_wal
from app.offices.models import Office
from app.reporting.models import Tip
from app.reporting.taxonomy import CLOSED_STATUSES

WARNING_DAYS = 14
SHREDDED = b""


def deletion_date(closed_on: date | None, retention_days: int) -> date | None:
    return None if closed_on is None else closed_on + timedelta(days=retention_days)


def deletion_date_of(db: Session, tip: Tip) -> date | None:
    if tip.status not in CLOSED_STATUSES:
        return None
    office = db.get(Office, tip.office_id)
    return deletion_date(tip.closed_on, office.retention_days if office else 180)


@dataclass(frozen=True)
class PurgeReport:
    keys_destroyed: int
    tips_deleted: int


def tips_due(db: Session, today: date) -> list[str]:
    """Ids of closed tips past their office's retention period (computed in Python: offices are few)."""
    due: list[str] = []
    for office in db.scalars(select(Office)):
        cutoff = today - timedelta(days=office.retention_days)
        due.extend(db.scalars(select(Tip.id).where(
            Tip.office_id == office.id, Tip.status.in_(CLOSED_STATUSES),
            Tip.closed_on.is_not(None), Tip.closed_on <= cutoff)))
    return due


def destroy_keys(db: Session, tip_ids: list[str]) -> int:
    """Step 1: overwrite every sealed copy of the tips' data keys (the caller commits)."""
    if not tip_ids:
        return 0
    db.execute(update(Tip).where(Tip.id.in_(tip_ids))
               .values(key_for_office=SHREDDED, key_for_reporter=SHREDDED))
    return len(tip_ids)


def delete_shredded(db: Session) -> int:
    """Step 2: delete the rows of tips whose keys are gone (also finishes an interrupted purge)."""
    ids = list(db.scalars(select(Tip.id).where(or_(Tip.key_for_office == SHREDDED,
                                                     Tip.key_for_reporter == SHREDDED))))
    if not ids:
        return 0
    db.execute(update(Tip).where(Tip.duplicate_of_id.in_(ids)).values(duplicate_of_id=None))
    db.execute(delete(Tip).where(Tip.id.in_(ids)))
    return len(ids)


def purge(db: Session, today: date, *, commit: bool = True) -> PurgeReport:
    """Shred every tip that is due. Commits after each step unless told not to (tests, dry runs)."""
    due = tips_due(db, today)
    destroyed = destroy_keys(db, due)
    if commit:
        db.commit()
    deleted = delete_shredded(db)
    if commit:
        db.commit()
        if deleted and db.get_bind().dialect.name == "sqlite":
            # secure_delete zeroed the freed pages; also flush and empty the WAL, which would
            # otherwise keep copies of them (if readers keep it in use, the upkeep's next run
            # empties it, within a minute: app/upkeep.py).
            truncate_wal(db.get_bind().engine)
        elif deleted and db.get_bind().dialect.name == "postgresql":
            # Old row versions (with the sealed keys) stay in the table until vacuumed.
            with db.get_bind().engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM tips, messages"))
    return PurgeReport(keys_destroyed=destroyed, tips_deleted=deleted)


def warning_ids(db: Session, today: date, office_ids: list[int]) -> dict[str, date]:
    """Tip id → deletion date, for closed tips that will be deleted within WARNING_DAYS."""
    out: dict[str, date] = {}
    for office in db.scalars(select(Office).where(Office.id.in_(office_ids))):
        start = today - timedelta(days=office.retention_days)
        end = start + timedelta(days=WARNING_DAYS)
        for tip_id, closed_on in db.execute(select(Tip.id, Tip.closed_on).where(and_(
                Tip.office_id == office.id, Tip.status.in_(CLOSED_STATUSES),
                Tip.closed_on.is_not(None), Tip.closed_on <= end))):
            if closed_on is not None:
                out[tip_id] = closed_on + timedelta(days=office.retention_days)
    return out
