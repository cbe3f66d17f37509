"""What a reporter can do: submit a tip, open it with the receipt, read replies, add a message.

Services never commit: the view commits once and only then shows a receipt.
"""

import json
import secrets
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

import crypto
from app import clock
from app.db import Base
from app.install.services import receipt_salt
from app.offices.models import Office, OfficeKey
from app.offices.services import OfficeChoice
from app.reporting.models import Message, Tip
from app.retention.services import deletion_date_of

CONTENT = "content"
OUTCOME = "outcome"
AUTHOR_REPORTER = "reporter"
AUTHOR_INSPECTOR = "inspector"


class ReporterError(Exception):
    pass


@dataclass
class TipContent:
    """Everything the reporter wrote. Encrypted as one padded JSON document."""

    burden_types: list[str]
    platform: str
    imposer_level: str
    imposer_name: str
    frequency: str
    hours_per_week: float | None
    region: str
    description: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> "TipContent":
        # Decoded first: json.loads on bytes sniffs the encoding in Python (~1 us a tip); this
        # is always UTF-8 (to_bytes), and anything else is a ValueError, as a bad document is.
        return cls(**json.loads(raw.decode("utf-8")))


@dataclass(frozen=True, repr=False)
class OpenedTip:
    """What a receipt unlocks for the length of one reporter session."""

    tip_id: str
    data_key: bytes


@dataclass
class ConversationEntry:
    author: str
    written_on: object
    text: str


@dataclass
class ReporterView:
    status: str
    received_on: object
    content: TipContent
    outcome: str | None
    messages: list[ConversationEntry] = field(default_factory=list)
    deletion_on: date | None = None
    retention_days: int = 180


def new_id() -> str:
    return secrets.token_urlsafe(16)


def submit_tip(db: Session, office: Office | OfficeChoice, content: TipContent, *,
               attach: Callable[[str, bytes], object] | None = None) -> str:
    """Seal and store a tip; returns the receipt. The caller commits before showing it."""
    receipt = crypto.new_receipt()
    keys = crypto.derive_receipt_keys(receipt, receipt_salt(db))
    store_tip(db, office, content, lookup_id=keys.lookup_id, reporter_public_key=keys.public_key, attach=attach)
    return receipt


# Per engine (one per database per process), and weakly: a disposed engine takes its keys along.
_PUBLIC_KEYS: "weakref.WeakKeyDictionary[Engine, dict[int, crypto.PublicKey]]" = weakref.WeakKeyDictionary()


def _office_public_key(db: Session, office_key_id: int) -> crypto.PublicKey:
    """Office key rows never change (a rotation adds a new row), so each process reads and parses
    each once."""
    engine = db.get_bind().engine
    parsed = _PUBLIC_KEYS.get(engine)
    if parsed is None:
        parsed = _PUBLIC_KEYS.setdefault(engine, {})
    public = parsed.get(office_key_id)
    if public is None:
        office_key = db.get(OfficeKey, office_key_id)
        if office_key is None:
            raise ReporterError("office has no key")
        public = parsed[office_key_id] = crypto.PublicKey(office_key.public_key)
    return public


# One Core INSERT on the table, built once: the ORM's unit of work, or an INSERT of the mapped class
# built per tip, would cost more than the statement itself, and a new tip has nothing for the ORM
# to track (its revision stays 0, see Tip.revision).
_INSERT_TIP = insert(Base.metadata.tables["tips"])


def store_tip(db: Session, office: Office | OfficeChoice, content: TipContent, *, lookup_id: bytes,
              reporter_public_key: bytes, received_on: date | None = None, status: str = "new",
              attach: Callable[[str, bytes], object] | None = None) -> str:
    """Seal a tip's content under a fresh data key, sealed in turn to the office and the reporter.
    Returns the new tip's id.

    `attach(tip_id, data_key)` stores the tip's files in the same transaction (app/evidence)."""
    if office.current_key_id is None:
        raise ReporterError("office has no key")
    office_public_key = _office_public_key(db, office.current_key_id)
    tip_id = new_id()
    data_key = crypto.new_data_key()
    db.connection().execute(_INSERT_TIP, {
        "id": tip_id,
        "office_id": office.id,
        "office_key_id": office.current_key_id,
        "status": status,
        "received_on": received_on or clock.today(),
        "lookup_id": lookup_id,
        "reporter_public_key": reporter_public_key,
        "key_for_office": crypto.seal_key(data_key, office_public_key, owner=tip_id, purpose="office"),
        "key_for_reporter": crypto.seal_key(data_key, reporter_public_key, owner=tip_id, purpose="reporter"),
        "content": crypto.encrypt_field(data_key, content.to_bytes(), tip_id=tip_id, purpose=CONTENT),
        "revision": 0,
    })
    if attach is not None:
        attach(tip_id, data_key)
    return tip_id


# A key pair nobody holds, so that an unknown receipt costs the same HPKE open as a known one.
_DECOY = crypto.generate_keypair()
_DECOY_SEALED = crypto.seal_key(b"\x00" * 32, _DECOY.public_key, owner="decoy", purpose="reporter")


def open_with_receipt(db: Session, receipt: str) -> OpenedTip | None:
    """The tip a receipt belongs to, or None. Costs the same whether or not the receipt exists."""
    digits = crypto.normalize_receipt(receipt)
    if digits is None:
        return None
    keys = crypto.derive_receipt_keys(digits, receipt_salt(db))
    tip = db.scalar(select(Tip).where(Tip.lookup_id == keys.lookup_id))
    if tip is None:
        try:
            crypto.open_key(_DECOY_SEALED, keys.private_key, owner="decoy", purpose="reporter")
        except crypto.CryptoError:
            pass
        return None
    try:
        data_key = crypto.open_key(tip.key_for_reporter, keys.private_key, owner=tip.id, purpose="reporter")
    except crypto.CryptoError:
        return None
    return OpenedTip(tip_id=tip.id, data_key=data_key)


def _message_purpose(message_id: str) -> str:
    return f"message:{message_id}"


def read_for_reporter(db: Session, opened: OpenedTip) -> ReporterView | None:
    tip = db.get(Tip, opened.tip_id)
    if tip is None:
        return None
    key = opened.data_key
    try:
        content = TipContent.from_bytes(crypto.decrypt_field(key, tip.content, tip_id=tip.id, purpose=CONTENT))
        outcome = None
        if tip.outcome is not None:
            outcome = crypto.decrypt_field(key, tip.outcome, tip_id=tip.id, purpose=OUTCOME).decode("utf-8")
        messages = [
            ConversationEntry(
                author=m.author,
                written_on=m.written_on,
                text=crypto.decrypt_field(key, m.body, tip_id=tip.id, purpose=_message_purpose(m.id)).decode("utf-8"),
            )
            for m in db.scalars(select(Message).where(Message.tip_id == tip.id).order_by(Message.position))
        ]
    except (crypto.CryptoError, ValueError, TypeError):
        # Damaged or hand-made: the server never writes such a field. Not found, rather than a 500.
        return None
    office = db.get(Office, tip.office_id)
    retention_days = office.retention_days if office else 180
    return ReporterView(status=tip.status, received_on=tip.received_on, content=content,
                        outcome=outcome, messages=messages, retention_days=retention_days,
                        deletion_on=deletion_date_of(db, tip))


MESSAGES_PER_DAY = 10


def reporter_messages_today(db: Session, tip_id: str) -> int:
    return db.scalar(select(func.count()).select_from(Message).where(
        Message.tip_id == tip_id, Message.author == AUTHOR_REPORTER, Message.written_on == clock.today())) or 0


def add_message(db: Session, tip_id: str, data_key: bytes, text: str, author: str) -> Message:
    """Append a message to a tip's conversation, encrypted under the tip's data key."""
    if db.get(Tip, tip_id) is None:
        raise ReporterError("no such tip")
    position = (db.scalar(select(func.max(Message.position)).where(Message.tip_id == tip_id)) or 0) + 1
    message_id = new_id()
    message = Message(
        id=message_id,
        tip_id=tip_id,
        author=author,
        written_on=clock.today(),
        position=position,
        body=crypto.encrypt_field(data_key, text.encode("utf-8"), tip_id=tip_id,
                                  purpose=_message_purpose(message_id)),
    )
    db.add(message)
    db.flush()
    return message
