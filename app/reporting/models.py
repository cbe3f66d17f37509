from datetime import date

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, event, insert, update
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm import Session as OrmSession

from app.db import Base

# Rows keyed by random ids in tables WITHOUT ROWID on SQLite: no counter or insertion order to
# tell which tips came one after another (and so, perhaps, from one person).
_NO_ROWID = {"sqlite_with_rowid": False}


class Tip(Base):
    """A tip. Only routing facts are in the clear; everything the reporter wrote is in `content`."""

    __tablename__ = "tips"
    # The index's sync queries (new arrivals by date, changes by revision, counts) read only these;
    # on SQLite a secondary index of a WITHOUT ROWID table carries the id, so they never touch rows.
    __table_args__ = (
        Index("ix_tips_key_received", "office_key_id", "received_on"),
        Index("ix_tips_key_revision", "office_key_id", "revision"),
        # Status counts and retention warnings over clear columns, without reading the large rows.
        Index("ix_tips_key_status", "office_key_id", "status", "received_on"),
        Index("ix_tips_office_closed", "office_id", "closed_on", "status"),
        _NO_ROWID,
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    office_key_id: Mapped[int] = mapped_column(ForeignKey("office_keys.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    received_on: Mapped[date] = mapped_column(Date, index=True)
    # HKDF(Argon2id(receipt)) — finds the tip from the receipt without storing anything reversible.
    lookup_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    reporter_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The tip's data key, sealed to the office key and to the reporter's receipt-derived key.
    key_for_office: Mapped[bytes] = mapped_column(LargeBinary)
    key_for_reporter: Mapped[bytes] = mapped_column(LargeBinary)
    # JSON of the form's fields, encrypted under the data key (purpose "content").
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # Encrypted outcome note for the reporter (purpose "outcome"), set by inspectors.
    outcome: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Triage routing facts (DESIGN.md: office, status, date, assignee are in the clear).
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("inspectors.id", ondelete="SET NULL"), nullable=True, index=True)
    duplicate_of_id: Mapped[str | None] = mapped_column(
        ForeignKey("tips.id", ondelete="SET NULL"), nullable=True, index=True)
    # Dates only: when the tip last changed, and when it reached a closed status (for retention).
    updated_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Commit-ordered number of the last inspector-side change (app/triage/index.py syncs by it).
    # New tips keep 0: numbering arrivals would record their order, which the date-only rule and
    # the missing rowid exist to hide. The index finds new tips by their date instead.
    revision: Mapped[int] = mapped_column(default=0, server_default="0")
    # Inspectors' tags, a JSON list encrypted under the data key (purpose "tags").
    tags: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class Message(Base):
    """One message of a tip's conversation, from the reporter or an inspector."""

    __tablename__ = "messages"
    __table_args__ = _NO_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # "reporter" or "inspector"
    written_on: Mapped[date] = mapped_column(Date)
    # A running number within the tip, so the conversation keeps its order without times of day.
    position: Mapped[int]
    body: Mapped[bytes] = mapped_column(LargeBinary)


class TipRevision(Base):
    """One row: the last change number handed to a tip. Taking it locks the row until commit, so
    numbers are handed out in commit order and a reader never misses a change it has not seen."""

    __tablename__ = "tip_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


def next_revision(connection) -> int:
    row = connection.execute(
        update(TipRevision).where(TipRevision.id == 1).values(value=TipRevision.value + 1)
        .returning(TipRevision.value)
    ).first()
    if row is None:
        connection.execute(insert(TipRevision).values(id=1, value=1))
        return 1
    return int(row[0])


@event.listens_for(OrmSession, "before_flush")
def _stamp_revisions(session: OrmSession, _context, _instances) -> None:
    changed = [obj for obj in session.dirty if isinstance(obj, Tip) and session.is_modified(obj)]
    if changed:
        revision = next_revision(session.connection())
        for tip in changed:
            tip.revision = revision
