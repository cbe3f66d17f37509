"""Domain-separated, unambiguous byte strings for HPKE info and AEAD associated data."""

from .errors import CryptoError


def bind(domain: str, *parts: str) -> bytes:
    # Length-prefixed so that ("a|b", "c") and ("a", "b|c") can never collide.
    out = bytearray(b"tipline/" + domain.encode("ascii"))
    for part in parts:
        if not isinstance(part, str):
            raise CryptoError()
        try:
            raw = part.encode("utf-8")
            out += len(raw).to_bytes(2, "big") + raw
        except (UnicodeEncodeError, OverflowError):  # lone surrogates; parts over 64 KiB
            raise CryptoError() from None
    return bytes(out)
