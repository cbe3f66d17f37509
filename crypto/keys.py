"""Hybrid post-quantum key pairs (ML-KEM-768 + X25519) and RFC 9180 HPKE sealing of small secrets.

Keys travel as raw bytes of their parts: the public key is the ML-KEM-768 encapsulation key followed
by the X25519 public key; the private key is the 64-byte ML-KEM seed followed by the X25519 scalar.
"""

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from . import _random
from ._context import bind
from .errors import CryptoError

MLKEM_PUBLIC_SIZE = 1184
MLKEM_SEED_SIZE = 64
X25519_SIZE = 32
PUBLIC_KEY_SIZE = MLKEM_PUBLIC_SIZE + X25519_SIZE
PRIVATE_KEY_SIZE = MLKEM_SEED_SIZE + X25519_SIZE
SEALED_VERSION = 0x51

_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


@dataclass(frozen=True, repr=False)
class KeyPair:
    public_key: bytes
    private_key: bytes

    def __repr__(self) -> str:  # never print a private key by accident
        return f"KeyPair(public_key=<{len(self.public_key)} bytes>, private_key=<hidden>)"


class PrivateKey:
    """A private key parsed once, for opening many sealed keys in a row (parsing costs as much as an open)."""

    __slots__ = ("_key",)

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes | bytearray) or len(raw) != PRIVATE_KEY_SIZE:
            raise CryptoError()
        try:
            self._key = hpke.MLKEM768X25519PrivateKey(
                mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(raw[:MLKEM_SEED_SIZE])),
                x25519.X25519PrivateKey.from_private_bytes(bytes(raw[MLKEM_SEED_SIZE:])),
            )
        except (ValueError, TypeError):
            raise CryptoError() from None

    def __repr__(self) -> str:
        return "PrivateKey(<hidden>)"


class PublicKey:
    """A public key parsed once, for sealing to it again and again (an office key: every tip)."""

    __slots__ = ("_key",)

    def __init__(self, raw: bytes) -> None:
        self._key = _public(raw)

    def __repr__(self) -> str:
        return "PublicKey(<parsed>)"


def keypair_from_seed(seed: bytes) -> KeyPair:
    """Deterministic key pair from 96 bytes of seed (the receipt and recovery-key derivations use this)."""
    if not isinstance(seed, bytes | bytearray) or len(seed) != PRIVATE_KEY_SIZE:
        raise CryptoError()
    kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(seed[:MLKEM_SEED_SIZE]))
    dh = x25519.X25519PrivateKey.from_private_bytes(bytes(seed[MLKEM_SEED_SIZE:]))
    public = kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw()
    return KeyPair(public_key=public, private_key=bytes(seed))


def generate_keypair() -> KeyPair:
    return keypair_from_seed(_random.token_bytes(PRIVATE_KEY_SIZE))


def public_key_of(private_key: bytes) -> bytes:
    return keypair_from_seed(private_key).public_key


def _public(raw: bytes) -> hpke.MLKEM768X25519PublicKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != PUBLIC_KEY_SIZE:
        raise CryptoError()
    try:
        return hpke.MLKEM768X25519PublicKey(
            mlkem.MLKEM768PublicKey.from_public_bytes(bytes(raw[:MLKEM_PUBLIC_SIZE])),
            x25519.X25519PublicKey.from_public_bytes(bytes(raw[MLKEM_PUBLIC_SIZE:])),
        )
    except (ValueError, TypeError):
        raise CryptoError() from None


def seal_key(secret: bytes, public_key: "bytes | PublicKey", *, owner: str, purpose: str) -> bytes:
    """Seal a small secret (a data key, an office private key) to a public key with HPKE.

    `owner` and `purpose` go into the HPKE info, so a sealed key only opens where it was sealed for.
    """
    if not isinstance(secret, bytes | bytearray):
        raise CryptoError()
    info = bind("seal/v1", owner, purpose)
    recipient = public_key._key if isinstance(public_key, PublicKey) else _public(public_key)
    try:
        return bytes([SEALED_VERSION]) + _SUITE.encrypt(bytes(secret), recipient, info=info)
    except ValueError:  # e.g. a low-order X25519 point: the shared secret would be all zeros
        raise CryptoError() from None


def open_key(sealed: bytes, private_key: "bytes | PrivateKey", *, owner: str, purpose: str) -> bytes:
    key = private_key if isinstance(private_key, PrivateKey) else PrivateKey(private_key)
    if not isinstance(sealed, bytes | bytearray) or len(sealed) < 2 or sealed[0] != SEALED_VERSION:
        raise CryptoError()
    try:
        return _SUITE.decrypt(bytes(sealed[1:]), key._key, info=bind("seal/v1", owner, purpose))
    except (InvalidTag, ValueError, TypeError):
        raise CryptoError() from None
