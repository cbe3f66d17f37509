"""Inspector site: attachments are downloads, never pages. One view, thin."""

from urllib.parse import quote

from flask import Blueprint, Flask, Response, abort, request_finished, stream_with_context

import crypto
from app.db import get_session
from app.evidence import services
from app.inspectors.auth import current_inspector, login_required, office_keys

bp = Blueprint("evidence", __name__)

# On top of the site-wide headers (app/security.py): nothing in the response may run or render.
DOWNLOAD_CSP = "sandbox; default-src 'none'"


def content_disposition(name: str) -> str:
    # RFC 6266 / 5987: the UTF-8 name percent-encoded (Chinese kept), plus an ASCII-only fallback.
    ascii_fallback = "".join(ch if ch.isascii() and ch.isalnum() or ch in "._-" else "_" for ch in name) or "file"
    return f"attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _download_headers(_app: Flask, response: Response, **_extra) -> None:
    # After every after_request hook (the site-wide one sets its own CSP): a second policy is
    # enforced together with the first, so the download gets both.
    if getattr(response, "is_attachment_download", False):
        response.headers.add("Content-Security-Policy", DOWNLOAD_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Type"] = "application/octet-stream"


@bp.record_once
def _connect(state) -> None:
    request_finished.connect(_download_headers, state.app)


@bp.get("/attachments/<attachment_id>")
@login_required
def download(attachment_id: str):
    inspector = current_inspector()
    db = get_session()
    found = services.find_for_office(db, attachment_id, office_keys())
    if found is None or inspector is None:
        abort(404)
    attachment, data_key = found
    try:
        info = services.describe(attachment, data_key)
        # decrypt_file notices a cut-off file only at its end: check all of it before sending any.
        services.verify(db, attachment, data_key)
    except (crypto.CryptoError, ValueError):
        abort(404)
    services.record_download(db, inspector.id, attachment)
    db.commit()
    response = Response(stream_with_context(services.plaintext(db, attachment, data_key)),
                        mimetype="application/octet-stream", direct_passthrough=True)
    response.headers["Content-Disposition"] = content_disposition(services.display_name(info.name))
    response.headers["Content-Length"] = str(info.size)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.is_attachment_download = True  # type: ignore[attr-defined]
    return response
