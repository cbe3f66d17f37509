"""What inspectors do with tips: the queue, the detail, status, outcome, assignment, tags,
duplicates, internal notes and replies.

Every function takes the database session and the office keys the inspector's session holds; a tip
whose office key is not among them does not exist for the caller (TipNotFound, the same as an id
that was never issued). Nothing here commits.
"""

import heapq
import json
from dataclasses import dataclass, field
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import crypto
from app import clock
from app.audit import services as audit
from app.evidence import services as evidence
from app.inspectors.models import Inspector, OfficeGrant
from app.offices.models import Office, OfficeKey
from app.reporting import services as reporting
from app.reporting.models import Message, Tip
from app.reporting.services import TipContent
from app.reporting.taxonomy import CLOSED_STATUSES, STATUSES
from app.triage.index import IndexedTip, tips_for
from app.triage.models import StatusChange, TipNote

OfficeKeys = dict[int, crypto.PrivateKey]

PER_PAGE = 50
REASON_MAX = 2000
TEXT_MAX = 20000
TAG_MAX = 30
TAGS_MAX = 20
SORTS = ("date_desc", "date_asc", "status")
TIP_ID_MAX = 64
_STATUS_ORDER = {status: index for index, status in enumerate(STATUSES)}


class TipNotFound(Exception):
    """No such tip for this inspector: never issued, or in an office whose key they do not hold."""


class TriageError(Exception):
    """A request that cannot be carried out; str() is a message safe to show."""


# ---------------------------------------------------------------------------------------------
# Opening tips


def find_tip(db: Session, tip_id: str, keys: OfficeKeys) -> Tip:
    if not isinstance(tip_id, str) or not 0 < len(tip_id) <= TIP_ID_MAX:
        raise TipNotFound()
    tip = db.get(Tip, tip_id)
    if tip is None or tip.office_key_id not in keys:
        raise TipNotFound()
    return tip


def data_key(tip: Tip, keys: OfficeKeys) -> bytes:
    try:
        return crypto.open_key(tip.key_for_office, keys[tip.office_key_id], owner=tip.id, purpose="office")
    except (KeyError, crypto.CryptoError):
        raise TipNotFound() from None


def read_content(tip: Tip, key: bytes) -> TipContent:
    try:
        return TipContent.from_bytes(crypto.decrypt_field(key, tip.content, tip_id=tip.id, purpose=reporting.CONTENT))
    except (crypto.CryptoError, ValueError, TypeError):
        raise TipNotFound() from None


def read_tags(tip: Tip, key: bytes) -> list[str]:
    if tip.tags is None:
        return []
    try:
        value = json.loads(crypto.decrypt_field(key, tip.tags, tip_id=tip.id, purpose="tags"))
    except (crypto.CryptoError, ValueError):
        return []
    return [str(tag) for tag in value] if isinstance(value, list) else []


def _decrypt_text(key: bytes, token: bytes, tip_id: str, purpose: str) -> str | None:
    try:
        return crypto.decrypt_field(key, token, tip_id=tip_id, purpose=purpose).decode("utf-8")
    except (crypto.CryptoError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------------------------
# The queue


@dataclass
class QueueFilters:
    status: str = ""
    burden: str = ""
    region: str = ""
    assignee: str = ""       # "" any, "none" unassigned, or an inspector id
    office_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "date_desc"
    page: int = 1


@dataclass
class QueueRow:
    tip: Tip
    content: TipContent
    tags: list[str]


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int                       # after every filter
    page: int
    pages: int
    counts: dict[str, int]           # per status, after every filter but the status one
    all_count: int                   # after every filter but the status one


def _sort_key(sort: str):
    if sort == "date_asc":
        return lambda tip: (tip.received_on, tip.id)
    if sort == "status":
        return lambda tip: (_STATUS_ORDER.get(tip.status, 99), -tip.received_on.toordinal(), tip.id)
    return lambda tip: (-tip.received_on.toordinal(), tip.id)


def _matches(filters: QueueFilters, region: str):
    assignee_id = int(filters.assignee) if filters.assignee.isdigit() else None

    def keep(tip: IndexedTip) -> bool:
        if filters.office_id is not None and tip.office_id != filters.office_id:
            return False
        if filters.assignee == "none" and tip.assignee_id is not None:
            return False
        if assignee_id is not None and tip.assignee_id != assignee_id:
            return False
        if filters.date_from is not None and tip.received_on < filters.date_from:
            return False
        if filters.date_to is not None and tip.received_on > filters.date_to:
            return False
        if filters.burden and filters.burden not in tip.content.burden_types:
            return False
        return not region or region in (tip.content.region or "").casefold()

    return keep


def queue(db: Session, keys: OfficeKeys, filters: QueueFilters, *, per_page: int = PER_PAGE,
          holder: str | None = None) -> QueuePage:
    """The tips of the inspector's offices, filtered, counted per status, sorted and paginated.

    Burden type and region are encrypted: every filter runs over the session's decrypted index
    (app/triage/index.py), and only the page shown is loaded and opened in full.
    """
    if not keys:
        return QueuePage([], 0, 1, 1, dict.fromkeys(STATUSES, 0), 0)
    keep = _matches(filters, filters.region.strip().casefold())
    candidates = [tip for tip in tips_for(db, keys, holder) if keep(tip)]
    counts = dict.fromkeys(STATUSES, 0)
    for tip in candidates:
        counts[tip.status] = counts.get(tip.status, 0) + 1
    all_count = len(candidates)
    if filters.status:
        candidates = [tip for tip in candidates if tip.status == filters.status]
    total = len(candidates)
    pages = max(1, -(-total // per_page))
    page = min(max(1, filters.page), pages)
    start = (page - 1) * per_page
    shown_ids = [tip.id for tip in heapq.nsmallest(start + per_page, candidates, key=_sort_key(filters.sort))[start:]]
    loaded = {tip.id: tip for tip in db.scalars(select(Tip).where(Tip.id.in_(shown_ids)))}
    shown = [loaded[tip_id] for tip_id in shown_ids if tip_id in loaded]
    rows = []
    for row in shown:  # one HPKE open per row shown: its key decrypts the content and the tags
        try:
            key = data_key(row, keys)
            rows.append(QueueRow(tip=row, content=read_content(row, key), tags=read_tags(row, key)))
        except TipNotFound:
            continue
    return QueuePage(rows=rows, total=total, page=page, pages=pages, counts=counts, all_count=all_count)


def record_queue_view(db: Session, actor_id: int, page: QueuePage) -> None:
    """Reading summaries is reading tips: the ids shown are recorded (never their content)."""
    audit.record(db, audit.QUEUE_VIEW, actor_id=actor_id,
                 detail={"tips": [row.tip.id for row in page.rows], "page": page.page})


def offices_for_keys(db: Session, keys: OfficeKeys) -> list[Office]:
    if not keys:
        return []
    office_ids = select(OfficeKey.office_id).where(OfficeKey.id.in_(list(keys)))
    return list(db.scalars(select(Office).where(Office.id.in_(office_ids)).order_by(Office.id)))


def colleagues(db: Session, office_key_ids: list[int] | set[int]) -> list[Inspector]:
    """Enabled inspectors who hold at least one of these office keys (who may be assigned)."""
    if not office_key_ids:
        return []
    holders = select(OfficeGrant.inspector_id).where(OfficeGrant.office_key_id.in_(list(office_key_ids)))
    return list(db.scalars(select(Inspector).where(Inspector.id.in_(holders), Inspector.disabled.is_(False))
                           .order_by(Inspector.username)))


def inspector_names(db: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {row[0]: row[1] for row in db.execute(select(Inspector.id, Inspector.username).where(Inspector.id.in_(wanted)))}


# ---------------------------------------------------------------------------------------------
# The detail


@dataclass
class NoteView:
    author: str | None
    written_at: float
    text: str | None


@dataclass
class ChangeView:
    inspector: str | None
    changed_at: float
    from_status: str
    to_status: str
    reason: str | None


@dataclass
class TipDetail:
    tip: Tip
    content: TipContent
    outcome: str | None
    tags: list[str]
    messages: list[reporting.ConversationEntry]
    notes: list[NoteView]
    history: list[ChangeView]
    duplicate_of: Tip | None
    duplicates: list[Tip] = field(default_factory=list)
    assignee: str | None = None
    attachments: list[evidence.AttachmentInfo] = field(default_factory=list)


def tip_detail(db: Session, tip: Tip, keys: OfficeKeys, actor_id: int) -> TipDetail:
    """Everything about one tip, decrypted; recorded as an open in the audit log."""
    key = data_key(tip, keys)
    view = reporting.read_for_reporter(db, reporting.OpenedTip(tip_id=tip.id, data_key=key))
    attachments = evidence.list_attachments(db, tip.id, key)
    if view is None:
        raise TipNotFound()
    notes = list(db.scalars(select(TipNote).where(TipNote.tip_id == tip.id).order_by(TipNote.written_at)))
    changes = list(db.scalars(select(StatusChange).where(StatusChange.tip_id == tip.id)
                              .order_by(StatusChange.changed_at)))
    names = inspector_names(db, {n.author_id for n in notes} | {c.inspector_id for c in changes} | {tip.assignee_id})
    duplicate_of = None
    if tip.duplicate_of_id:
        candidate = db.get(Tip, tip.duplicate_of_id)
        duplicate_of = candidate if candidate is not None and candidate.office_key_id in keys else None
    duplicates = [t for t in db.scalars(select(Tip).where(Tip.duplicate_of_id == tip.id).order_by(Tip.received_on))
                  if t.office_key_id in keys]
    audit.record(db, audit.TIP_OPEN, actor_id=actor_id, target=tip.id)
    return TipDetail(
        tip=tip,
        content=view.content,
        outcome=view.outcome,
        tags=read_tags(tip, key),
        messages=view.messages,
        notes=[NoteView(names.get(n.author_id) if n.author_id else None, n.written_at,
                        _decrypt_text(key, n.body, tip.id, f"note:{n.id}")) for n in notes],
        history=[ChangeView(names.get(c.inspector_id) if c.inspector_id else None, c.changed_at, c.from_status,
                            c.to_status, _decrypt_text(key, c.reason, tip.id, f"status:{c.id}")) for c in changes],
        duplicate_of=duplicate_of,
        duplicates=duplicates,
        assignee=names.get(tip.assignee_id) if tip.assignee_id else None,
        attachments=attachments,
    )


# ---------------------------------------------------------------------------------------------
# Changes


def _touch(tip: Tip) -> None:
    tip.updated_on = clock.today()


def _clean_text(text: str | None, limit: int, empty_message) -> str:
    text = (text or "").strip()
    if not text:
        raise TriageError(empty_message)
    if len(text) > limit:
        raise TriageError(_l("内容太长，请删减后再提交。"))
    return text


def _record_change(db: Session, tip: Tip, key: bytes, actor_id: int, new_status: str, reason: str) -> None:
    change_id = reporting.new_id()
    old = tip.status
    db.add(StatusChange(
        id=change_id, tip_id=tip.id, inspector_id=actor_id, changed_at=clock.now(),
        from_status=old, to_status=new_status,
        reason=crypto.encrypt_field(key, reason.encode("utf-8"), tip_id=tip.id, purpose=f"status:{change_id}"),
    ))
    tip.status = new_status
    if new_status in CLOSED_STATUSES:
        if old not in CLOSED_STATUSES or tip.closed_on is None:
            tip.closed_on = clock.today()
    else:
        tip.closed_on = None
    if new_status != "duplicate":
        tip.duplicate_of_id = None
    _touch(tip)
    audit.record(db, audit.TIP_STATUS, actor_id=actor_id, target=tip.id, detail={"from": old, "to": new_status})


def change_status(db: Session, tip: Tip, keys: OfficeKeys, actor_id: int, new_status: str, reason: str | None) -> bool:
    """Move a tip to another status with a reason (encrypted). False if it already had that status."""
    if new_status not in STATUSES:
        raise TriageError(_l("无效的状态。"))
    if new_status == tip.status:
        return False
    if new_status == "duplicate":
        raise TriageError(_l("要标记为重复，请在“标记为重复”中填写原线索编号。"))
    text = _clean_text(reason, REASON_MAX, _l("请填写变更理由。"))
    _record_change(db, tip, data_key(tip, keys), actor_id, new_status, text)
    db.flush()
    return True


def set_outcome(db: Session, tip: Tip, keys: OfficeKeys, actor_id: int, text: str | None) -> bool:
    """The outcome note the reporter reads with the receipt (empty removes it). False if unchanged."""
    text = (text or "").strip()
    if len(text) > TEXT_MAX:
        raise TriageError(_l("内容太长，请删减后再提交。"))
    key = data_key(tip, keys)
    current = _decrypt_text(key, tip.outcome, tip.id, reporting.OUTCOME) if tip.outcome is not None else ""
    if (current or "") == text:
        return False
    tip.outcome = (crypto.encrypt_field(key, text.encode("utf-8"), tip_id=tip.id, purpose=reporting.OUTCOME)
                   if text else None)
    _touch(tip)
    audit.record(db, audit.TIP_OUTCOME, actor_id=actor_id, target=tip.id, detail={"set": bool(text)})
    db.flush()
    return True


def assign(db: Session, tip: Tip, actor_id: int, assignee_id: int | None) -> bool:
    """Give the tip to an inspector who can read it (or to nobody). False if unchanged."""
    if assignee_id is not None:
        holds = db.scalar(select(OfficeGrant.id).where(OfficeGrant.inspector_id == assignee_id,
                                                       OfficeGrant.office_key_id == tip.office_key_id))
        assignee = db.get(Inspector, assignee_id)
        if holds is None or assignee is None or assignee.disabled:
            raise TriageError(_l("该核查员无权查看这条线索，不能指派。"))
    if tip.assignee_id == assignee_id:
        return False
    tip.assignee_id = assignee_id
    _touch(tip)
    audit.record(db, audit.TIP_ASSIGN, actor_id=actor_id, target=tip.id, detail={"assignee": assignee_id})
    db.flush()
    return True


def parse_tags(text: str | None) -> list[str]:
    tags: list[str] = []
    for raw in (text or "").replace("，", ",").replace("、", ",").split(","):
        tag = " ".join(raw.split())
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise TriageError(_l("每个标签最多30个字。"))
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise TriageError(_l("最多20个标签。"))
    return tags


def set_tags(db: Session, tip: Tip, keys: OfficeKeys, actor_id: int, text: str | None) -> bool:
    tags = parse_tags(text)
    key = data_key(tip, keys)
    if tags == read_tags(tip, key):
        return False
    tip.tags = (crypto.encrypt_field(key, json.dumps(tags, ensure_ascii=False).encode("utf-8"),
                                     tip_id=tip.id, purpose="tags") if tags else None)
    _touch(tip)
    audit.record(db, audit.TIP_TAGS, actor_id=actor_id, target=tip.id, detail={"count": len(tags)})
    db.flush()
    return True


def mark_duplicate(db: Session, tip: Tip, keys: OfficeKeys, actor_id: int, original_id: str | None,
                   reason: str | None) -> Tip:
    """Status 重复, linked to the tip it repeats (which must be one this inspector can read)."""
    original_id = (original_id or "").strip()
    try:
        original = find_tip(db, original_id, keys)
    except TipNotFound:
        raise TriageError(_l("找不到这个线索编号。")) from None
    if original.id == tip.id:
        raise TriageError(_l("不能把线索标记为自身的重复。"))
    seen: set[str] = set()
    cursor: Tip | None = original
    while cursor is not None and cursor.duplicate_of_id and cursor.id not in seen:
        if cursor.duplicate_of_id == tip.id:
            raise TriageError(_l("原线索已被标记为本线索的重复，不能互相标记。"))
        seen.add(cursor.id)
        cursor = db.get(Tip, cursor.duplicate_of_id)
    text = _clean_text(reason, REASON_MAX, _l("请填写变更理由。"))
    key = data_key(tip, keys)
    tip.duplicate_of_id = original.id
    _record_change(db, tip, key, actor_id, "duplicate", text)
    audit.record(db, audit.TIP_DUPLICATE, actor_id=actor_id, target=tip.id, detail={"original": original.id})
    db.flush()
    return original


def add_note(db: Session, tip: Tip, keys: OfficeKeys, actor_id: int, text: str | None) -> TipNote:
    """An internal note, encrypted under the tip's data key; the reporter never sees it."""
    body = _clean_text(text, TEXT_MAX, _l("请写下备注内容。"))
    key = data_key(tip, keys)
    note_id = reporting.new_id()
    note = TipNote(id=note_id, tip_id=tip.id, author_id=actor_id, written_at=clock.now(),
                   body=crypto.encrypt_field(key, body.encode("utf-8"), tip_id=tip.id, purpose=f"note:{note_id}"))
    db.add(note)
    _touch(tip)
    audit.record(db, audit.TIP_NOTE, actor_id=actor_id, target=tip.id, detail={"note": note_id})
    db.flush()
    return note


def reply(db: Session, tip: Tip, keys: OfficeKeys, actor_id: int, text: str | None) -> Message:
    """A message to the reporter, under the tip's data key (sealed to both the reporter and the office)."""
    body = _clean_text(text, TEXT_MAX, _l("请写下回复内容。"))
    message = reporting.add_message(db, tip.id, data_key(tip, keys), body, reporting.AUTHOR_INSPECTOR)
    _touch(tip)
    audit.record(db, audit.TIP_REPLY, actor_id=actor_id, target=tip.id, detail={"message": message.id})
    db.flush()
    return message


# ---------------------------------------------------------------------------------------------
# Bulk actions from the queue


def _visible(db: Session, tip_ids: list[str], keys: OfficeKeys) -> list[Tip]:
    tips = []
    for tip_id in dict.fromkeys(tip_ids):
        try:
            tips.append(find_tip(db, tip_id, keys))
        except TipNotFound:
            continue  # silently: an id from another office is as unknown as a made-up one
    return tips


def bulk_status(db: Session, tip_ids: list[str], keys: OfficeKeys, actor_id: int, new_status: str,
                reason: str | None) -> int:
    tips = _visible(db, tip_ids, keys)
    if not tips:
        raise TriageError(_l("请先勾选线索。"))
    return sum(1 for tip in tips if change_status(db, tip, keys, actor_id, new_status, reason))


def bulk_assign(db: Session, tip_ids: list[str], keys: OfficeKeys, actor_id: int, assignee_id: int | None) -> int:
    tips = _visible(db, tip_ids, keys)
    if not tips:
        raise TriageError(_l("请先勾选线索。"))
    return sum(1 for tip in tips if assign(db, tip, actor_id, assignee_id))


def status_counts(db: Session, keys: OfficeKeys) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    if keys:
        rows = db.execute(select(Tip.status, func.count()).where(Tip.office_key_id.in_(list(keys)))
                          .group_by(Tip.status))
        counts.update({row[0]: row[1] for row in rows})
    return counts
