"""Inspector private keys wrapped under Argon2id(password): 64 MiB, 3 passes, 1 lane.

A successful unwrap is the password check: no separate password hash is stored.
"""

import unicodedata

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from . import _aead, _random
from ._context import bind
from ._limits import KDF_SLOTS
from .errors import CryptoError

WRAP_VERSION = 0x57
PASSWORD_MEMORY_KIB = 64 * 1024
PASSWORD_ITERATIONS = 3
PASSWORD_LANES = 1
_SALT_SIZE = 16
_AAD = bind("password-wrap/v1")


def _derive(password: str, salt: bytes) -> bytes:
    if not isinstance(password, str):
        raise CryptoError()
    try:
        # NFC: the same password typed with another input method or OS gives the same bytes.
        secret = unicodedata.normalize("NFC", password).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        raise CryptoError() from None
    with KDF_SLOTS:
        return Argon2id(
            salt=salt,
            length=32,
            iterations=PASSWORD_ITERATIONS,
            lanes=PASSWORD_LANES,
            memory_cost=PASSWORD_MEMORY_KIB,
        ).derive(secret)


def wrap_private_key(private_key: bytes, password: str) -> bytes:
    salt = _random.token_bytes(_SALT_SIZE)
    return salt + _aead.encrypt(_derive(password, salt), WRAP_VERSION, private_key, _AAD)


def unwrap_private_key(wrapped: bytes, password: str) -> bytes:
    if not isinstance(wrapped, bytes | bytearray) or len(wrapped) <= _SALT_SIZE:
        raise CryptoError()
    salt = bytes(wrapped[:_SALT_SIZE])
    return _aead.decrypt(_derive(password, salt), WRAP_VERSION, bytes(wrapped[_SALT_SIZE:]), _AAD)


def spend_password_time(password: str) -> None:
    """Run the same KDF as a real unwrap, so that unknown users take as long as known ones."""
    _derive(password, b"\x00" * _SALT_SIZE)
