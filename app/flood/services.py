"""Flood protection that never looks at who is asking.

- Global counters of submissions and receipt look-ups (one-minute buckets, kept for the window only).
- An adaptive proof of work: zero in normal times, rising with the global rate of submissions and of
  failed receipt look-ups; solved by a small same-origin script. Without JavaScript the same signed
  challenge doubles as a wait token: it is accepted once it is old enough.
- Hard global rate limits as a last resort against exhausting the receipt KDF.
"""

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app import clock
from app.flood.models import RateBucket, SpentToken

SUBMISSION = "submission"
RECEIPT_ATTEMPT = "receipt_attempt"
RECEIPT_FAILED = "receipt_failed"
TOKEN_ISSUED = "token_issued"  # noqa: S105 (an event name, not a secret)
WINDOW_MINUTES = 5
MAX_BITS = 22
BASE_BITS = 12
TOKEN_MAX_AGE = 3600
# A token solved or waited for at a lower difficulty still counts if it is at most this many bits
# short of today's: pressure may rise while a reporter types, but a stockpile loses its value.
STALE_BITS = 2
MAX_WAIT = 600
_RATE = re.compile(r"^\s*(\d+)\s*(?:per|/)\s*(second|minute|hour)s?\s*$", re.I)


class FloodError(Exception):
    """A request refused by flood protection; `retry_after` is in seconds."""

    def __init__(self, reason: str, retry_after: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class FloodSettings:
    enabled: bool
    submissions_per_minute: float  # the rate above which the proof of work starts
    failed_receipts_per_minute: float
    submission_limit_per_minute: float  # hard limits
    receipt_limit_per_minute: float


def parse_rate(text: str) -> float:
    """'120 per minute' → 120.0 events per minute."""
    match = _RATE.match(text or "")
    if not match:
        raise ValueError(f"not a rate: {text!r} (use e.g. '120 per minute')")
    count, unit = int(match.group(1)), match.group(2).lower()
    return count * {"second": 60.0, "minute": 1.0, "hour": 1 / 60}[unit]


def switched_off(value: object) -> bool:
    """TIPLINE_FLOOD_PROTECTION=off (or 0, false, no): the documented switch for load tests on
    loopback. One reading for the app and for the warnings of `tipline serve` and gunicorn."""
    return str(value).strip().lower() in {"off", "0", "false", "no"}


def settings_from_config(config: dict) -> FloodSettings:
    return FloodSettings(
        enabled=not switched_off(config.get("FLOOD_PROTECTION", "on")),
        submissions_per_minute=parse_rate(config["POW_SUBMISSION_THRESHOLD"]),
        failed_receipts_per_minute=parse_rate(config["POW_FAILED_RECEIPT_THRESHOLD"]),
        submission_limit_per_minute=parse_rate(config["SUBMISSION_RATE_LIMIT"]),
        receipt_limit_per_minute=parse_rate(config["RECEIPT_RATE_LIMIT"]),
    )


def _minute(now: float) -> int:
    return int(now // 60)


def _upsert(db: Session):
    return (postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert)(RateBucket)


def record(db: Session, kind: str) -> None:
    """Count one event in the current minute (the caller commits)."""
    now = clock.now()
    statement = _upsert(db).values(kind=kind, minute=_minute(now), count=1)
    db.execute(statement.on_conflict_do_update(index_elements=["kind", "minute"],
                                               set_={"count": RateBucket.count + 1}))
    db.execute(delete(RateBucket).where(RateBucket.minute <= _minute(now) - WINDOW_MINUTES))


def purge_stale(db: Session) -> None:
    """Forget counts and spent tokens that no longer matter (the caller commits): on every reporter
    page that may carry a challenge and every minute (app/upkeep.py), so a quiet line keeps no
    minute on record for long."""
    db.execute(delete(RateBucket).where(RateBucket.minute <= _minute(clock.now()) - WINDOW_MINUTES))
    db.execute(delete(SpentToken).where(SpentToken.purge_after < clock.today()))


def forget_all_counts(db: Session) -> None:
    """Delete every count (the caller commits): when the reporter site stops, so that the last
    minutes of activity do not wait on disk for its next start. The limits start afresh then."""
    db.execute(delete(RateBucket))


def rate_per_minute(db: Session, kind: str) -> float:
    """Mean events per minute over the window (the current, partial minute included)."""
    since = _minute(clock.now()) - WINDOW_MINUTES + 1
    total = db.scalar(select(func.coalesce(func.sum(RateBucket.count), 0))
                      .where(RateBucket.kind == kind, RateBucket.minute >= since))
    return float(total or 0) / WINDOW_MINUTES


def difficulty(db: Session, settings: FloodSettings) -> int:
    """Leading zero bits the proof of work must have: 0 unless the line is under pressure."""
    if not settings.enabled:
        return 0
    pressure = max(
        rate_per_minute(db, SUBMISSION) / settings.submissions_per_minute,
        rate_per_minute(db, RECEIPT_FAILED) / settings.failed_receipts_per_minute,
    )
    if pressure <= 1:
        return 0
    return min(MAX_BITS, BASE_BITS + 2 * math.ceil(math.log2(pressure)))


def wait_seconds(bits: int) -> int:
    """How long a reporter without JavaScript waits instead of computing: 5 s at the first level,
    doubling with each extra bit of difficulty, capped at two minutes."""
    if bits <= 0:
        return 0
    return int(min(120, 5 * 2 ** ((bits - BASE_BITS) / 2)))


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="tipline-flood-challenge")


@dataclass(frozen=True)
class Challenge:
    token: str
    bits: int
    wait: int


def issue_challenge(db: Session, settings: FloodSettings, secret: str) -> Challenge | None:
    """A challenge when the line is under pressure (the caller commits: tokens are counted).

    Tokens cost nothing to ask for, so the wait a token carries grows with how many were handed
    out in the window: collecting hundreds at once to spend them together buys nothing."""
    bits = difficulty(db, settings)
    if bits == 0:
        return None
    issued = rate_per_minute(db, TOKEN_ISSUED) / max(settings.submissions_per_minute, 1e-9)
    wait = int(min(MAX_WAIT, wait_seconds(bits) * max(1.0, issued)))
    record(db, TOKEN_ISSUED)
    token = _serializer(secret).dumps({"n": secrets.token_hex(16), "b": bits, "w": wait})
    return Challenge(token=token, bits=bits, wait=wait)


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def solves(token: str, solution: str, bits: int) -> bool:
    # str.isdigit() is true for "٣", "３" and "²" too: only ASCII digits are a solution (a 500 otherwise).
    if not solution or len(solution) > 32 or not (solution.isascii() and solution.isdigit()):
        return False
    digest = hashlib.sha256(f"{token}:{solution}".encode("ascii")).digest()
    return leading_zero_bits(digest) >= bits


def check(db: Session, settings: FloodSettings, secret: str, token: str, solution: str) -> None:
    """Raise FloodError unless the request may proceed. Spends the token (the caller commits)."""
    if not settings.enabled:
        return
    required = difficulty(db, settings)
    if required == 0 and not token:
        return
    if not token:
        raise FloodError("challenge_missing")
    try:
        payload, issued = _serializer(secret).loads(token, max_age=TOKEN_MAX_AGE, return_timestamp=True)
        bits, wait = int(payload["b"]), int(payload["w"])
    except SignatureExpired:
        raise FloodError("challenge_expired") from None
    except (BadSignature, KeyError, TypeError, ValueError):
        raise FloodError("challenge_invalid") from None
    if bits < required - STALE_BITS:
        raise FloodError("challenge_expired")
    if not solves(token, solution, bits):
        age = clock.now() - issued.timestamp()
        if age < wait:
            raise FloodError("wait", retry_after=int(math.ceil(wait - age)))
    token_hash = hashlib.sha256(token.encode("ascii")).hexdigest()
    if db.get(SpentToken, token_hash) is not None:
        raise FloodError("challenge_spent")
    db.add(SpentToken(token_hash=token_hash,
                      purge_after=clock.today() + timedelta(days=1 + TOKEN_MAX_AGE // 86400)))
    db.execute(delete(SpentToken).where(SpentToken.purge_after < clock.today()))


def check_rate_limit(db: Session, settings: FloodSettings, kind: str) -> None:
    """Hard global limits: the last line of defence for the receipt KDF's CPU time."""
    if not settings.enabled:
        return
    limit = settings.submission_limit_per_minute if kind == SUBMISSION else settings.receipt_limit_per_minute
    since = _minute(clock.now())
    this_minute = db.scalar(select(func.coalesce(func.sum(RateBucket.count), 0))
                            .where(RateBucket.kind == kind, RateBucket.minute >= since)) or 0
    if this_minute >= limit:
        raise FloodError("rate_limited", retry_after=60 - int(clock.now() % 60))
