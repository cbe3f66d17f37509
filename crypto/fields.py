"""Symmetric encryption of tip fields and of session state, bound to what it belongs to."""

from . import _aead, _random
from ._context import bind

FIELD_VERSION = 0x46
SESSION_VERSION = 0x53


def new_data_key() -> bytes:
    return _random.token_bytes(_aead.KEY_SIZE)


def encrypt_field(key: bytes, plaintext: bytes, *, tip_id: str, purpose: str) -> bytes:
    """Encrypt one field of a tip under its data key; the ciphertext opens only for this tip and purpose."""
    return _aead.encrypt(key, FIELD_VERSION, plaintext, bind("field/v1", tip_id, purpose))


def decrypt_field(key: bytes, token: bytes, *, tip_id: str, purpose: str) -> bytes:
    return _aead.decrypt(key, FIELD_VERSION, token, bind("field/v1", tip_id, purpose))


def _encrypt_field_with_nonce(key: bytes, plaintext: bytes, nonce: bytes, *, tip_id: str, purpose: str) -> bytes:
    # Known-answer seam: the same bytes every time for a fixed nonce.
    return _aead.encrypt(key, FIELD_VERSION, plaintext, bind("field/v1", tip_id, purpose), nonce=nonce)


def encrypt_for_session(session_key: bytes, plaintext: bytes, *, session_id: str) -> bytes:
    """Encrypt server-side session state under the key that only the session cookie holds."""
    return _aead.encrypt(session_key, SESSION_VERSION, plaintext, bind("session/v1", session_id))


def decrypt_for_session(session_key: bytes, token: bytes, *, session_id: str) -> bytes:
    return _aead.decrypt(session_key, SESSION_VERSION, token, bind("session/v1", session_id))
