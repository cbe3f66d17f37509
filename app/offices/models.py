from datetime import date

from sqlalchemy import Date, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base


class Office(Base):
    """A receiving office (受理单位). Its name and code are public: the reporter picks one."""

    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_on: Mapped[date] = mapped_column(Date)
    # Closed tips are crypto-shredded this many days after they were closed (app/retention).
    retention_days: Mapped[int] = mapped_column(default=180, server_default="180")
    # The key new tips are sealed to; older keys stay for opening older tips after a rotation.
    current_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("office_keys.id", use_alter=True), nullable=True
    )

    current_key: Mapped["OfficeKey | None"] = relationship(foreign_keys=[current_key_id], post_update=True)


class OfficeKey(Base):
    """One generation of an office's key pair. The private half exists only sealed."""

    __tablename__ = "office_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    # The private key sealed to the office's offline recovery key pair.
    sealed_for_recovery: Mapped[bytes] = mapped_column(LargeBinary)
    recovery_public_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[date] = mapped_column(Date)

    office: Mapped[Office] = relationship(foreign_keys=[office_id])
