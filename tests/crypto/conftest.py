"""Fixtures shared by the crypto tests."""

import hashlib
import sys
from pathlib import Path

import pytest

# `python3 -m pytest` puts the repository root on sys.path; a bare `pytest` does not.
REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import crypto  # noqa: E402
from crypto import _random, passwords  # noqa: E402


class DeterministicRandom:
    """Stand-in for crypto._random: an endless SHAKE-256 stream, so vectors are reproducible."""

    def __init__(self, seed: bytes = b"tipline crypto test vectors") -> None:
        self._seed = seed
        self._offset = 0
        self.calls: list[tuple[str, int]] = []

    def token_bytes(self, n: int) -> bytes:
        self.calls.append(("token_bytes", n))
        start, self._offset = self._offset, self._offset + n
        return hashlib.shake_256(self._seed).digest(self._offset)[start:]

    def randbelow(self, n: int) -> int:
        self.calls.append(("randbelow", n))
        start, self._offset = self._offset, self._offset + 32
        return int.from_bytes(hashlib.shake_256(self._seed).digest(self._offset)[start:], "big") % n


@pytest.fixture
def fixed_random(monkeypatch: pytest.MonkeyPatch) -> DeterministicRandom:
    """Route every draw of the crypto package through a deterministic stream."""
    rng = DeterministicRandom()
    monkeypatch.setattr(_random, "token_bytes", rng.token_bytes)
    monkeypatch.setattr(_random, "randbelow", rng.randbelow)
    return rng


@pytest.fixture
def cheap_password_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at its minimum cost, for tests that need many unwraps (tamper, fuzz).

    The real parameters are checked by test_passwords.py; this only changes how long each call takes.
    """
    monkeypatch.setattr(passwords, "PASSWORD_MEMORY_KIB", 8)
    monkeypatch.setattr(passwords, "PASSWORD_ITERATIONS", 1)


@pytest.fixture(scope="session")
def keypair() -> crypto.KeyPair:
    return crypto.generate_keypair()


@pytest.fixture(scope="session")
def other_keypair() -> crypto.KeyPair:
    return crypto.generate_keypair()


@pytest.fixture
def data_key() -> bytes:
    return crypto.new_data_key()
