from sqlalchemy import Double, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

_NO_ROWID = {"sqlite_with_rowid": False}


class TipNote(Base):
    """An internal note on a tip: inspectors only, never shown to the reporter.

    The body is encrypted under the tip's data key (purpose "note:<id>").
    """

    __tablename__ = "tip_notes"
    __table_args__ = _NO_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id", ondelete="SET NULL"), nullable=True)
    written_at: Mapped[float] = mapped_column(Double)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class StatusChange(Base):
    """One change of a tip's status, with its reason (encrypted, purpose "status:<id>")."""

    __tablename__ = "tip_status_changes"
    __table_args__ = _NO_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id", ondelete="SET NULL"), nullable=True)
    changed_at: Mapped[float] = mapped_column(Double)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[bytes] = mapped_column(LargeBinary)
