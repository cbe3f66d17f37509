"""The logged-in inspector, the office keys their session holds, and the guards for views.

The session (app/sessions.py) is encrypted under a key only the cookie holds, so the unsealed office
private keys kept in it are unreadable from the database alone (DESIGN.md, inspector sessions).
"""

import base64
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from flask import abort, current_app, g, redirect, request, session, url_for
from sqlalchemy import select

import crypto
from app.db import get_session
from app.inspectors.login import LoginResult
from app.inspectors.models import Inspector, OfficeGrant
from app.sessions import TiplineSession

_INSPECTOR = "inspector_id"
_EPOCH = "auth_epoch"
_KEYS = "office_keys"
_HOLDER = "index_holder"


def index_holder() -> str | None:
    return session.get(_HOLDER)


def start_session(result: LoginResult) -> None:
    """A fresh session (new id and key) holding the inspector and their office private keys."""
    session.clear()
    cast(TiplineSession, session).regenerate()
    session[_INSPECTOR] = result.inspector.id
    session[_EPOCH] = result.inspector.auth_epoch
    session[_KEYS] = {str(kid): base64.b64encode(key).decode("ascii") for kid, key in result.office_keys.items()}
    # Names this session as a holder of the decrypted tip index (app/triage/index.py).
    session[_HOLDER] = secrets.token_hex(16)


def end_session() -> None:
    """Logout: the server-side row is deleted (a new, empty session may carry the goodbye message),
    and the decrypted index entries only this session held are dropped at once."""
    holder = session.get(_HOLDER)
    index = current_app.extensions.get("tipline_index")
    if holder and index is not None:
        index.forget(holder)
    session.clear()
    cast(TiplineSession, session).regenerate()


def current_inspector() -> Inspector | None:
    """The inspector of this session, if it is still valid (account enabled, credentials unchanged)."""
    if "current_inspector" in g:
        return g.current_inspector
    inspector = None
    inspector_id = session.get(_INSPECTOR)
    if isinstance(inspector_id, int):
        found = get_session().get(Inspector, inspector_id)
        if found is not None and not found.disabled and found.auth_epoch == session.get(_EPOCH):
            inspector = found
        else:
            session.clear()
    g.current_inspector = inspector
    return inspector


def raw_office_keys() -> dict[int, bytes]:
    """Office private keys of this session, limited to the grants that still exist (revocation
    takes effect at the next request, not at the next login)."""
    if "raw_office_keys" in g:
        return g.raw_office_keys
    inspector = current_inspector()
    keys: dict[int, bytes] = {}
    if inspector is not None:
        granted = set(get_session().scalars(
            select(OfficeGrant.office_key_id).where(OfficeGrant.inspector_id == inspector.id)))
        for kid_text, key_text in (session.get(_KEYS) or {}).items():
            try:
                kid = int(kid_text)
                if kid in granted:
                    keys[kid] = base64.b64decode(key_text)
            except (ValueError, TypeError):
                continue
    g.raw_office_keys = keys
    return keys


def office_keys() -> dict[int, crypto.PrivateKey]:
    """{office_key_id: parsed private key}, parsed once per request."""
    if "office_keys" in g:
        return g.office_keys
    parsed: dict[int, crypto.PrivateKey] = {}
    for kid, raw in raw_office_keys().items():
        try:
            parsed[kid] = crypto.PrivateKey(raw)
        except crypto.CryptoError:
            continue
    g.office_keys = parsed
    return parsed


def add_office_keys(keys: dict[int, bytes]) -> None:
    """After an admin creates, rotates or recovers an office: their session holds the new keys too."""
    held = dict(session.get(_KEYS) or {})
    held.update({str(kid): base64.b64encode(key).decode("ascii") for kid, key in keys.items()})
    session[_KEYS] = held
    for name in ("raw_office_keys", "office_keys"):
        g.pop(name, None)


def refresh_epoch(inspector: Inspector) -> None:
    """After the inspector changed their own password: this session stays valid, others end."""
    session[_EPOCH] = inspector.auth_epoch


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_inspector() is None:
            return redirect(url_for("inspectors.login", next=_safe_next()), code=303)
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        inspector = current_inspector()
        if inspector is None:
            return redirect(url_for("inspectors.login", next=_safe_next()), code=303)
        if not inspector.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _safe_next() -> str | None:
    # Only a GET path on this site is worth coming back to; never a full URL (open redirect).
    if request.method != "GET":
        return None
    return request.full_path.rstrip("?") if request.full_path.startswith("/") else None


def is_safe_next(target: str | None) -> bool:
    """A path on this site: no scheme, no host, nothing a browser would turn into one."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return False
    return all(ch.isprintable() and not ch.isspace() and ch != "\\" for ch in target)
