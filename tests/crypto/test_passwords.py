"""Inspector private keys wrapped under Argon2id(password)."""

import pytest

import crypto
from crypto import passwords

PASSWORD = "correct horse 电池 staple"
SALT_SIZE, VERSION_SIZE, NONCE_SIZE, TAG_SIZE = 16, 1, 12, 16


def flipped(token: bytes, index: int) -> bytes:
    out = bytearray(token)
    out[index] ^= 0x01
    return bytes(out)


@pytest.fixture(scope="module")
def private_key() -> bytes:
    return crypto.generate_keypair().private_key


@pytest.fixture(scope="module")
def wrapped(private_key: bytes) -> bytes:
    """Wrapped once with the real (64 MiB) parameters and shared, because each call costs ~0.3 s."""
    return crypto.wrap_private_key(private_key, PASSWORD)


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record the parameters of every Argon2id the password module builds (still running it)."""
    calls: list[dict] = []
    real = passwords.Argon2id

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(passwords, "Argon2id", spy)
    return calls


def test_kdf_parameters_match_the_design() -> None:
    assert passwords.PASSWORD_MEMORY_KIB == 64 * 1024  # 64 MiB
    assert passwords.PASSWORD_ITERATIONS == 3
    assert passwords.PASSWORD_LANES == 1


def test_round_trip_with_real_parameters(private_key: bytes, wrapped: bytes, argon2_calls: list[dict]) -> None:
    assert crypto.unwrap_private_key(wrapped, PASSWORD) == private_key
    assert len(argon2_calls) == 1
    call = argon2_calls[0]
    assert (call["memory_cost"], call["iterations"], call["lanes"], call["length"]) == (65536, 3, 1, 32)
    assert call["salt"] == wrapped[:SALT_SIZE]


def test_spend_password_time_runs_the_same_kdf(argon2_calls: list[dict]) -> None:
    crypto.spend_password_time("unknown user's guess")
    assert len(argon2_calls) == 1
    assert (argon2_calls[0]["memory_cost"], argon2_calls[0]["iterations"], argon2_calls[0]["lanes"]) == (65536, 3, 1)


def test_wrong_password_fails(wrapped: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_private_key(wrapped, PASSWORD + " ")


def test_wrapping_twice_gives_different_ciphertexts(private_key: bytes, cheap_password_kdf: None) -> None:
    first = crypto.wrap_private_key(private_key, PASSWORD)
    second = crypto.wrap_private_key(private_key, PASSWORD)
    assert first[:SALT_SIZE] != second[:SALT_SIZE]
    assert first != second
    assert crypto.unwrap_private_key(first, PASSWORD) == crypto.unwrap_private_key(second, PASSWORD) == private_key


def test_layout(wrapped: bytes) -> None:
    assert wrapped[SALT_SIZE] == passwords.WRAP_VERSION == 0x57
    assert len(wrapped) == SALT_SIZE + VERSION_SIZE + NONCE_SIZE + 256 + TAG_SIZE  # 96-byte key padded to 256


@pytest.mark.parametrize("password", ["", "p", "密码" * 50, "emoji 🔑", "x" * 1000])
def test_round_trip_passwords(private_key: bytes, password: str, cheap_password_kdf: None) -> None:
    token = crypto.wrap_private_key(private_key, password)
    assert crypto.unwrap_private_key(token, password) == private_key


def test_empty_private_key_round_trips(cheap_password_kdf: None) -> None:
    assert crypto.unwrap_private_key(crypto.wrap_private_key(b"", PASSWORD), PASSWORD) == b""


def test_passwords_differing_in_case_or_whitespace_fail(private_key: bytes, cheap_password_kdf: None) -> None:
    token = crypto.wrap_private_key(private_key, "Secret pass")
    for guess in ("secret pass", "Secret pass ", " Secret pass", "Secretpass"):
        with pytest.raises(crypto.CryptoError):
            crypto.unwrap_private_key(token, guess)


def test_rewrap_on_password_change(private_key: bytes, cheap_password_kdf: None) -> None:
    old = crypto.wrap_private_key(private_key, "old password")
    new = crypto.wrap_private_key(crypto.unwrap_private_key(old, "old password"), "new password")
    assert crypto.unwrap_private_key(new, "new password") == private_key
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_private_key(new, "old password")


def test_flipped_byte_anywhere_fails(private_key: bytes, cheap_password_kdf: None) -> None:
    token = crypto.wrap_private_key(private_key, PASSWORD)
    parts = {
        "salt": range(0, SALT_SIZE),
        "version": range(SALT_SIZE, SALT_SIZE + 1),
        "nonce": range(SALT_SIZE + 1, SALT_SIZE + 1 + NONCE_SIZE),
        "body": range(SALT_SIZE + 1 + NONCE_SIZE, len(token) - TAG_SIZE),
        "tag": range(len(token) - TAG_SIZE, len(token)),
    }
    assert sum(map(len, parts.values())) == len(token)
    survivors = []
    for part, indexes in parts.items():
        for index in indexes:
            try:
                crypto.unwrap_private_key(flipped(token, index), PASSWORD)
            except crypto.CryptoError:
                continue
            survivors.append((part, index))
    assert survivors == []


def test_truncation_fails(private_key: bytes, cheap_password_kdf: None) -> None:
    token = crypto.wrap_private_key(private_key, PASSWORD)
    for length in range(len(token)):
        with pytest.raises(crypto.CryptoError):
            crypto.unwrap_private_key(token[:length], PASSWORD)


@pytest.mark.parametrize("password", [None, b"bytes password", 123, "\ud800 lone surrogate"])
def test_bad_password_values_fail_opaquely(wrapped: bytes, password: object, cheap_password_kdf: None) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.unwrap_private_key(wrapped, password)
    with pytest.raises(crypto.CryptoError):
        crypto.spend_password_time(password)
