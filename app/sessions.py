"""Server-side sessions whose contents the server cannot read on its own.

The cookie holds `<id>.<key>`; the table holds SHA-256(id) and the session data encrypted under `key`.
A database copied during a session reveals nothing (DESIGN.md, inspector sessions), any worker on
any host can serve the request, and the cookie has no expiry date, so it dies with the browser.

The idle and absolute deadlines live inside the encrypted data; the clear row keeps only the date
after which an abandoned row is purged, so that no time of day sits in the database next to a tip.
"""

import base64
import hashlib
import json
import secrets
from datetime import date, timedelta
from typing import Any

from flask import Flask, Request, Response, current_app
from flask import session as flask_session
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import Date, LargeBinary, String, bindparam, delete, insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm import Session as OrmSession
from werkzeug.datastructures import CallbackDict

import crypto
from app import clock
from app.db import Base

_REFRESH_AFTER_SECONDS = 60
_IDLE = "_idle_until"
_ABSOLUTE = "_absolute_until"


class ServerSession(Base):
    __tablename__ = "sessions"
    __table_args__ = {"sqlite_with_rowid": False}

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    purge_after: Mapped[date] = mapped_column(Date, index=True)


# Every request of both sites reads its session, and many write it back: statements built once
# (on the table, not the mapped class) cost a fraction of statements built per request.
_SESSIONS = Base.metadata.tables["sessions"]
_READ = _SESSIONS.select().with_only_columns(_SESSIONS.c.site, _SESSIONS.c.data).where(
    _SESSIONS.c.id == bindparam("row_id"))
_REWRITE = _SESSIONS.update().where(_SESSIONS.c.id == bindparam("row_id")).values(data=bindparam("payload"))


class SessionEnded(Exception):
    """The session's row is gone (logged out or re-keyed in another tab, purged): the session has
    ended, and nothing of it may be written back."""


class TiplineSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None,
                 key: bytes | None = None, idle_expires_at: float = 0.0,
                 absolute_expires_at: float = 0.0) -> None:
        def on_update(self: "TiplineSession") -> None:
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.key = key
        self.idle_expires_at = idle_expires_at
        self.absolute_expires_at = absolute_expires_at
        self.modified = False
        self.regenerate_requested = False
        self.previous_sid: str | None = None

    def regenerate(self) -> None:
        """New id and key (at login): a session id seen before login is useless after it."""
        if self.sid is not None:
            self.previous_sid = self.sid
        self.sid = None
        self.key = None
        self.absolute_expires_at = 0.0
        self.regenerate_requested = True
        self.modified = True


def _hash_id(sid: str) -> str:
    return hashlib.sha256(sid.encode("ascii")).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class EncryptedSessionInterface(SessionInterface):
    def __init__(self, site: str, cookie_name: str, idle_seconds: int, absolute_seconds: int) -> None:
        self.site = site
        self.cookie_name = cookie_name
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    def _engine(self, app: Flask) -> Engine:
        return app.extensions["tipline_engine"]

    def open_session(self, app: Flask, request: Request) -> TiplineSession:
        cookie = request.cookies.get(self.cookie_name, "")
        sid, _, key_text = cookie.partition(".")
        if not sid or not key_text or len(cookie) > 200:
            return TiplineSession()
        try:
            key = _unb64(key_text)
            sid.encode("ascii")
        except (ValueError, UnicodeEncodeError):
            return TiplineSession()
        now = clock.now()
        row_id = _hash_id(sid)
        # Core statements on a pooled connection: every request of both sites comes through here.
        with self._engine(app).connect() as connection:
            row = connection.execute(_READ, {"row_id": row_id}).first()
            if row is None or row.site != self.site:
                return TiplineSession()
            try:
                data = json.loads(crypto.decrypt_for_session(key, row.data, session_id=row_id))
                idle_until = float(data.pop(_IDLE))
                absolute_until = float(data.pop(_ABSOLUTE))
            except (crypto.CryptoError, ValueError, KeyError, TypeError):
                return TiplineSession()
            if idle_until < now or absolute_until < now:
                connection.execute(delete(ServerSession).where(ServerSession.id == row_id))
                connection.commit()
                return TiplineSession()
        return TiplineSession(data, sid=sid, key=key, idle_expires_at=idle_until,
                              absolute_expires_at=absolute_until)

    def save_session(self, app: Flask, session: TiplineSession, response: Response) -> None:  # type: ignore[override]
        secure = bool(app.config.get("COOKIE_SECURE"))
        now = clock.now()
        if not session and session.sid is None and session.previous_sid is None:
            return  # nothing stored and nothing to forget: no connection needed
        if session and not (session.modified
                            or session.idle_expires_at - now < self.idle_seconds - _REFRESH_AFTER_SECONDS):
            return
        with self._engine(app).begin() as connection:
            if session.previous_sid is not None:
                connection.execute(delete(ServerSession).where(ServerSession.id == _hash_id(session.previous_sid)))
            if not session:
                if session.sid is not None:
                    connection.execute(delete(ServerSession).where(ServerSession.id == _hash_id(session.sid)))
                response.delete_cookie(self.cookie_name, path="/", secure=secure, httponly=True, samesite="Strict")
                return
            try:
                is_new = self._write(connection, session, now)
            except SessionEnded:
                response.delete_cookie(self.cookie_name, path="/", secure=secure, httponly=True, samesite="Strict")
                return
        if is_new:
            response.set_cookie(self.cookie_name, f"{session.sid}.{_b64(session.key or b'')}", path="/",
                                secure=secure, httponly=True, samesite="Strict")

    def save_within(self, db: OrmSession, session: TiplineSession) -> None:
        """Write an existing session's row in the caller's transaction, so that what it carries (a
        new tip's receipt) commits with the tip, in one commit instead of two. The end of the
        request then has nothing left to write unless the session changes again."""
        if session.sid is None or session.key is None or session.previous_sid is not None or not session:
            return  # a new, regenerated or emptied session is saved at the end of the request
        self._write(db.connection(), session, clock.now())
        session.modified = False

    def _write(self, connection: Connection, session: TiplineSession, now: float) -> bool:
        """Encrypt the session into its row; returns whether the row is new (needs a cookie)."""
        is_new = session.sid is None or session.key is None
        if session.sid is None or session.key is None:
            session.sid = _b64(secrets.token_bytes(24))
            session.key = crypto.new_data_key()
            session.absolute_expires_at = now + self.absolute_seconds
        session.idle_expires_at = min(now + self.idle_seconds, session.absolute_expires_at)
        row_id = _hash_id(session.sid)
        state = {**dict(session), _IDLE: session.idle_expires_at, _ABSOLUTE: session.absolute_expires_at}
        payload = crypto.encrypt_for_session(session.key, json.dumps(state).encode("utf-8"), session_id=row_id)
        if is_new:
            connection.execute(insert(ServerSession).values(
                id=row_id, site=self.site, data=payload, purge_after=_purge_date(session.absolute_expires_at)))
            purge_expired(connection)  # abandoned rows are swept when new ones are made, not on every save
        else:
            # No row any more (logged out in another tab meanwhile, or purged): the session has
            # ended, and this request must not bring it back.
            result = connection.execute(_REWRITE, {"row_id": row_id, "payload": payload})
            if result.rowcount != 1:
                raise SessionEnded()
        return is_new


def save_within(db: OrmSession) -> None:
    """The current request's session, written in `db`'s transaction (see save_within above)."""
    interface = current_app.session_interface
    if isinstance(interface, EncryptedSessionInterface) and isinstance(flask_session, TiplineSession):
        interface.save_within(db, flask_session)


def _purge_date(_absolute_until: float) -> date:
    # Always the day after: the absolute lifetime is under a day, and a date computed from the
    # creation time would tell whether the session began before or after some hour of the day.
    return clock.today() + timedelta(days=1)


def purge_expired(db) -> int:
    """Delete rows whose absolute deadline has certainly passed (day granularity; the precise
    deadlines are enforced when the cookie is presented)."""
    result = db.execute(delete(ServerSession).where(ServerSession.purge_after < clock.today()))
    return result.rowcount or 0
