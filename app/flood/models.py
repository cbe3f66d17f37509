from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class RateBucket(Base):
    """Global event counts per minute, no client attached. Rows older than the rate window are
    deleted as soon as they stop mattering, so at most a few minutes of activity are on record."""

    __tablename__ = "rate_buckets"
    __table_args__ = {"sqlite_with_rowid": False}

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class SpentToken(Base):
    """Hashes of proof-of-work and wait tokens already used, so that each works once.
    The time a token was issued is inside the signed token (held by the client), not here."""

    __tablename__ = "spent_tokens"
    __table_args__ = {"sqlite_with_rowid": False}

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purge_after: Mapped[date] = mapped_column(Date, index=True)
