"""Offline recovery keys: 160 random bits shown once as base32 in groups, kept on paper by the office."""

import base64
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _random
from ._context import bind
from .errors import CryptoError
from .keys import PRIVATE_KEY_SIZE, KeyPair, keypair_from_seed

_RECOVERY_BYTES = 20


def new_recovery_key() -> str:
    text = base64.b32encode(_random.token_bytes(_RECOVERY_BYTES)).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def recovery_keypair(recovery_key: str) -> KeyPair:
    """The key pair an office's private key is sealed to. High-entropy input, so HKDF suffices."""
    if not isinstance(recovery_key, str):
        raise CryptoError()
    text = unicodedata.normalize("NFKC", recovery_key).upper()
    text = "".join(ch for ch in text if ch.isalnum())
    try:
        raw = base64.b32decode(text)
    except (ValueError, TypeError):
        raise CryptoError() from None
    if len(raw) != _RECOVERY_BYTES:
        raise CryptoError()
    seed = HKDF(hashes.SHA256(), PRIVATE_KEY_SIZE, None, bind("recovery-keypair/v1")).derive(raw)
    return keypair_from_seed(seed)
