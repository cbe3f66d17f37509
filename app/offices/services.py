"""Offices and their key pairs."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from app import clock
from app.offices.models import Office, OfficeKey

DEFAULT_OFFICE_CODE = "default"
DEFAULT_OFFICE_NAME = "减负办"


class OfficeExists(Exception):
    pass


@dataclass(frozen=True, repr=False)
class NewOffice:
    office: Office
    office_key: OfficeKey
    private_key: bytes
    recovery_key: str


def _seal_for_recovery(office_key_owner: str, private_key: bytes, recovery_public: bytes) -> bytes:
    return crypto.seal_key(private_key, recovery_public, owner=office_key_owner, purpose="office-recovery")


def key_owner(office_key: OfficeKey) -> str:
    """What an office private key is bound to when sealed (HPKE info)."""
    return f"office-key:{office_key.id}"


def create_office(db: Session, code: str, name: str) -> NewOffice:
    """A new office with a fresh key pair whose private half is sealed to a new recovery key."""
    if db.scalar(select(Office).where(Office.code == code)) is not None:
        raise OfficeExists(code)
    office = Office(code=code, name=name, created_on=clock.today())
    db.add(office)
    db.flush()
    pair = crypto.generate_keypair()
    recovery_key = crypto.new_recovery_key()
    recovery = crypto.recovery_keypair(recovery_key)
    office_key = OfficeKey(
        office_id=office.id,
        public_key=pair.public_key,
        recovery_public_key=recovery.public_key,
        sealed_for_recovery=b"",
        created_on=clock.today(),
    )
    db.add(office_key)
    db.flush()
    office_key.sealed_for_recovery = _seal_for_recovery(
        key_owner(office_key), pair.private_key, recovery.public_key
    )
    office.current_key_id = office_key.id
    db.flush()
    return NewOffice(office=office, office_key=office_key, private_key=pair.private_key,
                     recovery_key=recovery_key)


def open_with_recovery_key(office_key: OfficeKey, recovery_key: str) -> bytes:
    """The office private key, from the offline recovery key. Raises crypto.CryptoError if wrong."""
    pair = crypto.recovery_keypair(recovery_key)
    return crypto.open_key(office_key.sealed_for_recovery, pair.private_key,
                           owner=key_owner(office_key), purpose="office-recovery")


@dataclass(frozen=True)
class OfficeChoice:
    """What the reporter's form needs of an office that receives tips."""

    id: int
    code: str
    name: str
    current_key_id: int | None


# Built once: the reporter form reads the offices on every request, and a statement built afresh
# costs more than running it.
_RECEIVING = (select(Office.id, Office.code, Office.name, Office.current_key_id)
              .where(Office.current_key_id.is_not(None)).order_by(Office.id))


def list_offices(db: Session) -> list[OfficeChoice]:
    """The offices that receive tips (those with a key), in creation order."""
    return [OfficeChoice(row.id, row.code, row.name, row.current_key_id)
            for row in db.connection().execute(_RECEIVING)]


def get_office_by_code(db: Session, code: str) -> Office | None:
    return db.scalar(select(Office).where(Office.code == code))
