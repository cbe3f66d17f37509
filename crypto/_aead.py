"""AES-256-GCM with a version byte, a random nonce and size-bucket padding."""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import _random
from .errors import CryptoError

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16

# Padded plaintext sizes: short fields all look alike, long accounts leak only their order of size.
_BUCKETS = (64, 256, 1024, 4096, 16384, 65536)
_LARGE_STEP = 65536


def padded_size(n: int) -> int:
    """Smallest bucket that holds n bytes plus the one-byte padding marker."""
    need = n + 1
    for bucket in _BUCKETS:
        if need <= bucket:
            return bucket
    return -(-need // _LARGE_STEP) * _LARGE_STEP


def pad(data: bytes, size: int | None = None) -> bytes:
    # ISO/IEC 7816-4: a 0x80 marker then zeros, so no length field is needed.
    size = padded_size(len(data)) if size is None else size
    return data + b"\x80" + b"\x00" * (size - len(data) - 1)


def unpad(data: bytes) -> bytes:
    # The last 0x80 with only zeros after it (rstrip(b"\x00") walks the zeros byte by byte in
    # Python's generic strip: twice as slow, on every field of every tip an index build opens).
    end = data.rfind(0x80)
    if end < 0 or data.count(0, end + 1) != len(data) - end - 1:
        raise CryptoError()
    return data[:end]


def check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise CryptoError()


def encrypt(key: bytes, version: int, plaintext: bytes, aad: bytes, *, nonce: bytes | None = None) -> bytes:
    check_key(key)
    nonce = _random.token_bytes(NONCE_SIZE) if nonce is None else nonce
    header = bytes([version])
    return header + nonce + AESGCM(key).encrypt(nonce, pad(plaintext), header + aad)


def decrypt(key: bytes, version: int, token: bytes, aad: bytes) -> bytes:
    check_key(key)
    if not isinstance(token, bytes | bytearray) or len(token) < 1 + NONCE_SIZE + TAG_SIZE:
        raise CryptoError()
    if token[0] != version:
        raise CryptoError()
    header, nonce, body = bytes(token[:1]), bytes(token[1 : 1 + NONCE_SIZE]), bytes(token[1 + NONCE_SIZE :])
    try:
        return unpad(AESGCM(key).decrypt(nonce, body, header + aad))
    except InvalidTag:
        raise CryptoError() from None
