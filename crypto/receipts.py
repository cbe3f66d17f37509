"""Receipts: 20 random digits (≈66 bits), the reporter's only credential.

Argon2id(receipt, install salt; 19 MiB, 2 passes, 1 lane) gives a master secret that is never stored;
HKDF of it gives the lookup id stored with the tip and the seeds of the reporter's key pair.
"""

import unicodedata
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _random
from ._context import bind
from ._limits import KDF_SLOTS
from .errors import CryptoError
from .keys import PRIVATE_KEY_SIZE, keypair_from_seed

RECEIPT_DIGITS = 20
RECEIPT_MEMORY_KIB = 19 * 1024
RECEIPT_ITERATIONS = 2
RECEIPT_LANES = 1
SALT_SIZE = 16
LOOKUP_ID_SIZE = 32


@dataclass(frozen=True, repr=False)
class ReceiptKeys:
    lookup_id: bytes
    public_key: bytes
    private_key: bytes

    def __repr__(self) -> str:
        return "ReceiptKeys(<hidden>)"


def new_receipt() -> str:
    return str(_random.randbelow(10**RECEIPT_DIGITS)).zfill(RECEIPT_DIGITS)


def new_receipt_salt() -> bytes:
    return _random.token_bytes(SALT_SIZE)


def format_receipt(receipt: str) -> str:
    """'12345678901234567890' → '1234 5678 9012 3456 7890'."""
    return " ".join(receipt[i : i + 4] for i in range(0, len(receipt), 4))


def normalize_receipt(text: str) -> str | None:
    """Accept what a person types: any spaces or punctuation between digits, full-width digits.
    None unless exactly 20 ASCII digits remain."""
    if not isinstance(text, str) or len(text) > 200:
        return None
    folded = unicodedata.normalize("NFKC", text)
    digits = "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "ZPC")
    if len(digits) != RECEIPT_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def derive_receipt_keys(receipt: str, salt: bytes) -> ReceiptKeys:
    digits = normalize_receipt(receipt)
    if digits is None or not isinstance(salt, bytes | bytearray) or len(salt) != SALT_SIZE:
        raise CryptoError()
    with KDF_SLOTS:
        master = Argon2id(
            salt=bytes(salt),
            length=32,
            iterations=RECEIPT_ITERATIONS,
            lanes=RECEIPT_LANES,
            memory_cost=RECEIPT_MEMORY_KIB,
        ).derive(digits.encode("ascii"))
    lookup_id = HKDF(hashes.SHA256(), LOOKUP_ID_SIZE, None, bind("receipt-lookup/v1")).derive(master)
    seed = HKDF(hashes.SHA256(), PRIVATE_KEY_SIZE, None, bind("receipt-keypair/v1")).derive(master)
    pair = keypair_from_seed(seed)
    return ReceiptKeys(lookup_id=lookup_id, public_key=pair.public_key, private_key=pair.private_key)
