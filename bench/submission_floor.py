"""The floor for bench.submissions: a WSGI app that does only what no submission can skip.

Each POST derives a receipt's keys (the same Argon2id, 19 MiB, 2 passes), INSERTs one row of a
tip's size (~4.6 KB: the derived lookup id and public key, then random bytes the sizes of the two
sealed data keys and of the sealed content) and commits it durably (SQLite WAL, synchronous=FULL, as app/db.py
sets it) before answering the redirect. No form, no validation, no session, no CSRF check, no
HPKE seal, no index but the primary key: nothing a real tip line could ship. Served by the same
gunicorn (2 sync workers) and driven by the same load generator, it shows what share of the KDF
ceiling is left once the unavoidable rest of a submission is paid on these cores.

Not part of the product: run by `python -m bench.submissions` only.
"""

import os
import secrets
import sqlite3
from pathlib import Path

import crypto

# Stored sizes (bytes) of what store_tip seals today (app/reporting/services.py); the lookup id and
# the reporter's public key are the derived ones.
SEALED_SIZES = (1169, 1169, 1053)  # key_for_office, key_for_reporter, content
PAGE = b'<form method="post"><input name="csrf_token" type="hidden" value="floor"></form>'

_salt = crypto.new_receipt_salt()
_connection: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    """One connection per worker, opened after the fork."""
    global _connection
    if _connection is None:
        path = Path(os.environ["TIPLINE_DATA_DIR"]) / "floor.sqlite3"
        _connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
            _connection.execute(f"PRAGMA {pragma}")
        _connection.execute("CREATE TABLE IF NOT EXISTS tips (id TEXT PRIMARY KEY, lookup_id BLOB, "
                            "reporter_public_key BLOB, key_for_office BLOB, key_for_reporter BLOB, content BLOB) "
                            "WITHOUT ROWID")
    return _connection


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE))),
                                  ("Set-Cookie", "floor=1; HttpOnly")])
        return [PAGE]
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    keys = crypto.derive_receipt_keys(crypto.new_receipt(), _salt)
    db = _db()
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO tips VALUES (?, ?, ?, ?, ?, ?)",
               (secrets.token_urlsafe(16), keys.lookup_id, keys.public_key,
                *(os.urandom(size) for size in SEALED_SIZES)))
    db.execute("COMMIT")
    start_response("303 See Other", [("Location", "/tip/receipt"), ("Content-Length", "0")])
    return [b""]
