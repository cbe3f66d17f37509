"""Receipts: generation, formatting, normalisation and Argon2id-based key derivation."""

import math

import pytest

import crypto
from crypto import _random, receipts

RECEIPT = "12345678901234567890"
SALT = bytes(range(16))


@pytest.fixture(scope="module")
def derived() -> crypto.ReceiptKeys:
    return crypto.derive_receipt_keys(RECEIPT, SALT)


# --- new_receipt / format ----------------------------------------------------------------------


def test_new_receipt_is_twenty_ascii_digits() -> None:
    seen = set()
    for _ in range(200):
        receipt = crypto.new_receipt()
        assert len(receipt) == 20 and receipt.isascii() and receipt.isdigit()
        seen.add(receipt)
    assert len(seen) == 200


def test_new_receipt_draws_from_all_twenty_digit_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[int] = []

    def fake_randbelow(n: int) -> int:
        bounds.append(n)
        return 42

    monkeypatch.setattr(_random, "randbelow", fake_randbelow)
    assert crypto.new_receipt() == "00000000000000000042"  # leading zeros are kept
    assert bounds == [10**20]
    assert math.log2(bounds[0]) >= 64  # the design promises at least 64 bits
    monkeypatch.setattr(_random, "randbelow", lambda n: n - 1)
    assert crypto.new_receipt() == "9" * 20


def test_format_receipt_gives_five_groups_of_four() -> None:
    assert crypto.format_receipt(RECEIPT) == "1234 5678 9012 3456 7890"
    formatted = crypto.format_receipt(crypto.new_receipt())
    groups = formatted.split(" ")
    assert len(groups) == 5 and all(len(g) == 4 and g.isdigit() for g in groups)


def test_formatted_receipt_normalizes_back() -> None:
    receipt = crypto.new_receipt()
    assert crypto.normalize_receipt(crypto.format_receipt(receipt)) == receipt


# --- normalize_receipt --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        RECEIPT,
        "1234 5678 9012 3456 7890",
        "1234-5678-9012-3456-7890",
        "  1234  5678\t9012\n3456 7890 ",
        "1234\u30005678\u30009012\u30003456\u30007890",  # ideographic spaces
        "１２３４５６７８９０１２３４５６７８９０",  # full-width digits
        "１２３４－５６７８－９０１２－３４５６－７８９０",  # full-width digits and hyphen
        "1234\u00a05678\u00a09012\u00a03456\u00a07890",  # no-break spaces (NFKC → space)
    ],
)
def test_normalize_accepts_what_people_type(typed: str) -> None:
    assert crypto.normalize_receipt(typed) == RECEIPT


@pytest.mark.parametrize(
    "typed",
    [
        "1" * 19,
        "1" * 21,
        "1234 5678 9012 3456 789",
        "1234 5678 9012 3456 78901",
        "1234 5678 9012 3456 789O",  # letter O
        "abcdefghijklmnopqrst",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠",  # Arabic-Indic digits: digits, but not ASCII after NFKC
        "۱۲۳۴۵۶۷۸۹۰۱۲۳۴۵۶۷۸۹۰",  # extended Arabic-Indic
        "१२३४५६७८९०१२३४५६७८९०",  # Devanagari
        "+1234567890123456789",
        "",
        " ",
        RECEIPT + " " * 200,  # over the length limit
    ],
)
def test_normalize_rejects(typed: str) -> None:
    assert crypto.normalize_receipt(typed) is None


@pytest.mark.parametrize("junk", [None, 12345678901234567890, RECEIPT.encode(), [RECEIPT], 1.5])
def test_normalize_returns_none_for_non_strings(junk: object) -> None:
    assert crypto.normalize_receipt(junk) is None


# --- derive_receipt_keys ------------------------------------------------------------------------


def test_derivation_is_deterministic(derived: crypto.ReceiptKeys) -> None:
    again = crypto.derive_receipt_keys(RECEIPT, SALT)
    assert again == derived
    assert len(derived.lookup_id) == 32
    assert len(derived.public_key) == 1216 and len(derived.private_key) == 96


def test_derivation_normalizes_the_receipt(derived: crypto.ReceiptKeys) -> None:
    assert crypto.derive_receipt_keys("１２３４-5678 9012 3456 7890", SALT) == derived


def test_public_key_matches_private_key(derived: crypto.ReceiptKeys) -> None:
    assert crypto.public_key_of(derived.private_key) == derived.public_key


def test_derived_key_pair_opens_what_is_sealed_to_it(derived: crypto.ReceiptKeys) -> None:
    data_key = crypto.new_data_key()
    sealed = crypto.seal_key(data_key, derived.public_key, owner="tip-1", purpose="reporter")
    again = crypto.derive_receipt_keys(crypto.format_receipt(RECEIPT), SALT)
    assert crypto.open_key(sealed, again.private_key, owner="tip-1", purpose="reporter") == data_key


def test_different_salts_give_different_lookup_ids(derived: crypto.ReceiptKeys) -> None:
    other = crypto.derive_receipt_keys(RECEIPT, bytes(16))
    assert other.lookup_id != derived.lookup_id
    assert other.public_key != derived.public_key


def test_different_receipts_give_different_keys(derived: crypto.ReceiptKeys) -> None:
    other = crypto.derive_receipt_keys("12345678901234567891", SALT)
    assert other.lookup_id != derived.lookup_id
    assert other.private_key != derived.private_key


def test_lookup_id_and_key_seed_are_independent(derived: crypto.ReceiptKeys) -> None:
    # The stored lookup id must not be (a prefix of) the private key material.
    assert derived.lookup_id not in derived.private_key
    assert derived.private_key[:32] != derived.lookup_id


@pytest.mark.parametrize("salt", [b"", bytes(15), bytes(17), bytes(32), None, "s" * 16, 16])
def test_bad_salt_is_refused(salt: object) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.derive_receipt_keys(RECEIPT, salt)


@pytest.mark.parametrize("receipt", ["1" * 19, "", "letters" * 3, None, 12345678901234567890])
def test_bad_receipt_is_refused(receipt: object) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.derive_receipt_keys(receipt, SALT)


def test_new_receipt_salt_is_sixteen_fresh_bytes() -> None:
    first, second = crypto.new_receipt_salt(), crypto.new_receipt_salt()
    assert len(first) == len(second) == 16 and first != second


def test_kdf_parameters_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    assert receipts.RECEIPT_MEMORY_KIB == 19 * 1024  # 19 MiB
    assert receipts.RECEIPT_ITERATIONS == 2
    assert receipts.RECEIPT_LANES == 1
    calls: list[dict] = []
    real = receipts.Argon2id

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(receipts, "Argon2id", spy)
    crypto.derive_receipt_keys(RECEIPT, SALT)
    assert [(c["memory_cost"], c["iterations"], c["lanes"], c["salt"]) for c in calls] == [(19 * 1024, 2, 1, SALT)]
