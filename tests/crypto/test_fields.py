"""encrypt_field / decrypt_field and encrypt_for_session / decrypt_for_session."""

import pytest

import crypto
from crypto import _aead, fields

VERSION_SIZE, NONCE_SIZE, TAG_SIZE = 1, 12, 16
OVERHEAD = VERSION_SIZE + NONCE_SIZE + TAG_SIZE
FIELD = {"tip_id": "tip-1", "purpose": "content"}


def flipped(token: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(token)
    out[index] ^= mask
    return bytes(out)


def position_classes(token: bytes) -> dict[str, int]:
    """One representative index for each part of version ‖ nonce ‖ body ‖ tag."""
    return {
        "version": 0,
        "nonce_first": 1,
        "nonce_last": NONCE_SIZE,
        "body_first": 1 + NONCE_SIZE,
        "body_last": len(token) - TAG_SIZE - 1,
        "tag_first": len(token) - TAG_SIZE,
        "tag_last": len(token) - 1,
    }


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [b"", b"x", "举报：每天打卡三次".encode(), bytes(range(256)), b"\x00" * 100, b"\x80", b"ends in zeros\x80\x00\x00"],
    ids=["empty", "one-byte", "chinese", "all-bytes", "zeros", "marker-byte", "marker-like-tail"],
)
def test_field_round_trip(data_key: bytes, plaintext: bytes) -> None:
    token = crypto.encrypt_field(data_key, plaintext, **FIELD)
    assert crypto.decrypt_field(data_key, token, **FIELD) == plaintext


def test_field_round_trip_one_mebibyte(data_key: bytes) -> None:
    plaintext = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB
    token = crypto.encrypt_field(data_key, plaintext, **FIELD)
    assert crypto.decrypt_field(data_key, token, **FIELD) == plaintext
    assert len(token) == OVERHEAD + _aead.padded_size(len(plaintext))


def test_field_accepts_bytearray_key_and_token(data_key: bytes) -> None:
    token = crypto.encrypt_field(bytearray(data_key), b"secret", **FIELD)
    assert crypto.decrypt_field(bytearray(data_key), bytearray(token), **FIELD) == b"secret"


@pytest.mark.parametrize("plaintext", [b"", b"state", b"\x00" * 5000])
def test_session_round_trip(plaintext: bytes) -> None:
    session_key = crypto.new_data_key()
    token = crypto.encrypt_for_session(session_key, plaintext, session_id="s-1")
    assert crypto.decrypt_for_session(session_key, token, session_id="s-1") == plaintext


def test_encryption_is_randomized(data_key: bytes) -> None:
    first = crypto.encrypt_field(data_key, b"same", **FIELD)
    second = crypto.encrypt_field(data_key, b"same", **FIELD)
    assert first != second
    assert first[1 : 1 + NONCE_SIZE] != second[1 : 1 + NONCE_SIZE]


def test_new_data_key_is_32_fresh_bytes() -> None:
    keys = {crypto.new_data_key() for _ in range(16)}
    assert len(keys) == 16
    assert all(isinstance(k, bytes) and len(k) == 32 for k in keys)


def test_version_byte_leads_every_token(data_key: bytes) -> None:
    assert crypto.encrypt_field(data_key, b"x", **FIELD)[0] == fields.FIELD_VERSION == 0x46
    assert crypto.encrypt_for_session(data_key, b"x", session_id="s")[0] == fields.SESSION_VERSION == 0x53


# --- wrong key / wrong context -----------------------------------------------------------------


def test_wrong_key_fails(data_key: bytes) -> None:
    token = crypto.encrypt_field(data_key, b"secret", **FIELD)
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(crypto.new_data_key(), token, **FIELD)


@pytest.mark.parametrize("bad_key", [b"", bytes(31), bytes(33), None, "k" * 32])
def test_malformed_key_is_refused_both_ways(data_key: bytes, bad_key: object) -> None:
    token = crypto.encrypt_field(data_key, b"secret", **FIELD)
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(bad_key, token, **FIELD)
    with pytest.raises(crypto.CryptoError):
        crypto.encrypt_field(bad_key, b"secret", **FIELD)


def test_wrong_tip_id_fails(data_key: bytes) -> None:
    token = crypto.encrypt_field(data_key, b"secret", tip_id="tip-1", purpose="content")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(data_key, token, tip_id="tip-2", purpose="content")


def test_wrong_purpose_fails(data_key: bytes) -> None:
    token = crypto.encrypt_field(data_key, b"secret", tip_id="tip-1", purpose="content")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(data_key, token, tip_id="tip-1", purpose="platform")


def test_fields_cannot_be_swapped_between_tips_or_purposes(data_key: bytes) -> None:
    # Two tips that happen to share a data key (they must not, but the binding must hold anyway).
    contexts = [(tip, purpose) for tip in ("tip-1", "tip-2") for purpose in ("content", "platform", "region")]
    tokens = {ctx: crypto.encrypt_field(data_key, repr(ctx).encode(), tip_id=ctx[0], purpose=ctx[1]) for ctx in contexts}
    for source, token in tokens.items():
        for target in contexts:
            if target == source:
                assert crypto.decrypt_field(data_key, token, tip_id=target[0], purpose=target[1]) == repr(source).encode()
            else:
                with pytest.raises(crypto.CryptoError):
                    crypto.decrypt_field(data_key, token, tip_id=target[0], purpose=target[1])


def test_context_parts_are_unambiguous(data_key: bytes) -> None:
    # A naive "tip|purpose" concatenation would let these collide.
    token = crypto.encrypt_field(data_key, b"secret", tip_id="ab", purpose="c")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(data_key, token, tip_id="a", purpose="bc")
    token = crypto.encrypt_field(data_key, b"secret", tip_id="a|b", purpose="c")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(data_key, token, tip_id="a", purpose="b|c")


def test_wrong_session_id_fails() -> None:
    session_key = crypto.new_data_key()
    token = crypto.encrypt_for_session(session_key, b"office keys", session_id="s-1")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_for_session(session_key, token, session_id="s-2")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_for_session(crypto.new_data_key(), token, session_id="s-1")


def test_session_token_does_not_decrypt_as_field(data_key: bytes) -> None:
    token = crypto.encrypt_for_session(data_key, b"state", session_id="tip-1")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(data_key, token, tip_id="tip-1", purpose="content")
    # Even with the version byte rewritten, the associated data keeps the two domains apart.
    relabelled = bytes([fields.FIELD_VERSION]) + token[1:]
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(data_key, relabelled, tip_id="tip-1", purpose="content")


def test_field_token_does_not_decrypt_as_session(data_key: bytes) -> None:
    token = crypto.encrypt_field(data_key, b"content", tip_id="s-1", purpose="content")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_for_session(data_key, token, session_id="s-1")
    relabelled = bytes([fields.SESSION_VERSION]) + token[1:]
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_for_session(data_key, relabelled, session_id="s-1")


# --- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("part", ["version", "nonce_first", "nonce_last", "body_first", "body_last", "tag_first", "tag_last"])
@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_flipped_byte_in_each_part_fails(data_key: bytes, part: str, mask: int) -> None:
    token = crypto.encrypt_field(data_key, b"ten bytes!", **FIELD)
    index = position_classes(token)[part]
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt_field(data_key, flipped(token, index, mask), **FIELD)


def test_flipped_byte_anywhere_fails(data_key: bytes) -> None:
    for encrypt, decrypt in [
        (lambda p: crypto.encrypt_field(data_key, p, **FIELD), lambda t: crypto.decrypt_field(data_key, t, **FIELD)),
        (
            lambda p: crypto.encrypt_for_session(data_key, p, session_id="s"),
            lambda t: crypto.decrypt_for_session(data_key, t, session_id="s"),
        ),
    ]:
        token = encrypt(b"")
        assert decrypt(token) == b""
        for index in range(len(token)):
            with pytest.raises(crypto.CryptoError):
                decrypt(flipped(token, index))


def test_every_truncation_fails(data_key: bytes) -> None:
    token = crypto.encrypt_field(data_key, b"secret", **FIELD)
    for length in range(len(token)):
        with pytest.raises(crypto.CryptoError):
            crypto.decrypt_field(data_key, token[:length], **FIELD)


def test_appended_bytes_fail(data_key: bytes) -> None:
    token = crypto.encrypt_field(data_key, b"secret", **FIELD)
    for extra in (b"\x00", b"\x80", token[-16:]):
        with pytest.raises(crypto.CryptoError):
            crypto.decrypt_field(data_key, token + extra, **FIELD)


def test_bad_padding_under_a_valid_tag_is_refused(data_key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # A correctly authenticated plaintext without the 0x80 marker is still refused (opaquely).
    # The marker must be the last byte that is not zero: one followed by anything else is refused.
    for bad_padding in (bytes(64), b"no marker" + b"\x01" * 55, b"late\x80\x01" + bytes(58),
                        b"\x80" * 63 + b"\x01", b"x\x80\x00\x00\x80\x00\x02" + bytes(57)):
        with monkeypatch.context() as patch:
            patch.setattr(_aead, "pad", lambda data, size=None, forged=bad_padding: forged)
            token = crypto.encrypt_field(data_key, b"ignored", **FIELD)
        with pytest.raises(crypto.CryptoError):
            crypto.decrypt_field(data_key, token, **FIELD)


# --- padding -----------------------------------------------------------------------------------


def test_plaintexts_that_look_like_padding_come_back_whole(data_key: bytes) -> None:
    for plaintext in (b"", b"\x80", b"\x00", b"a\x80", b"a\x80\x00", b"\x80\x00\x00", bytes(63) + b"\x80",
                      "电子台账\x00".encode(), b"\x80" * 300):
        token = crypto.encrypt_field(data_key, plaintext, **FIELD)
        assert crypto.decrypt_field(data_key, token, **FIELD) == plaintext


def test_short_fields_share_one_ciphertext_length(data_key: bytes) -> None:
    lengths = {len(crypto.encrypt_field(data_key, b"a" * n, **FIELD)) for n in (0, 10, 60, 63)}
    assert lengths == {OVERHEAD + 64}


def test_ciphertext_lengths_grow_only_in_buckets(data_key: bytes) -> None:
    allowed = {OVERHEAD + b for b in (64, 256, 1024, 4096, 16384, 65536)}
    allowed |= {OVERHEAD + 65536 * k for k in range(2, 20)}
    sizes = [0, 1, 62, 63, 64, 65, 200, 255, 256, 1000, 1023, 1024, 4095, 4096, 16383, 16384, 65535, 65536, 70000, 200000]
    lengths = [len(crypto.encrypt_field(data_key, bytes(n), **FIELD)) for n in sizes]
    assert set(lengths) <= allowed
    assert lengths == sorted(lengths)
    assert len(set(lengths)) == 8  # 64, 256, 1024, 4096, 16384, 65536, 2×65536, 4×65536
    # The one-byte padding marker pushes a plaintext that exactly fills a bucket into the next one.
    assert len(crypto.encrypt_field(data_key, bytes(63), **FIELD)) == OVERHEAD + 64
    assert len(crypto.encrypt_field(data_key, bytes(64), **FIELD)) == OVERHEAD + 256


def test_session_tokens_are_padded_too() -> None:
    key = crypto.new_data_key()
    assert {len(crypto.encrypt_for_session(key, b"x" * n, session_id="s")) for n in (0, 30, 63)} == {OVERHEAD + 64}
