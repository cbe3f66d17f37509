"""Hybrid ML-KEM-768 + X25519 key pairs and HPKE seal_key / open_key."""

import pytest

import crypto
from crypto import keys

PUBLIC_SIZE = 1184 + 32
PRIVATE_SIZE = 64 + 32
ENC_SIZE = 1088 + 32  # ML-KEM-768 ciphertext ‖ X25519 ephemeral public key
TAG_SIZE = 16
SEAL = {"owner": "tip-1", "purpose": "office"}


def flipped(token: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(token)
    out[index] ^= mask
    return bytes(out)


@pytest.fixture(scope="module")
def secret() -> bytes:
    return crypto.new_data_key()


@pytest.fixture(scope="module")
def sealed(keypair: crypto.KeyPair, secret: bytes) -> bytes:
    return crypto.seal_key(secret, keypair.public_key, **SEAL)


# --- key pairs ---------------------------------------------------------------------------------


def test_generated_keypair_has_documented_sizes(keypair: crypto.KeyPair) -> None:
    assert isinstance(keypair.public_key, bytes) and len(keypair.public_key) == PUBLIC_SIZE
    assert isinstance(keypair.private_key, bytes) and len(keypair.private_key) == PRIVATE_SIZE


def test_generated_keypairs_differ(keypair: crypto.KeyPair, other_keypair: crypto.KeyPair) -> None:
    assert keypair.public_key != other_keypair.public_key
    assert keypair.private_key != other_keypair.private_key


def test_public_key_of_recomputes_the_public_half(keypair: crypto.KeyPair) -> None:
    assert crypto.public_key_of(keypair.private_key) == keypair.public_key
    assert crypto.public_key_of(bytearray(keypair.private_key)) == keypair.public_key


def test_keypair_from_seed_is_deterministic() -> None:
    seed = bytes(range(96))
    first, second = keys.keypair_from_seed(seed), keys.keypair_from_seed(seed)
    assert first == second
    assert first.private_key == seed
    assert keys.keypair_from_seed(bytes(95) + b"\x01").public_key != first.public_key


@pytest.mark.parametrize("bad", [b"", bytes(95), bytes(97), None, "x" * 96, 96])
def test_public_key_of_refuses_malformed_private_keys(bad: object) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.public_key_of(bad)


def test_keypair_is_immutable(keypair: crypto.KeyPair) -> None:
    with pytest.raises(AttributeError):
        keypair.private_key = b""  # type: ignore[misc]


# --- sealing round trips -----------------------------------------------------------------------


def test_seal_open_round_trip_with_raw_private_bytes(keypair: crypto.KeyPair, secret: bytes, sealed: bytes) -> None:
    assert crypto.open_key(sealed, keypair.private_key, **SEAL) == secret


def test_seal_open_round_trip_with_parsed_private_key(keypair: crypto.KeyPair, secret: bytes, sealed: bytes) -> None:
    private = crypto.PrivateKey(keypair.private_key)
    assert crypto.open_key(sealed, private, **SEAL) == secret
    # A parsed key is reusable for many opens.
    others = [crypto.seal_key(bytes([i]) * 32, keypair.public_key, owner=f"tip-{i}", purpose="office") for i in range(5)]
    assert [crypto.open_key(s, private, owner=f"tip-{i}", purpose="office") for i, s in enumerate(others)] == [
        bytes([i]) * 32 for i in range(5)
    ]


@pytest.mark.parametrize("payload", [b"", b"k", bytes(96), bytes(range(256)) * 4], ids=["empty", "1", "96", "1024"])
def test_seal_open_round_trip_sizes(keypair: crypto.KeyPair, payload: bytes) -> None:
    token = crypto.seal_key(payload, keypair.public_key, **SEAL)
    assert len(token) == 1 + ENC_SIZE + len(payload) + TAG_SIZE
    assert crypto.open_key(token, keypair.private_key, **SEAL) == payload


def test_office_private_key_sealed_to_inspector(keypair: crypto.KeyPair, other_keypair: crypto.KeyPair) -> None:
    office = crypto.generate_keypair()
    grant = crypto.seal_key(office.private_key, keypair.public_key, owner="inspector-7", purpose="office-key")
    unsealed = crypto.open_key(grant, keypair.private_key, owner="inspector-7", purpose="office-key")
    assert unsealed == office.private_key
    data_key = crypto.new_data_key()
    tip_seal = crypto.seal_key(data_key, office.public_key, owner="tip-9", purpose="office")
    assert crypto.open_key(tip_seal, unsealed, owner="tip-9", purpose="office") == data_key


def test_sealing_is_randomized(keypair: crypto.KeyPair, secret: bytes) -> None:
    assert crypto.seal_key(secret, keypair.public_key, **SEAL) != crypto.seal_key(secret, keypair.public_key, **SEAL)


def test_sealed_key_carries_version_byte(sealed: bytes) -> None:
    assert sealed[0] == keys.SEALED_VERSION == 0x51
    assert len(sealed) == 1 + ENC_SIZE + 32 + TAG_SIZE


# --- wrong key / owner / purpose ---------------------------------------------------------------


def test_wrong_private_key_fails(other_keypair: crypto.KeyPair, sealed: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(sealed, other_keypair.private_key, **SEAL)
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(sealed, crypto.PrivateKey(other_keypair.private_key), **SEAL)


def test_wrong_owner_fails(keypair: crypto.KeyPair, sealed: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(sealed, keypair.private_key, owner="tip-2", purpose="office")


def test_wrong_purpose_fails(keypair: crypto.KeyPair, sealed: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(sealed, keypair.private_key, owner="tip-1", purpose="reporter")


def test_owner_and_purpose_are_unambiguous(keypair: crypto.KeyPair, secret: bytes) -> None:
    token = crypto.seal_key(secret, keypair.public_key, owner="tip-1o", purpose="ffice")
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(token, keypair.private_key, owner="tip-1", purpose="office")


@pytest.mark.parametrize("half", ["mlkem", "x25519"])
def test_both_halves_of_the_hybrid_key_are_needed(keypair: crypto.KeyPair, sealed: bytes, half: str) -> None:
    # A private key that is right in one half only must not open: each KEM contributes to the secret.
    # Byte 0 lies in the ML-KEM seed's d; byte 65 in the X25519 scalar, away from the clamped bits.
    private = bytearray(keypair.private_key)
    private[0 if half == "mlkem" else 65] ^= 0x01
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(sealed, bytes(private), **SEAL)


@pytest.mark.parametrize("bad_public", [b"", bytes(PUBLIC_SIZE - 1), bytes(PUBLIC_SIZE + 1), None, "x" * PUBLIC_SIZE])
def test_sealing_to_a_malformed_public_key_is_refused(bad_public: object, secret: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.seal_key(secret, bad_public, **SEAL)


def test_sealing_to_a_parsed_public_key_opens_like_raw_bytes(keypair: crypto.KeyPair, secret: bytes) -> None:
    parsed = crypto.PublicKey(keypair.public_key)
    first, second = crypto.seal_key(secret, parsed, **SEAL), crypto.seal_key(secret, parsed, **SEAL)
    assert first != second  # parsed once, still a fresh encapsulation every time
    assert crypto.open_key(first, keypair.private_key, **SEAL) == secret
    assert crypto.open_key(second, keypair.private_key, **SEAL) == secret
    assert "PublicKey(" in repr(parsed)


@pytest.mark.parametrize("bad_public", [b"", bytes(PUBLIC_SIZE - 1), bytes(PUBLIC_SIZE + 1), None, "x" * PUBLIC_SIZE])
def test_a_malformed_public_key_cannot_be_parsed(bad_public: object) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.PublicKey(bad_public)


@pytest.mark.parametrize("bad_private", [b"", bytes(95), bytes(97), None, "x" * 96, memoryview(bytes(96))])
def test_malformed_private_key_is_refused(bad_private: object, sealed: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.PrivateKey(bad_private)
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(sealed, bad_private, **SEAL)


# --- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index",
    [0, 1, 1088, ENC_SIZE, ENC_SIZE + 1, ENC_SIZE + 16, -TAG_SIZE, -1],
    ids=["version", "enc-mlkem-first", "enc-x25519-first", "enc-last", "body-first", "body-mid", "tag-first", "tag-last"],
)
def test_flipped_byte_in_each_part_fails(keypair: crypto.KeyPair, sealed: bytes, index: int) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(flipped(sealed, index % len(sealed)), keypair.private_key, **SEAL)


def test_flipped_byte_anywhere_fails(keypair: crypto.KeyPair, sealed: bytes) -> None:
    private = crypto.PrivateKey(keypair.private_key)
    survivors = []
    for index in range(len(sealed)):
        try:
            crypto.open_key(flipped(sealed, index), private, **SEAL)
        except crypto.CryptoError:
            continue
        survivors.append(index)
    assert survivors == []


def test_truncation_fails(keypair: crypto.KeyPair, sealed: bytes) -> None:
    private = crypto.PrivateKey(keypair.private_key)
    for length in [*range(0, 40), 1000, ENC_SIZE, ENC_SIZE + 1, *range(len(sealed) - 20, len(sealed))]:
        with pytest.raises(crypto.CryptoError):
            crypto.open_key(sealed[:length], private, **SEAL)


def test_appended_bytes_fail(keypair: crypto.KeyPair, sealed: bytes) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(sealed + b"\x00", keypair.private_key, **SEAL)


def test_sealing_to_a_low_order_x25519_point_is_refused(keypair: crypto.KeyPair, secret: bytes) -> None:
    # The all-zero X25519 point gives an all-zero shared secret, which must be refused opaquely.
    bad_public = keypair.public_key[:1184] + bytes(32)
    with pytest.raises(crypto.CryptoError):
        crypto.seal_key(secret, bad_public, **SEAL)
