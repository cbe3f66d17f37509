"""Inspector accounts and their key material."""

from dataclasses import dataclass

import pyotp
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import crypto
from app import clock
from app.inspectors.models import INSPECTORS, Inspector, OfficeGrant
from app.offices.models import OfficeKey
from app.offices.services import key_owner

USERNAME_MAX = 64
PASSWORD_MIN = 12


class AccountError(Exception):
    """A request about accounts that cannot be carried out; str() is safe to show."""


@dataclass(frozen=True, repr=False)
class NewInspector:
    inspector: Inspector
    private_key: bytes
    totp_secret: str


def check_password_strength(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError("password too short")


def create_inspector(db: Session, username: str, password: str, *, is_admin: bool = False,
                     totp_secret: str | None = None) -> NewInspector:
    username = username.strip()
    if not username or len(username) > USERNAME_MAX or not username.isprintable():
        raise AccountError("invalid username")
    if db.scalar(select(Inspector).where(Inspector.username == username)) is not None:
        raise AccountError("username taken")
    check_password_strength(password)
    pair = crypto.generate_keypair()
    # The set-up page confirms a code before the account exists, so it may bring its own secret.
    totp_secret = totp_secret or pyotp.random_base32()
    inspector = Inspector(
        username=username,
        is_admin=is_admin,
        public_key=pair.public_key,
        wrapped_private_key=crypto.wrap_private_key(pair.private_key, password),
        totp_secret=totp_secret,
        created_on=clock.today(),
    )
    db.add(inspector)
    db.flush()
    return NewInspector(inspector=inspector, private_key=pair.private_key, totp_secret=totp_secret)


def grant_office_key(db: Session, office_key: OfficeKey, inspector: Inspector, office_private_key: bytes) -> None:
    """Seal an office private key to an inspector, so that their password opens it."""
    existing = db.scalar(select(OfficeGrant).where(
        OfficeGrant.office_key_id == office_key.id, OfficeGrant.inspector_id == inspector.id))
    sealed = crypto.seal_key(office_private_key, inspector.public_key,
                             owner=key_owner(office_key), purpose=f"grant:{inspector.id}")
    if existing is None:
        db.add(OfficeGrant(office_key_id=office_key.id, inspector_id=inspector.id, sealed_private_key=sealed))
    else:
        existing.sealed_private_key = sealed
    db.flush()


def open_grant(grant: OfficeGrant, office_key: OfficeKey, inspector_private_key: bytes) -> bytes:
    return crypto.open_key(grant.sealed_private_key, inspector_private_key,
                           owner=key_owner(office_key), purpose=f"grant:{grant.inspector_id}")


def verify_password(db: Session, username: str, password: str) -> tuple[Inspector, bytes] | None:
    """The inspector and their private key if the password unwraps it; equal time for unknown users."""
    inspector = db.scalar(select(Inspector).where(Inspector.username == username))
    if inspector is None:
        crypto.spend_password_time(password)
        return None
    try:
        return inspector, crypto.unwrap_private_key(inspector.wrapped_private_key, password)
    except crypto.CryptoError:
        return None


def change_password(db: Session, inspector: Inspector, private_key: bytes, new_password: str) -> None:
    """Re-wrap the inspector's private key under the new password (the key pair and grants stay).
    The key comes from checking the current password (app.inspectors.login.confirm_password)."""
    check_password_strength(new_password)
    try:
        if crypto.public_key_of(private_key) != inspector.public_key:
            raise crypto.CryptoError()
        wrapped = crypto.wrap_private_key(private_key, new_password)
    except crypto.CryptoError:
        raise AccountError("invalid password") from None
    # Only if the credentials are still those this request read: an administrator's reset in the
    # meantime (a new key pair, a new epoch) must not be undone by the old key written back.
    changed = db.connection().execute(
        update(INSPECTORS)
        .where(INSPECTORS.c.id == inspector.id, INSPECTORS.c.public_key == inspector.public_key,
               INSPECTORS.c.auth_epoch == inspector.auth_epoch)
        .values(wrapped_private_key=wrapped, auth_epoch=inspector.auth_epoch + 1)).rowcount
    if changed != 1:
        raise AccountError("invalid password")
    set_committed_value(inspector, "wrapped_private_key", wrapped)
    set_committed_value(inspector, "auth_epoch", inspector.auth_epoch + 1)


@dataclass(frozen=True, repr=False)
class NewCredentials:
    private_key: bytes
    totp_secret: str


def reset_credentials(db: Session, inspector: Inspector, new_password: str) -> NewCredentials:
    """A forgotten password: a new key pair, wrapped under the new password, and a new TOTP secret.

    Every grant sealed to the old key is deleted (nobody can open it any more); the caller re-grants
    the offices it holds keys for.
    """
    check_password_strength(new_password)
    pair = crypto.generate_keypair()
    try:
        wrapped = crypto.wrap_private_key(pair.private_key, new_password)
    except crypto.CryptoError:
        raise AccountError("invalid password") from None
    for grant in db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == inspector.id)):
        db.delete(grant)
    inspector.public_key = pair.public_key
    inspector.wrapped_private_key = wrapped
    inspector.totp_secret = pyotp.random_base32()
    inspector.totp_last_step = 0
    inspector.failed_logins = 0
    inspector.locked_until = 0.0
    inspector.auth_epoch += 1
    db.flush()
    return NewCredentials(private_key=pair.private_key, totp_secret=inspector.totp_secret)
