"""Schema migrations, install-wide settings and the first-run set-up."""

import base64
import hashlib
import os
import secrets
import weakref
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import crypto
from app.inspectors.models import Inspector
from app.inspectors.services import AccountError, NewInspector, create_inspector, grant_office_key
from app.install.models import InstallSettings, PendingSetup
from app.offices.models import Office, OfficeKey
from app.offices.services import (
    DEFAULT_OFFICE_CODE,
    DEFAULT_OFFICE_NAME,
    create_office,
    get_office_by_code,
    open_with_recovery_key,
)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SETUP_TOKEN_FILE = "setup-token"  # noqa: S105 (a file name, not a secret)


def alembic_config(database_url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def ensure_settings(db: Session) -> InstallSettings:
    settings = db.get(InstallSettings, 1)
    if settings is None:
        settings = InstallSettings(id=1, receipt_salt=crypto.new_receipt_salt())
        db.add(settings)
        db.flush()
    return settings


# Per engine (one per database per process, app.db.engine_for), and weakly: a disposed engine
# takes its salt along.
_SALTS: "weakref.WeakKeyDictionary[Engine, bytes]" = weakref.WeakKeyDictionary()


def receipt_salt(db: Session) -> bytes:
    """The install's receipt salt. It never changes once made, so each process reads it once."""
    engine = db.get_bind().engine
    salt = _SALTS.get(engine)
    if salt is None:
        settings = db.get(InstallSettings, 1)
        if settings is None:
            raise RuntimeError("the install is not initialised: run `tipline init`")
        salt = _SALTS[engine] = settings.receipt_salt
    return salt


def has_admin(db: Session) -> bool:
    return db.scalar(select(Inspector.id).where(Inspector.is_admin.is_(True)).limit(1)) is not None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _token_key(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _read_token(data_dir: Path) -> str | None:
    path = data_dir / SETUP_TOKEN_FILE
    return path.read_text().strip() if path.exists() else None


def prepare_first_run(db: Session, data_dir: Path) -> str | None:
    """Before any admin exists: make the office `default` able to take tips at once, and return the
    one-time set-up token (kept in the data directory so that a restart prints the same link)."""
    ensure_settings(db)
    if has_admin(db):
        return None
    pending = db.get(PendingSetup, 1)
    token = _read_token(data_dir)
    if pending is not None and token is not None and pending.token_hash == _token_hash(token):
        return token
    if pending is not None or get_office_by_code(db, DEFAULT_OFFICE_CODE) is not None:
        raise AccountError("set-up state is incomplete; restore the data directory or start afresh")
    new = create_office(db, DEFAULT_OFFICE_CODE, DEFAULT_OFFICE_NAME)
    token = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")
    db.add(PendingSetup(
        id=1,
        token_hash=_token_hash(token),
        office_id=new.office.id,
        recovery_key_encrypted=crypto.encrypt_for_session(
            _token_key(token), new.recovery_key.encode("ascii"), session_id="pending-setup"),
    ))
    db.flush()
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / SETUP_TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token


def check_setup_token(db: Session, token: str) -> bool:
    pending = db.get(PendingSetup, 1)
    return pending is not None and not has_admin(db) and secrets.compare_digest(
        pending.token_hash, _token_hash(token))


@dataclass(frozen=True, repr=False)
class InitResult:
    admin: NewInspector
    recovery_key: str
    office: Office


def initialize(db: Session, admin_username: str, admin_password: str, *, data_dir: Path,
               token: str | None = None, totp_secret: str | None = None) -> InitResult:
    """Create the admin, and the office `default` (or take over the one the first serve made);
    the office key is sealed to the admin. The recovery key is returned to be shown once."""
    ensure_settings(db)
    if has_admin(db):
        raise AccountError("already initialised")
    pending = db.get(PendingSetup, 1)
    admin = create_inspector(db, admin_username, admin_password, is_admin=True, totp_secret=totp_secret)
    if pending is None:
        new = create_office(db, DEFAULT_OFFICE_CODE, DEFAULT_OFFICE_NAME)
        office, office_key, private_key, recovery_key = new.office, new.office_key, new.private_key, new.recovery_key
    else:
        token = token or _read_token(data_dir)
        if token is None or pending.token_hash != _token_hash(token):
            raise AccountError("set-up token missing or wrong")
        recovery_key = crypto.decrypt_for_session(
            _token_key(token), pending.recovery_key_encrypted, session_id="pending-setup").decode("ascii")
        office = db.get_one(Office, pending.office_id)
        office_key = db.get_one(OfficeKey, office.current_key_id)
        private_key = open_with_recovery_key(office_key, recovery_key)
        db.delete(pending)
    grant_office_key(db, office_key, admin.inspector, private_key)
    db.flush()
    return InitResult(admin=admin, recovery_key=recovery_key, office=office)


def forget_setup_token(data_dir: Path) -> None:
    """After the set-up committed: the token file has done its job."""
    (data_dir / SETUP_TOKEN_FILE).unlink(missing_ok=True)
