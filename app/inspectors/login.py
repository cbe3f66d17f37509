"""Inspector login: password + TOTP, replay refusal and lockout with backoff per account.

Nothing here looks at where a request comes from: lockout counts per account, never per address.
Every failure is reported the same way (None), and takes the same Argon2id time.
"""

import hmac
import unicodedata
from dataclasses import dataclass

import pyotp
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import crypto
from app import clock
from app.audit import services as audit
from app.inspectors.models import INSPECTORS, Inspector, OfficeGrant
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


def _claim_attempt(db: Session, inspector: Inspector | None, now: float) -> int | None:
    """Count this attempt as a failure before its password is tested, unless the account is locked
    (None). The count is added in the database, not from the row as this request read it: parallel
    guesses from several tabs or workers would otherwise each write the same count and get past the
    lock. Committed at once, so that the slow KDF that follows holds no lock and the next attempt
    sees this one. Success resets the count (_succeed).

    inspector None (an unknown name) runs the same statement on no row, so that it costs what a
    locked account's refusal costs."""
    inspector_id = inspector.id if inspector is not None else 0  # ids start at 1
    claimed = db.connection().execute(
        update(INSPECTORS)
        .where(INSPECTORS.c.id == inspector_id, INSPECTORS.c.locked_until <= now)
        .values(failed_logins=INSPECTORS.c.failed_logins + 1)).rowcount
    if inspector is None or not claimed:
        db.commit()  # hold no write lock through the KDF that the refusal still spends
        return None
    # This transaction holds the row (PostgreSQL) or the database (SQLite) until the commit below.
    failures = db.execute(select(INSPECTORS.c.failed_logins).where(INSPECTORS.c.id == inspector_id)).scalar_one()
    locked_until = now + lock_delay(failures)
    db.execute(update(INSPECTORS).where(INSPECTORS.c.id == inspector_id).values(locked_until=locked_until))
    db.commit()
    set_committed_value(inspector, "failed_logins", failures)
    set_committed_value(inspector, "locked_until", locked_until)
    return failures


def _fail(db: Session, inspector: Inspector, failures: int, reason: str) -> None:
    audit.record(db, audit.LOGIN_FAILURE, target=f"inspector:{inspector.id}",
                 detail={"reason": reason, "failures": failures})


def _refuse_locked(db: Session, inspector: Inspector, password: str) -> None:
    # Locked: refuse without testing the password (no guessing during the lock), same time spent.
    _spend(password)
    audit.record(db, audit.LOGIN_FAILURE, target=f"inspector:{inspector.id}", detail={"reason": "locked"})


def _succeed(db: Session, inspector: Inspector, failures: int) -> None:
    """The password was right: clear the count. Attempts made meanwhile (in parallel with this
    one's KDF) stand: then only this attempt's own claim is taken back. Committed at once, as the
    claim was."""
    connection = db.connection()
    cleared = connection.execute(
        update(INSPECTORS)
        .where(INSPECTORS.c.id == inspector.id, INSPECTORS.c.failed_logins == failures)
        .values(failed_logins=0, locked_until=0.0)).rowcount
    if not cleared:
        connection.execute(update(INSPECTORS)
                           .where(INSPECTORS.c.id == inspector.id, INSPECTORS.c.failed_logins > 0)
                           .values(failed_logins=INSPECTORS.c.failed_logins - 1))
    db.commit()
    db.refresh(inspector, ["failed_logins", "locked_until"])


def confirm_password(db: Session, inspector: Inspector, password: str) -> bytes | None:
    """The signed-in inspector's private key, if `password` is theirs (to change it), else None.

    A wrong password counts toward the same lockout as a failed login, and a locked account is
    refused without a test: a session left open must not be a way to guess the password at
    leisure. The caller commits either way."""
    now = clock.now()
    password = (password or "")[:PASSWORD_MAX + 1]
    failures = _claim_attempt(db, inspector, now)
    if failures is None:
        _refuse_locked(db, inspector, password[:PASSWORD_MAX])
        return None
    private_key = _unwrap(inspector, password) if len(password) <= PASSWORD_MAX else None
    if private_key is None:
        _fail(db, inspector, failures, "current-password")
        return None
    _succeed(db, inspector, failures)
    return private_key


def authenticate(db: Session, username: str, password: str, code: str) -> LoginResult | None:
    """Check a login; on success the grants are opened. Records the outcome; the caller commits
    (the attempt itself is counted and committed before the password is tested, _claim_attempt)."""
    now = clock.now()
    username = (username or "").strip()
    password = password or ""
    inspector = None
    if 0 < len(username) <= USERNAME_MAX and len(password) <= PASSWORD_MAX:
        inspector = db.scalar(select(Inspector).where(Inspector.username == username))
    failures = _claim_attempt(db, inspector, now)
    if inspector is None:
        _spend(password)
        audit.record(db, audit.LOGIN_FAILURE, detail={"reason": "unknown-user"})  # no name kept
        return None
    if failures is None:
        _refuse_locked(db, inspector, password)
        return None
    private_key = _unwrap(inspector, password)
    if private_key is None:
        _fail(db, inspector, failures, "password")
        return None
    step = matching_step(inspector.totp_secret, code, now, inspector.totp_last_step)
    # The step is taken in the database too: two logins racing with one code, only one gets it.
    if step is not None and not db.connection().execute(
            update(INSPECTORS)
            .where(INSPECTORS.c.id == inspector.id, INSPECTORS.c.totp_last_step < step)
            .values(totp_last_step=step)).rowcount:
        step = None
    if step is None:
        _fail(db, inspector, failures, "totp")
        return None
    set_committed_value(inspector, "totp_last_step", step)
    if inspector.disabled:
        _fail(db, inspector, failures, "disabled")
        return None
    _succeed(db, inspector, failures)
    keys = open_office_keys(db, inspector, private_key)
    audit.record(db, audit.LOGIN_SUCCESS, actor_id=inspector.id, target=f"inspector:{inspector.id}")
    db.flush()
    return LoginResult(inspector=inspector, office_keys=keys)
