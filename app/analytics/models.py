from datetime import date

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class PublishedMonth(Base):
    """One month's aggregates as published on the reporter site's transparency page.

    The only analytics stored in the clear, and only after suppression: `cells` holds the JSON the
    public page shows (every count under 5 already replaced by "<5"), never a raw small count, a
    name or anything about one tip. `scope` is "all" or the office's id, so that publishing the
    same month and scope again replaces the row.
    """

    __tablename__ = "published_months"
    __table_args__ = (UniqueConstraint("month", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))          # "2024-05"
    scope: Mapped[str] = mapped_column(String(32))         # "all" or str(office_id)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), nullable=True)
    cells: Mapped[str] = mapped_column(Text)
    published_on: Mapped[date] = mapped_column(Date)
