"""Attachments: check, clean, hold between preview and send, store with the tip, read back.

Plain functions taking the database session; none of them commits. The reporter's views commit once,
so a tip (or message) and all of its files land together or not at all.
"""

import base64
import json
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any, cast

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

import crypto
from app import clock
from app.evidence import cleaning, sniffing
from app.evidence.models import Attachment, AttachmentChunk, HeldUpload, HeldUploadChunk
from app.evidence.spool import EncryptedSpool, SpoolError
from crypto.files import FileSealer

BATCH = 16  # chunks per INSERT and per SELECT: 1 MiB of ciphertext at a time
_HELD_TIP_ID = "held-upload"
DOWNLOAD_ACTION = "attachment.download"  # audit-log action name

KIND_LABELS = {
    sniffing.JPEG: _l("JPG图片"), sniffing.PNG: _l("PNG图片"), sniffing.WEBP: _l("WebP图片"),
    sniffing.PDF: _l("PDF文档"), sniffing.DOCX: _l("Word文档"), sniffing.XLSX: _l("Excel表格"),
    sniffing.TEXT: _l("文本文件"),
}


@dataclass(frozen=True)
class Settings:
    max_files: int
    max_bytes: int
    quota_bytes: int
    nearly_full_percent: int
    limits: cleaning.Limits

    @classmethod
    def from_config(cls, config: Any) -> "Settings":
        max_bytes = int(config["ATTACHMENT_MAX_MB"]) * 1024 * 1024
        return cls(
            max_files=int(config["ATTACHMENT_MAX_FILES"]),
            max_bytes=max_bytes,
            quota_bytes=int(config["ATTACHMENT_QUOTA_MB"]) * 1024 * 1024,
            nearly_full_percent=int(config["ATTACHMENT_QUOTA_NEARLY_FULL_PERCENT"]),
            limits=cleaning.Limits(
                max_pixels=int(config["ATTACHMENT_MAX_PIXELS"]),
                zip_max_entries=int(config["ATTACHMENT_ZIP_MAX_ENTRIES"]),
                zip_max_total=int(config["ATTACHMENT_ZIP_MAX_MB"]) * 1024 * 1024,
                zip_max_ratio=int(config["ATTACHMENT_ZIP_MAX_RATIO"]),
                # A re-encoded image may grow; twice the upload limit and no more.
                max_output=2 * max_bytes,
            ),
        )


@dataclass
class FileResult:
    """One submitted file as the reporter sees it: accepted (with what was removed) or refused."""

    name: str
    reason: Any = None  # a message for the reporter when refused
    kind: str = ""
    size: int = 0
    removed: list[str] = field(default_factory=list)
    id: str = ""

    @property
    def accepted(self) -> bool:
        return self.reason is None

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS.get(self.kind, ""))

    @property
    def removed_labels(self) -> list[str]:
        return [str(cleaning.LABELS[code]) for code in self.removed if code in cleaning.LABELS]


# ---------------------------------------------------------------------------------------------
# Names


_UNSAFE_IN_NAME = re.compile(r'[<>:"/\\|?*]')
# Dates, times and long numbers (camera and chat-app names carry when a photo was taken or saved).
_TIMESTAMP = re.compile(r"(?:19|20)\d\d[-_.年]?[01]\d[-_.月]?[0-3]\d|\d{9,}|\d\d[-_.:]\d\d[-_.:]\d\d")
_TIME_LEFTOVERS = re.compile(r"[\d_\-.:年月日时分秒\s]+")
NAME_MAX = 80


def display_name(raw: str | None) -> str:
    """A submitted file name made safe to show: no path, control or bidi characters; Chinese kept."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " ")
    name = " ".join(name.split())
    return name[:NAME_MAX * 2] or str(_l("（无名文件）"))


def safe_filename(raw: str | None, kind: str) -> tuple[str, bool]:
    """The name a cleaned file is stored under, with the extension of its real type; True when a
    date or time had to be taken out of it."""
    name = display_name(raw)
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = _UNSAFE_IN_NAME.sub("_", stem).strip(" .")
    timed = bool(_TIMESTAMP.search(stem))
    if timed:
        stem = _TIME_LEFTOVERS.sub(" ", stem).strip(" ._-")
    stem = stem[:NAME_MAX] or str(_l("附件"))
    return f"{stem}.{sniffing.CANONICAL_EXTENSION[kind]}", timed


# ---------------------------------------------------------------------------------------------
# Quota


@dataclass(frozen=True)
class QuotaState:
    used: int
    quota: int
    nearly_full: bool


HELD_SHARE = 8  # files held between preview and send may take at most 1/8 of the quota


def quota_state(db: Session, settings: Settings) -> QuotaState:
    """Stored evidence against the quota. Files merely held for a preview do not use it up (anyone
    can preview, and held files only leave when their session is purged): they have an allowance
    of their own, and when that is spent new files wait, while stored evidence is never crowded out."""
    used = db.scalar(select(func.coalesce(func.sum(Attachment.stored_size), 0))) or 0
    held = db.scalar(select(func.coalesce(func.sum(HeldUpload.stored_size), 0))) or 0
    nearly_full = (used * 100 >= settings.quota_bytes * settings.nearly_full_percent
                   or held * HELD_SHARE >= settings.quota_bytes)
    return QuotaState(used=int(used), quota=settings.quota_bytes, nearly_full=nearly_full)


QUOTA_REFUSAL = _l("附件存储空间即将用满，暂时不能接收文件。文字内容可以照常提交。")


# ---------------------------------------------------------------------------------------------
# Uploads


def uploads(files: Iterable[Any]) -> list[Any]:
    """The file parts a reporter actually chose (browsers send an empty part for an empty input)."""
    return [f for f in files if getattr(f, "filename", "")]


def inspect_upload(upload: Any, settings: Settings) -> str:
    """The kind of an uploaded file, or Refused: too large, unreadable, unsupported, mismatched."""
    stream = upload.stream
    if not isinstance(stream, EncryptedSpool):
        raise Refused(_l("文件没有完整上传，请重新选择。"))
    if stream.too_large:
        raise Refused(_l("文件超过%(limit)s MB，未接收。请压缩或拆分后再上传。",
            limit=settings.max_bytes // (1024 * 1024)))
    if not stream.available:
        raise Refused(_l("文件没有完整上传，请重新选择。"))
    if stream.size == 0:
        raise Refused(_l("文件是空的（0字节）。"))
    claimed = sniffing.claimed_kind(upload.filename or "")
    if claimed is None:
        raise Refused(_l("只接收 JPG、PNG、WebP、PDF、DOCX、XLSX 和 TXT 文件。"))
    try:
        kind = sniffing.sniff(cast(IO[bytes], stream)).kind
    except SpoolError:
        raise Refused(_l("文件没有完整上传，请重新选择。")) from None
    if kind == sniffing.EXECUTABLE:
        raise Refused(_l("这是一个程序文件，不接收。"))
    if kind == sniffing.HTML:
        raise Refused(_l("文件内容是网页（HTML），与扩展名不符，不接收。"))
    if kind not in sniffing.ALLOWED:
        raise Refused(_l("文件内容与扩展名不符，或不是支持的文件类型（只接收 JPG、PNG、WebP、PDF、DOCX、XLSX 和 TXT）。"))
    if kind != claimed:
        raise Refused(_l("文件内容是%(actual)s，与扩展名不符，不接收。请确认选对了文件。",
            actual=KIND_LABELS.get(kind, kind)))
    if not sniffing.content_type_agrees(kind, upload.mimetype or upload.content_type):
        raise Refused(_l("文件声明的类型与内容不符，不接收。"))
    return kind


Refused = cleaning.Refused


class _ChunkWriter:
    """Seals what it is given and inserts the blobs in batches, in the caller's transaction."""

    def __init__(self, db: Session, model: type, owner: dict[str, str], key: bytes, *, tip_id: str,
                 file_id: str) -> None:
        self.db, self.model, self.owner = db, model, owner
        self.sealer = FileSealer(key, tip_id=tip_id, file_id=file_id)
        self.index = 0
        self.stored = 0
        self.pending: list[dict[str, Any]] = []
        self._add([self.sealer.header])

    def _add(self, blobs: list[bytes]) -> None:
        for blob in blobs:
            self.pending.append({**self.owner, "index": self.index, "data": blob})
            self.index += 1
            self.stored += len(blob)
            if len(self.pending) >= BATCH:
                self.flush()

    def write(self, data: bytes) -> None:
        self._add(self.sealer.update(data))

    def flush(self) -> None:
        if self.pending:
            insert_chunks(self.db, self.model, self.pending)
            self.pending = []

    def close(self) -> int:
        self._add(self.sealer.finalize())
        self.flush()
        return self.stored


def insert_chunks(db: Session, model: type, rows: list[dict[str, Any]]) -> None:
    """One executemany INSERT (a seam for the tests that make storage fail half-way)."""
    db.execute(insert(model), rows)


def _blobs(db: Session, model: Any, owner_column: Any, owner_id: str) -> Iterator[bytes]:
    start = 0
    while True:
        rows = list(db.scalars(select(model.data).where(owner_column == owner_id, model.index >= start,
                                                       model.index < start + BATCH).order_by(model.index)))
        yield from rows
        if len(rows) < BATCH:
            return
        start += BATCH


def _clean_upload(upload: Any, kind: str, writer: _ChunkWriter, settings: Settings) -> cleaning.Cleaned:
    try:
        return cleaning.clean(kind, upload.stream, writer.write, settings.limits)
    except SpoolError:
        raise Refused(_l("文件没有完整上传，请重新选择。")) from None


def _new_id() -> str:
    return secrets.token_urlsafe(16)


# ---------------------------------------------------------------------------------------------
# Holding cleaned files between the preview and the sending of a tip


@dataclass
class HeldFiles:
    """What the reporter's session remembers: the draft key and the accepted files (no content)."""

    key: bytes
    files: list[FileResult]

    def to_session(self) -> dict[str, Any]:
        return {"key": base64.b64encode(self.key).decode("ascii"), "files": [asdict(f) for f in self.files]}

    @classmethod
    def from_session(cls, value: Any) -> "HeldFiles":
        if isinstance(value, dict):
            try:
                return cls(key=base64.b64decode(value["key"]),
                           files=[FileResult(**f) for f in value.get("files", [])])
            except (KeyError, TypeError, ValueError):
                pass
        return cls(key=crypto.new_data_key(), files=[])


def _clean_into(db: Session, upload: Any, kind: str, settings: Settings, row: Any, chunk_model: Any,
                parent: Any, key: bytes, *, tip_id: str) -> cleaning.Cleaned:
    """Clean an upload straight into encrypted chunks under `row` (a held upload or an attachment);
    if the file is refused, nothing of it stays. Sets row.stored_size."""
    db.add(row)
    db.flush()
    writer = _ChunkWriter(db, chunk_model, {parent.key: row.id}, key, tip_id=tip_id, file_id=row.id)
    try:
        cleaned = _clean_upload(upload, kind, writer, settings)
        row.stored_size = writer.close()
    except Refused:
        db.execute(delete(chunk_model).where(parent == row.id))
        db.execute(delete(type(row)).where(type(row).id == row.id))
        raise
    return cleaned


def _accepted(upload: Any, kind: str, cleaned: cleaning.Cleaned, file_id: str) -> FileResult:
    name, timed = safe_filename(upload.filename, kind)
    removed = cleaning.ordered(cleaned.removed | ({cleaning.NAME_TIME} if timed else set()))
    return FileResult(name=name, kind=kind, size=cleaned.size, removed=removed, id=file_id)


def hold_upload(db: Session, session_row_id: str, held: HeldFiles, upload: Any, settings: Settings) -> FileResult:
    """Check, clean and hold one uploaded file; a FileResult either way (refusals carry the reason)."""
    try:
        kind = inspect_upload(upload, settings)
        row = HeldUpload(id=_new_id(), session_id=session_row_id, stored_size=0)
        cleaned = _clean_into(db, upload, kind, settings, row, HeldUploadChunk, HeldUploadChunk.held_id,
                              held.key, tip_id=_HELD_TIP_ID)
    except Refused as refusal:
        return FileResult(name=display_name(upload.filename), reason=refusal.reason)
    result = _accepted(upload, kind, cleaned, row.id)
    held.files.append(result)
    return result


def drop_held(db: Session, held: HeldFiles, ids: Iterable[str]) -> None:
    wanted = set(ids)
    remaining = []
    for f in held.files:
        if f.id in wanted:
            db.execute(delete(HeldUploadChunk).where(HeldUploadChunk.held_id == f.id))
            db.execute(delete(HeldUpload).where(HeldUpload.id == f.id))
        else:
            remaining.append(f)
    held.files = remaining


def held_still_there(db: Session, held: HeldFiles) -> HeldFiles:
    """Only the files whose rows still exist (they go when the session row is purged)."""
    if not held.files:
        return held
    present = set(db.scalars(select(HeldUpload.id).where(HeldUpload.id.in_([f.id for f in held.files]))))
    held.files = [f for f in held.files if f.id in present]
    return held


def _store(db: Session, tip_id: str, data_key: bytes, message_id: str | None, result: FileResult,
           plaintext: Iterable[bytes]) -> Attachment:
    attachment_id = _new_id()
    attachment = Attachment(
        id=attachment_id, tip_id=tip_id, message_id=message_id, stored_size=0, created_on=clock.today(),
        meta=crypto.encrypt_field(data_key, json.dumps(
            {"name": result.name, "type": result.kind, "size": result.size, "removed": result.removed},
            ensure_ascii=False).encode("utf-8"), tip_id=tip_id, purpose=meta_purpose(attachment_id)),
    )
    db.add(attachment)
    db.flush()
    writer = _ChunkWriter(db, AttachmentChunk, {"attachment_id": attachment_id}, data_key, tip_id=tip_id,
                          file_id=attachment_id)
    for piece in plaintext:
        writer.write(piece)
    attachment.stored_size = writer.close()
    return attachment


def attach_held(db: Session, held: HeldFiles, tip_id: str, data_key: bytes, *,
                message_id: str | None = None) -> list[Attachment]:
    """Re-encrypt the held files under the tip's data key, in the caller's transaction, and delete
    the held rows. Raises crypto.CryptoError if a held file does not open (nothing must commit)."""
    stored = []
    for result in held.files:
        plaintext = crypto.decrypt_file(held.key, _blobs(db, HeldUploadChunk, HeldUploadChunk.held_id, result.id),
                                        tip_id=_HELD_TIP_ID, file_id=result.id)
        stored.append(_store(db, tip_id, data_key, message_id, result, plaintext))
    drop_held(db, held, [f.id for f in held.files])
    return stored


def attach_upload(db: Session, upload: Any, tip_id: str, data_key: bytes, settings: Settings, *,
                  message_id: str | None = None) -> FileResult:
    """Check, clean and store one file directly with a tip or message (follow-up messages)."""
    try:
        kind = inspect_upload(upload, settings)
        attachment = Attachment(id=_new_id(), tip_id=tip_id, message_id=message_id, stored_size=0,
                                created_on=clock.today(), meta=b"")
        cleaned = _clean_into(db, upload, kind, settings, attachment, AttachmentChunk,
                              AttachmentChunk.attachment_id, data_key, tip_id=tip_id)
    except Refused as refusal:
        return FileResult(name=display_name(upload.filename), reason=refusal.reason)
    result = _accepted(upload, kind, cleaned, attachment.id)
    attachment.meta = crypto.encrypt_field(data_key, json.dumps(
        {"name": result.name, "type": kind, "size": cleaned.size, "removed": result.removed},
        ensure_ascii=False).encode("utf-8"), tip_id=tip_id, purpose=meta_purpose(attachment.id))
    return result


# ---------------------------------------------------------------------------------------------
# Reading back


def meta_purpose(attachment_id: str) -> str:
    return f"attachment-meta:{attachment_id}"


@dataclass(frozen=True)
class AttachmentInfo:
    id: str
    tip_id: str
    message_id: str | None
    name: str
    kind: str
    size: int
    removed: list[str]

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS.get(self.kind, ""))

    @property
    def removed_labels(self) -> list[str]:
        return [str(cleaning.LABELS[code]) for code in self.removed if code in cleaning.LABELS]


def describe(attachment: Attachment, data_key: bytes) -> AttachmentInfo:
    meta = json.loads(crypto.decrypt_field(data_key, attachment.meta, tip_id=attachment.tip_id,
                                           purpose=meta_purpose(attachment.id)))
    return AttachmentInfo(id=attachment.id, tip_id=attachment.tip_id, message_id=attachment.message_id,
                          name=str(meta.get("name", "")), kind=str(meta.get("type", "")),
                          size=int(meta.get("size", 0)), removed=list(meta.get("removed", [])))


def list_attachments(db: Session, tip_id: str, data_key: bytes) -> list[AttachmentInfo]:
    """A tip's files (with the tip and with its messages), names decrypted; unreadable ones skipped."""
    out = []
    for attachment in db.scalars(select(Attachment).where(Attachment.tip_id == tip_id).order_by(Attachment.id)):
        try:
            out.append(describe(attachment, data_key))
        except (crypto.CryptoError, ValueError):
            continue
    return out


def plaintext(db: Session, attachment: Attachment, data_key: bytes) -> Iterator[bytes]:
    """The cleaned file, one chunk at a time. Truncation shows only at the end: see verified_plaintext."""
    return crypto.decrypt_file(data_key, _blobs(db, AttachmentChunk, AttachmentChunk.attachment_id, attachment.id),
                               tip_id=attachment.tip_id, file_id=attachment.id)


def verify(db: Session, attachment: Attachment, data_key: bytes) -> None:
    """Decrypt the whole file and throw it away (constant memory); CryptoError if anything is off."""
    for _piece in plaintext(db, attachment, data_key):
        pass


def find_for_office(db: Session, attachment_id: str, office_keys: dict[int, Any]) -> tuple[Attachment, bytes] | None:
    """The attachment and its tip's data key, if the caller holds that tip's office key; else None
    (exactly as for an id that was never issued)."""
    from app.reporting.models import Tip

    if not isinstance(attachment_id, str) or not 0 < len(attachment_id) <= 64:
        return None
    attachment = db.get(Attachment, attachment_id)
    if attachment is None:
        return None
    tip = db.get(Tip, attachment.tip_id)
    if tip is None or tip.office_key_id not in office_keys:
        return None
    try:
        data_key = crypto.open_key(tip.key_for_office, office_keys[tip.office_key_id], owner=tip.id,
                                   purpose="office")
    except crypto.CryptoError:
        return None
    return attachment, data_key


def record_download(db: Session, actor_id: int, attachment: Attachment) -> None:
    """Audit-log entry for a download, in the caller's transaction."""
    from app.audit import services as audit

    audit.record(db, DOWNLOAD_ACTION, actor_id=actor_id, target=attachment.tip_id,
                 detail={"attachment": attachment.id})
