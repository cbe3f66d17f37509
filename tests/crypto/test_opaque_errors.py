"""One opaque error: every decrypt, open, unwrap and parse entry point raises CryptoError and nothing else.

Hypothesis feeds random bytes of random lengths (including 0 and large), near-valid inputs (right
version byte, right length) and wrong types. Any other exception type fails the test.
"""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import crypto
from crypto import keys, passwords, receipts

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

not_bytes = st.one_of(
    st.none(),
    st.text(max_size=64),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.lists(st.binary(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just(object()),
)
any_bytes = st.one_of(
    st.binary(max_size=2048),
    st.integers(min_value=0, max_value=70_000).map(bytes),  # long runs of zeros, up to 70 kB
    st.binary(max_size=64).map(bytearray),
)


def near(version: int, size: int) -> st.SearchStrategy[bytes]:
    """Right version byte, about the right length, random contents."""
    return st.binary(min_size=max(size - 40, 0), max_size=size + 40).map(lambda b: bytes([version]) + b)


def bytes_like(*near_valid: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(any_bytes, not_bytes, *near_valid)


# Context strings: ordinary text, lone surrogates (not encodable as UTF-8), over-long, and non-strings.
contexts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),
    st.just("x" * 70_000),
    not_bytes,
)
keys_32 = st.one_of(st.binary(min_size=32, max_size=32), bytes_like())

VALID_KEYPAIR = crypto.generate_keypair()


def only_crypto_error(call, *args, **kwargs) -> None:
    try:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):  # generators fail when consumed, not when called
            for _ in result:
                pass
    except crypto.CryptoError as error:
        assert error.args == ()
        return


@FAST
@given(key=keys_32, token=bytes_like(near(0x46, 64 + 29), near(0x46, 256 + 29)), tip_id=contexts, purpose=contexts)
@example(key=bytes(32), token=b"", tip_id="t", purpose="p")
@example(key=bytes(32), token=bytes(10**6), tip_id="t", purpose="p")
@example(key=bytes(32), token=b"\x46" + bytes(92), tip_id="\ud800", purpose="p")
@example(key=bytes(32), token=b"\x46" + bytes(92), tip_id="t" * 70_000, purpose="p")
def test_decrypt_field_raises_only_crypto_error(key, token, tip_id, purpose) -> None:
    only_crypto_error(crypto.decrypt_field, key, token, tip_id=tip_id, purpose=purpose)


@FAST
@given(key=keys_32, token=bytes_like(near(0x53, 64 + 29)), session_id=contexts)
@example(key=bytes(32), token=b"", session_id="s")
@example(key=None, token=None, session_id=None)
def test_decrypt_for_session_raises_only_crypto_error(key, token, session_id) -> None:
    only_crypto_error(crypto.decrypt_for_session, key, token, session_id=session_id)


private_keys = st.one_of(
    st.just(VALID_KEYPAIR.private_key),
    st.binary(min_size=96, max_size=96),
    bytes_like(),
)


@FAST
@given(raw=private_keys)
@example(raw=bytes(96))
@example(raw=b"\xff" * 96)
def test_private_key_parsing_raises_only_crypto_error(raw) -> None:
    only_crypto_error(crypto.PrivateKey, raw)
    only_crypto_error(crypto.public_key_of, raw)
    only_crypto_error(keys.keypair_from_seed, raw)


@FAST
@given(
    sealed=bytes_like(near(0x51, 1120 + 48), st.binary(max_size=1300).map(lambda b: b"\x51" + b)),
    private_key=private_keys,
    owner=contexts,
    purpose=contexts,
)
@example(sealed=b"\x51", private_key=VALID_KEYPAIR.private_key, owner="o", purpose="p")
@example(sealed=b"\x51" + bytes(1120), private_key=VALID_KEYPAIR.private_key, owner="o", purpose="p")
@example(sealed=b"\x51" + bytes(1168), private_key=VALID_KEYPAIR.private_key, owner="\udc00", purpose="p")
@example(sealed=b"\x51" + bytes(10**6), private_key=VALID_KEYPAIR.private_key, owner="o", purpose="p")
def test_open_key_raises_only_crypto_error(sealed, private_key, owner, purpose) -> None:
    only_crypto_error(crypto.open_key, sealed, private_key, owner=owner, purpose=purpose)
    if isinstance(private_key, bytes) and len(private_key) == 96:
        only_crypto_error(crypto.open_key, sealed, crypto.PrivateKey(private_key), owner=owner, purpose=purpose)


def test_sealing_to_a_bad_public_key_raises_only_crypto_error() -> None:
    for public in (None, b"", bytes(1216), b"\xff" * 1216, "x" * 1216, bytes(1215)):
        only_crypto_error(crypto.seal_key, bytes(32), public, owner="o", purpose="p")


passwords_ = st.one_of(st.text(max_size=30), st.text(st.characters(categories=["Cs"]), min_size=1, max_size=2), not_bytes)


@SLOW
@given(
    wrapped=bytes_like(st.binary(min_size=16, max_size=16).flatmap(lambda salt: near(0x57, 285).map(lambda t: salt + t))),
    password=passwords_,
)
@example(wrapped=bytes(17), password="pw")
@example(wrapped=bytes(16) + b"\x57" + bytes(284), password="\ud800")
def test_unwrap_private_key_raises_only_crypto_error(wrapped, password) -> None:
    with pytest.MonkeyPatch.context() as patch:  # the cheapest Argon2id: only the error type matters here
        patch.setattr(passwords, "PASSWORD_MEMORY_KIB", 8)
        patch.setattr(passwords, "PASSWORD_ITERATIONS", 1)
        only_crypto_error(crypto.unwrap_private_key, wrapped, password)
        only_crypto_error(crypto.spend_password_time, password)


def test_unwrap_with_real_parameters_raises_only_crypto_error() -> None:
    for wrapped, password in [(bytes(17), "pw"), (bytes(16) + b"\x57" + bytes(284), "pw"), (None, "pw"), (bytes(301), None)]:
        only_crypto_error(crypto.unwrap_private_key, wrapped, password)


header = st.binary(min_size=16, max_size=16).map(lambda salt: b"\x43" + salt)
blob_lists = st.one_of(
    st.lists(bytes_like(), max_size=4),
    st.tuples(header, st.lists(st.one_of(st.binary(max_size=200), st.just(bytes(65552)), not_bytes), max_size=3)).map(
        lambda t: [t[0], *t[1]]
    ),
    not_bytes,
    any_bytes,
)


@FAST
@given(key=keys_32, blobs=blob_lists, tip_id=contexts, file_id=contexts)
@example(key=bytes(32), blobs=None, tip_id="t", file_id="f")
@example(key=bytes(32), blobs=[b"\x43" + bytes(16), 2**70], tip_id="t", file_id="f")
@example(key=bytes(32), blobs=[b"\x43" + bytes(16), "text"], tip_id="t", file_id="f")
@example(key=bytes(32), blobs=[b"\x43" + bytes(16), -1], tip_id="t", file_id="f")
@example(key=bytes(32), blobs=[b"\x43" + bytes(16), bytes(65552)], tip_id="\ud800", file_id="f")
def test_decrypt_file_raises_only_crypto_error(key, blobs, tip_id, file_id) -> None:
    only_crypto_error(crypto.decrypt_file, key, blobs, tip_id=tip_id, file_id=file_id)


def test_decrypt_file_on_real_blobs_with_bad_ids_raises_only_crypto_error() -> None:
    key = crypto.new_data_key()
    blobs = list(crypto.encrypt_file(key, [b"data"], tip_id="t", file_id="f"))
    for tip_id, file_id in [("\ud800", "f"), ("t", None), ("t" * 70_000, "f"), (1, "f")]:
        only_crypto_error(crypto.decrypt_file, key, blobs, tip_id=tip_id, file_id=file_id)


receipt_texts = st.one_of(
    st.text(max_size=40),
    st.text(st.sampled_from("0123456789 -１２３٣"), min_size=18, max_size=30),
    st.integers(min_value=0, max_value=10**20 - 1).map(lambda n: str(n).zfill(20)),
    not_bytes,
    any_bytes,
)


@SLOW
@given(receipt=receipt_texts, salt=st.one_of(st.binary(min_size=16, max_size=16), bytes_like()))
@example(receipt="1" * 20, salt=None)
@example(receipt="1" * 20, salt="s" * 16)
@example(receipt="1" * 20, salt=bytearray(16))
def test_derive_receipt_keys_raises_only_crypto_error(receipt, salt) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(receipts, "RECEIPT_MEMORY_KIB", 8)
        patch.setattr(receipts, "RECEIPT_ITERATIONS", 1)
        only_crypto_error(crypto.derive_receipt_keys, receipt, salt)


@FAST
@given(text=st.one_of(receipt_texts, st.text(st.characters(codec=None), max_size=300)))
def test_normalize_receipt_never_raises(text) -> None:
    result = crypto.normalize_receipt(text)
    assert result is None or (len(result) == 20 and result.isascii() and result.isdigit())


@FAST
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abc-= 018"), min_size=28, max_size=45),
        st.text(st.characters(codec=None), max_size=60),
        not_bytes,
        any_bytes,
    )
)
@example(text="A" * 10_000)
@example(text="=" * 32)
@example(text="AAAAAAA=")
def test_recovery_keypair_raises_only_crypto_error(text) -> None:
    only_crypto_error(crypto.recovery_keypair, text)
