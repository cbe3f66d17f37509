"""Offline recovery keys: generation and the key pair derived from them."""

import base64
import re

import pytest

import crypto

RECOVERY = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567"


def test_new_recovery_key_format() -> None:
    key = crypto.new_recovery_key()
    assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){7}", key), key
    assert len(base64.b32decode(key.replace("-", ""))) == 20  # 160 bits


def test_new_recovery_keys_differ() -> None:
    assert len({crypto.new_recovery_key() for _ in range(20)}) == 20


def test_recovery_keypair_is_deterministic() -> None:
    first, second = crypto.recovery_keypair(RECOVERY), crypto.recovery_keypair(RECOVERY)
    assert first == second
    assert len(first.public_key) == 1216 and len(first.private_key) == 96
    assert crypto.public_key_of(first.private_key) == first.public_key


@pytest.mark.parametrize(
    "typed",
    [
        RECOVERY.lower(),
        RECOVERY.replace("-", ""),
        RECOVERY.replace("-", " "),
        " abcd efgh-ijkl\tmnop\nQRST uvwx yz23 4567 ",
        "ABCD.EFGH.IJKL.MNOP.QRST.UVWX.YZ23.4567",
        "ＡＢＣＤ－ＥＦＧＨ－ＩＪＫＬ－ＭＮＯＰ－ＱＲＳＴ－ＵＶＷＸ－ＹＺ２３－４５６７",  # full-width
    ],
)
def test_recovery_keypair_ignores_case_and_separators(typed: str) -> None:
    assert crypto.recovery_keypair(typed) == crypto.recovery_keypair(RECOVERY)


def test_generated_recovery_key_round_trips_an_office_key() -> None:
    recovery = crypto.new_recovery_key()
    office = crypto.generate_keypair()
    sealed = crypto.seal_key(office.private_key, crypto.recovery_keypair(recovery).public_key, owner="default", purpose="recovery")
    restored = crypto.recovery_keypair(recovery.lower().replace("-", " "))
    assert crypto.open_key(sealed, restored.private_key, owner="default", purpose="recovery") == office.private_key


def test_different_recovery_keys_give_different_pairs() -> None:
    other = RECOVERY[:-1] + "6"
    assert crypto.recovery_keypair(other).public_key != crypto.recovery_keypair(RECOVERY).public_key


@pytest.mark.parametrize(
    "typed",
    [
        "",
        RECOVERY[:-4],  # 128 bits
        RECOVERY + "-ABCD",
        RECOVERY.replace("A", "0"),  # 0, 1, 8 and 9 are not base32
        RECOVERY.replace("B", "1"),
        RECOVERY.replace("C", "é"),
        "中文" * 16,
        None,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        42,
    ],
)
def test_bad_recovery_keys_are_refused(typed: object) -> None:
    with pytest.raises(crypto.CryptoError):
        crypto.recovery_keypair(typed)
