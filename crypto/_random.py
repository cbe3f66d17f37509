"""The one seam through which the crypto package draws randomness.

Tests replace these functions to make known-answer vectors deterministic; nothing else should.
"""

import secrets


def token_bytes(n: int) -> bytes:
    return secrets.token_bytes(n)


def randbelow(n: int) -> int:
    return secrets.randbelow(n)
