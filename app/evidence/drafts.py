"""The reporter's files between the preview and the sending of a tip, kept in their session.

A file input cannot be filled again after a validation error, so files are cleaned and held at the
first step that sees them. The session (encrypted under a key only the cookie holds) keeps the draft
key and the list of accepted files; the held rows keep only ciphertext and belong to the session row.
"""

import hashlib
from typing import Any

from flask import current_app, request, session
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.evidence import services, sniffing
from app.evidence.services import FileResult, HeldFiles, Settings

SESSION_KEY = "held_uploads"
FIELD = "attachments"
REMOVE_FIELD = "remove_attachment"
EXPIRED = _l("页面已失效，这个文件没有保存，请重新选择。")


def settings() -> Settings:
    return Settings.from_config(current_app.config)


def _session_row_id() -> str | None:
    # The session table is keyed by SHA-256 of the cookie's session id (app/sessions.py).
    sid = getattr(session, "sid", None)
    return hashlib.sha256(sid.encode("ascii")).hexdigest() if sid else None


def held(db: Session) -> HeldFiles:
    return services.held_still_there(db, HeldFiles.from_session(session.get(SESSION_KEY)))


def _remember(files: HeldFiles) -> None:
    if files.files:
        session[SESSION_KEY] = files.to_session()
    else:
        session.pop(SESSION_KEY, None)


def forget() -> None:
    session.pop(SESSION_KEY, None)


def take_uploads(db: Session) -> tuple[HeldFiles, list[FileResult]]:
    """Drop the held files the reporter ticked for removal, then check, clean and hold the files of
    this request. Returns the held files and one result per submitted file. The caller commits."""
    config = settings()
    files = held(db)
    services.drop_held(db, files, request.form.getlist(REMOVE_FIELD))
    submitted = services.uploads(request.files.getlist(FIELD))
    results: list[FileResult] = []
    if submitted:
        row_id = _session_row_id()
        quota = services.quota_state(db, config)
        for upload in submitted:
            name = services.display_name(upload.filename)
            if quota.nearly_full:
                results.append(FileResult(name=name, reason=services.QUOTA_REFUSAL))
            elif row_id is None:
                results.append(FileResult(name=name, reason=EXPIRED))
            elif len(files.files) >= config.max_files:
                results.append(FileResult(name=name, reason=_l("每次最多上传%(limit)s个文件，这个文件没有接收。",
                    limit=config.max_files)))
            else:
                results.append(services.hold_upload(db, row_id, files, upload, config))
    _remember(files)
    return files, results


def touched_files() -> bool:
    """Whether this request sent files or removed held ones: only then has take_uploads written."""
    return bool(request.files.getlist(FIELD)) or bool(request.form.getlist(REMOVE_FIELD))


def refuse_all(reason) -> list[FileResult]:
    """The same refusal for every file of this request (e.g. the page had expired)."""
    return [FileResult(name=services.display_name(u.filename), reason=reason)
            for u in services.uploads(request.files.getlist(FIELD))]


def template_context(db: Session, files: HeldFiles | None = None,
                     results: list[FileResult] | None = None) -> dict[str, Any]:
    config = settings()
    files = files if files is not None else held(db)
    return {
        "held_files": files.files,
        "refused_files": [r for r in results or [] if not r.accepted],
        "attachments_closed": services.quota_state(db, config).nearly_full,
        "attachment_slots": max(config.max_files - len(files.files), 0),
        "attachment_max_files": config.max_files,
        "attachment_max_mb": config.max_bytes // (1024 * 1024),
        "attachment_accept": sniffing.ACCEPT,
    }


def check_message_uploads(db: Session) -> list[FileResult] | None:
    """For a follow-up message: refusals that apply to all of its files at once, or None."""
    config = settings()
    submitted = services.uploads(request.files.getlist(FIELD))
    if not submitted:
        return None
    if services.quota_state(db, config).nearly_full:
        return [FileResult(name=services.display_name(u.filename), reason=services.QUOTA_REFUSAL) for u in submitted]
    if len(submitted) > config.max_files:
        reason = _l("每次最多上传%(limit)s个文件，这个文件没有接收。", limit=config.max_files)
        return [FileResult(name=services.display_name(u.filename), reason=reason)
                for u in submitted[config.max_files:]]
    return None


def attach_message_uploads(db: Session, tip_id: str, data_key: bytes, message_id: str) -> list[FileResult]:
    config = settings()
    return [services.attach_upload(db, upload, tip_id, data_key, config, message_id=message_id)
            for upload in services.uploads(request.files.getlist(FIELD))]


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{max(size // 1024, 1)} KB"
    return f"{size} B"
