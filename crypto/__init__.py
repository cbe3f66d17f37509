"""Tipline's encryption: the only package that touches cryptography's primitives.

Every failure to open, decrypt, unwrap or parse raises the one opaque CryptoError.
"""

from .errors import CryptoError
from .fields import (
    decrypt_field,
    decrypt_for_session,
    encrypt_field,
    encrypt_for_session,
    new_data_key,
)
from .files import CHUNK_SIZE, decrypt_file, encrypt_file, encrypted_size
from .keys import (
    KeyPair,
    PrivateKey,
    PublicKey,
    generate_keypair,
    open_key,
    public_key_of,
    seal_key,
)
from .passwords import spend_password_time, unwrap_private_key, wrap_private_key
from .receipts import (
    ReceiptKeys,
    derive_receipt_keys,
    format_receipt,
    new_receipt,
    new_receipt_salt,
    normalize_receipt,
)
from .recovery import new_recovery_key, recovery_keypair

__all__ = [
    "CHUNK_SIZE",
    "CryptoError",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "ReceiptKeys",
    "decrypt_field",
    "decrypt_file",
    "decrypt_for_session",
    "derive_receipt_keys",
    "encrypt_field",
    "encrypt_file",
    "encrypt_for_session",
    "encrypted_size",
    "format_receipt",
    "generate_keypair",
    "new_data_key",
    "new_receipt",
    "new_receipt_salt",
    "new_recovery_key",
    "normalize_receipt",
    "open_key",
    "public_key_of",
    "recovery_keypair",
    "seal_key",
    "spend_password_time",
    "unwrap_private_key",
    "wrap_private_key",
]
