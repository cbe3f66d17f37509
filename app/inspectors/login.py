"""Inspector login: password + TOTP, replay refusal and lockout with backoff per account.

Nothing here looks at where a request comes from: lockout counts per account, never per address.
Every failure is reported the same way (None), and takes the same Argon2id time.
"""

import hmac
import unicodedata
from dataclasses import dataclass

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from app import clock
from app.audit import services as audit
from app.inspectors.models import Inspector, OfficeGrant
from app.inspectors.services import USERNAME_MAX, open_grant
from app.offices.models import OfficeKey

FREE_FAILURES = 4          # the first failures cost nothing but the KDF
FIRST_DELAY_SECONDS = 30   # then 30 s, doubling each failure…
MAX_DELAY_SECONDS = 3600   # …up to one hour
TOTP_WINDOW = 1            # ± one 30-second step of clock drift
PASSWORD_MAX = 1024


@dataclass(frozen=True, repr=False)
class LoginResult:
    inspector: Inspector
    office_keys: dict[int, bytes]  # office_key_id → office private key


def lock_delay(failures: int) -> int:
    if failures <= FREE_FAILURES:
        return 0
    return min(FIRST_DELAY_SECONDS * 2 ** min(failures - FREE_FAILURES - 1, 16), MAX_DELAY_SECONDS)


def matching_step(secret: str, code: str, now: float, last_step: int) -> int | None:
    """The TOTP time step the code belongs to (±TOTP_WINDOW), unless it was already used."""
    # Full-width digits from a Chinese input method ("１２３４５６") are the same code (NFKC); spaces go.
    code = "".join(unicodedata.normalize("NFKC", code or "").split())
    # ASCII only: "١٢٣٤٥٦" is digits to str.isdigit(), and hmac.compare_digest raises on non-ASCII str.
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now // totp.interval)
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if step > last_step else None
    return None


def _spend(password: str) -> None:
    try:
        crypto.spend_password_time(password)
    except crypto.CryptoError:
        pass


def _unwrap(inspector: Inspector, password: str) -> bytes | None:
    try:
        return crypto.unwrap_private_key(inspector.wrapped_private_key, password)
    except crypto.CryptoError:
        return None


def open_office_keys(db: Session, inspector: Inspector, private_key: bytes) -> dict[int, bytes]:
    keys: dict[int, bytes] = {}
    grants = db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == inspector.id))
    for grant in grants:
        office_key = db.get(OfficeKey, grant.office_key_id)
        if office_key is None:
            continue
        try:
            keys[office_key.id] = open_grant(grant, office_key, private_key)
        except crypto.CryptoError:
            continue  # sealed to an older key pair: an admin has to grant it again
    return keys


def _fail(db: Session, inspector: Inspector, now: float, reason: str) -> None:
    inspector.failed_logins += 1
    inspector.locked_until = now + lock_delay(inspector.failed_logins)
    audit.record(db, audit.LOGIN_FAILURE, target=f"inspector:{inspector.id}",
                 detail={"reason": reason, "failures": inspector.failed_logins})


def confirm_password(db: Session, inspector: Inspector, password: str) -> bytes | None:
    """The signed-in inspector's private key, if `password` is theirs (to change it), else None.

    A wrong password counts toward the same lockout as a failed login, and a locked account is
    refused without a test: a session left open must not be a way to guess the password at
    leisure. The caller commits either way."""
    now = clock.now()
    password = password or ""
    if inspector.locked_until > now or len(password) > PASSWORD_MAX:
        _spend(password[:PASSWORD_MAX])
        audit.record(db, audit.LOGIN_FAILURE, target=f"inspector:{inspector.id}",
                     detail={"reason": "locked" if inspector.locked_until > now else "current-password"})
        return None
    private_key = _unwrap(inspector, password)
    if private_key is None:
        _fail(db, inspector, now, "current-password")
        return None
    inspector.failed_logins = 0
    inspector.locked_until = 0.0
    return private_key


def authenticate(db: Session, username: str, password: str, code: str) -> LoginResult | None:
    """Check a login; on success the grants are opened. Records the outcome; the caller commits."""
    now = clock.now()
    username = (username or "").strip()
    password = password or ""
    inspector = None
    if 0 < len(username) <= USERNAME_MAX and len(password) <= PASSWORD_MAX:
        inspector = db.scalar(select(Inspector).where(Inspector.username == username))
    if inspector is None:
        _spend(password)
        audit.record(db, audit.LOGIN_FAILURE, detail={"reason": "unknown-user"})  # no name kept
        return None
    if inspector.locked_until > now:
        # Locked: refuse without testing the password (no guessing during the lock), same time spent.
        _spend(password)
        audit.record(db, audit.LOGIN_FAILURE, target=f"inspector:{inspector.id}", detail={"reason": "locked"})
        return None
    private_key = _unwrap(inspector, password)
    if private_key is None:
        _fail(db, inspector, now, "password")
        return None
    step = matching_step(inspector.totp_secret, code, now, inspector.totp_last_step)
    if step is None:
        _fail(db, inspector, now, "totp")
        return None
    if inspector.disabled:
        _fail(db, inspector, now, "disabled")
        return None
    inspector.totp_last_step = step
    inspector.failed_logins = 0
    inspector.locked_until = 0.0
    keys = open_office_keys(db, inspector, private_key)
    audit.record(db, audit.LOGIN_SUCCESS, actor_id=inspector.id, target=f"inspector:{inspector.id}")
    db.flush()
    return LoginResult(inspector=inspector, office_keys=keys)
