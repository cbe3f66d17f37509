from datetime import date

from sqlalchemy import Date, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Inspector(Base):
    """An inspector or administrator account."""

    __tablename__ = "inspectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # Private key wrapped under Argon2id(password); a successful unwrap is the password check.
    wrapped_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    totp_secret: Mapped[str] = mapped_column(String(64))
    totp_last_step: Mapped[int] = mapped_column(default=0)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[float] = mapped_column(default=0.0)
    # Bumped by a password change, reset or disable: sessions that carry an older value end.
    auth_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    created_on: Mapped[date] = mapped_column(Date)


# The table itself, for Core statements that change the login counters and credentials in the
# database rather than from a row a request read earlier (app/inspectors/login.py, services.py).
INSPECTORS = Base.metadata.tables["inspectors"]


class OfficeGrant(Base):
    """An office private key (one generation) sealed to one inspector's public key."""

    __tablename__ = "office_grants"
    __table_args__ = (UniqueConstraint("office_key_id", "inspector_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_key_id: Mapped[int] = mapped_column(ForeignKey("office_keys.id", ondelete="CASCADE"), index=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id", ondelete="CASCADE"), index=True)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
