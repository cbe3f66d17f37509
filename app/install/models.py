from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class InstallSettings(Base):
    """Install-wide values that must survive backup and restore (one row)."""

    __tablename__ = "install_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The global salt of the receipt KDF. Not secret: receipts carry 66 bits and cost 19 MiB each.
    receipt_salt: Mapped[bytes] = mapped_column(LargeBinary(16))


class PendingSetup(Base):
    """Between the first `tipline serve` and the set-up page: the office `default` already takes tips,
    and its recovery key waits here, encrypted under the one-time set-up token, to be shown once."""

    __tablename__ = "pending_setup"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    recovery_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
