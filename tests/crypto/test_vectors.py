"""Known-answer vectors: they pin the byte formats, so that any change to them fails loudly.

Every expected value below was produced once by running the code as it stood (cryptography 48.0.0,
Python 3.11) and pasting the output here. If one of these tests fails, a stored ciphertext, lookup id
or key would no longer open: change the format only with a new version byte and a migration.
Randomness goes through the private seam crypto._random, which the fixed_random fixture (conftest.py)
replaces with a SHAKE-256 stream of b"tipline crypto test vectors".
"""

import hashlib

import pytest

import crypto
from crypto import _random, fields, keys


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# (a) receipts ------------------------------------------------------------------------------------


def test_receipt_derivation_vector() -> None:
    # Produced by: crypto.derive_receipt_keys("12345678901234567890", salt=bytes(range(16)))
    derived = crypto.derive_receipt_keys("12345678901234567890", salt=bytes(range(16)))
    assert derived.lookup_id.hex() == "f698076e30a0c02b3afbb7377e66070b55ca1a04c74684a9cce2124eb4a744cd"
    assert sha256(derived.public_key) == "61dc4e87765e873da14d9775b4c8df0205f9bee8ace02edbf4f8c050b7345ee8"
    assert sha256(derived.private_key) == "f5af1c151b03fb9dc16395e86c76a8c941fe248f697ecdee568ea956566edeb9"


def test_new_receipt_vector(fixed_random) -> None:
    # Produced by: crypto.new_receipt() twice under fixed_random.
    assert [crypto.new_receipt(), crypto.new_receipt()] == ["69452255413584444106", "13109259274869895651"]
    assert fixed_random.calls == [("randbelow", 10**20), ("randbelow", 10**20)]


def test_new_receipt_salt_vector(fixed_random) -> None:
    # Produced by: crypto.new_receipt_salt().hex() under fixed_random.
    assert crypto.new_receipt_salt().hex() == "0b7c1230d8fdabb90646bfa615498cd9"


# (b) fields and sessions -------------------------------------------------------------------------


def test_field_vector_with_fixed_nonce() -> None:
    # Produced by: fields._encrypt_field_with_nonce(bytes(32), b"tipline", bytes(12), tip_id="tip-1", purpose="content").hex()
    token = fields._encrypt_field_with_nonce(bytes(32), b"tipline", bytes(12), tip_id="tip-1", purpose="content")
    assert token.hex() == (
        "46000000000000000000000000bace3051240e0eee074ec5d3baf39d18726003ca37a62a74d1a2f58e7506358edd4ab1"
        "284d4ae17b41e85924470c36f74741cbe181bb7f30617c1de3ab0c3a1f399fe2f7f5f226cc0b51b0563889117c"
    )
    assert crypto.decrypt_field(bytes(32), token, tip_id="tip-1", purpose="content") == b"tipline"


def test_field_vector_through_the_random_seam(fixed_random) -> None:
    # Produced by: crypto.encrypt_field(bytes(32), "举报内容".encode(), tip_id="tip-1", purpose="content").hex()
    token = crypto.encrypt_field(bytes(32), "举报内容".encode(), tip_id="tip-1", purpose="content")
    assert token.hex() == (
        "460b7c1230d8fdabb90646bfa6fda1b1d4f46dc3b5a5948c6c3e0a70f7910f4ea52ac5ee29dce8d544ab63ec506e509c"
        "c47c34505ffc65280f33bc210ef15b2e55a968aea2414e26edbc2f61df192573f2dfbe484add106f0a0528c9ed"
    )
    assert fixed_random.calls == [("token_bytes", 12)]


def test_session_vector(fixed_random) -> None:
    # Produced by: crypto.encrypt_for_session(bytes(range(32)), b"office-key", session_id="sess-1").hex()
    token = crypto.encrypt_for_session(bytes(range(32)), b"office-key", session_id="sess-1")
    assert token.hex() == (
        "530b7c1230d8fdabb90646bfa6559560851b2f426b585f9cddc7b5774c191f2d086e3e3c9651a3ba23780f56ca823066"
        "2c65ace2f9fa4be24e64955d57c9f1ba471597b443fc217179b0b271907d54d35bcb5373ea2196c01307cc7cad"
    )


def test_new_data_key_vector(fixed_random) -> None:
    # Produced by: crypto.new_data_key().hex() under fixed_random.
    assert crypto.new_data_key().hex() == "0b7c1230d8fdabb90646bfa615498cd964edf9c91540f91eeb157e356e16baca"


# (c) recovery keys -------------------------------------------------------------------------------


def test_recovery_keypair_vector() -> None:
    # Produced by: crypto.recovery_keypair("ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567")
    pair = crypto.recovery_keypair("ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567")
    assert sha256(pair.public_key) == "4b584174118c4db335798dc4a71625b24aee9552eb1df87e623ca98397535c83"
    assert sha256(pair.private_key) == "488e8f797dbe20cbfcb04b322bf7583ef2fc1f6fd97edc57bd2d84ba1381bce3"


def test_new_recovery_key_vector(fixed_random) -> None:
    # Produced by: crypto.new_recovery_key() under fixed_random.
    assert crypto.new_recovery_key() == "BN6B-EMGY-7WV3-SBSG-X6TB-KSMM-3FSO-36OJ"


# (d) HPKE envelope (sealing is randomised, so only opening is pinned) ----------------------------

# Produced once by:
#   pair = crypto.keys.keypair_from_seed(bytes(range(96)))
#   crypto.seal_key(bytes(range(32, 64)), pair.public_key, owner="tip-1", purpose="office").hex()
SEALED_OFFICE_VECTOR = bytes.fromhex(
    "514fb568705d100fa732d3170c6d69291a04e5dc07ce89af0dc109e51440904a292a91b3b3aaf185d6fd38182927c37e"
    "1d042f98c16a3deb2df2782c4b4662f18f94cf18216e825ed695516e468045998c9a9812d063efe0828f4289a9211e7d"
    "2db03bb5bf034bf45e130795808110cf07e490c0a1181fc80fff7e1cb4ab13480207b70b04eaa290c6d72c15c5e914c8"
    "5c69357d31a6fbdc600b6b4f4f75906f17654f291e2d79e1132d3e63ec825653087cda9853fb5c32e8a24ef09229d3a8"
    "9b730f3fb0d51a765a138246577bfa4937e4bf604d451fb618c7754a2471ca0cc4699818368d84757604c04ed4efbcb2"
    "ade35d557f52a3d4fdeeb3ff012e59e5de28f8b33f58fe1c3d847904ce308fbfb22e1b200505e13c2144192b058bee10"
    "5a2141a07d038609b972413c82ea895d96314c0e339969b1ac970da0d81c1c634c9574d6b741cc1e5b2f97e3352c5ed4"
    "53070aeaa2f7305e0acf4f0f3a7e8007785996b61d88fc05b9078c9a5ce410ee93b594e0cf1d89fcabb3bdf455c0fc43"
    "e89095fdc203c624cb0ee6a2c9785d4d5f1e18eb7978afc27ed405c0e3a57a31ab1800a95a76a0f9b6cb173b1257ebd4"
    "c8523f7b643b0a66c58f97a48b04427059d02343f777779aec599f8e55ef1c7cd040debb04c7170dfc9c80369d983193"
    "41b43550c09c1e8b08cd83bc7285e3d9fb86012ed1f7cca07a8162db40b414d690f08747d88172cba737e29a2e5855cb"
    "6df1505ec43d37d82ad5fe3ba3ab5eedd1c30214578a86f74dfb37eb1c3d62a2992cfa30ed4b53862680f68f0ec72e5e"
    "aec0d67256d330bbb54b6e73e9895ff838a4c4303f0b4f5a7b679a8b34a6ffe1ff8027fda166b3b15214a47892683f80"
    "8701e31d0ed81bfd7435b0e19ec764cbb40bf170ffe9cfcafa120bea16981e0421ac010e871dcb2e1003a2bdcb34b2fb"
    "9adfe4e7b2cadec6b29e511d722d9f2880a183ea6348a7a9143763b8156a73c12d7901dd0b6567b1ab34ba4cc3bac84d"
    "1fa7180dac2c6b99730d4d2715bf4d73301ec99558e5c07b11adaba0c2bbbecfa45a222b4cbf1f4f98fbfab35635cded"
    "80aa5831d6d7b6c6b69986e1df204e88c217885064a2ae8bc0913e288b207cd3cc6d4f35bcbedc138cbefd3e48b5a95e"
    "d3dd88417f551b2913fda4c87927660247dde42065397d48b33770999f240df5331111ae386d7d4807d5b40a3949db21"
    "477b5bc62e7dba420b84d231e514949f9e8c3c3a5d3ee9a517ea87e86a21699b5880b317ee2d94234f80ebb166459953"
    "107412cea7b5b5be39acb812714f31c3033805cb1316c7c997a5e511e76dedda0a7249f0ddf9be4866a53aa077ff3c39"
    "bec78b284c4c7cccb33970bdb3d0db2a629285f6edb030233b461e49ac66cc86e7f5f4547c8ec481b494872683370256"
    "1eb52a43435e265c32e3861972da4a8e187f5f8630107948b47031883fd94df83efb2a240c872d6224ccbd1e32f2e8de"
    "4aa59381da5d419879e0a39c8dc598910359dbbb33e8dbd39330fd3f604ad6559fb0371f3df5d5f158fe7f04a6ec6e92"
    "233e95a45b3740362ea65deba54758f0600a3f2ef1793d6ecb3970439818b87351011cd2e14d28127217ca718ef9efe7"
    "620ed02f8440de148d6bbf99c4d21e6653"
)


def test_keypair_from_seed_vector() -> None:
    # Produced by: hashlib.sha256(keys.keypair_from_seed(bytes(range(96))).public_key).hexdigest()
    pair = keys.keypair_from_seed(bytes(range(96)))
    assert sha256(pair.public_key) == "d99e4496af749b54ee4a2d270c8057450624ecc5dc0866295ffc504a26134ad4"


def test_generate_keypair_vector(fixed_random) -> None:
    # Produced by: crypto.generate_keypair() under fixed_random: the seed is the first 96 stream bytes.
    pair = crypto.generate_keypair()
    assert pair.private_key.hex() == (
        "0b7c1230d8fdabb90646bfa615498cd964edf9c91540f91eeb157e356e16bacad94c54cd542046f0ab5854a97585ea14"
        "258f7fcb7205bf9c076c8731ac7d71e3a489fec1285e01c4c6b19eae50bf29991c938b0f2c60291389988cb8e2bfcfee"
    )
    assert sha256(pair.public_key) == "1967a56fb9ebdb50e90ea359b9237165f86f18fc71a1daa73a6958c695accaf3"


def test_sealed_office_vector_opens() -> None:
    pair = keys.keypair_from_seed(bytes(range(96)))
    assert SEALED_OFFICE_VECTOR[0] == 0x51
    assert len(SEALED_OFFICE_VECTOR) == 1169  # version + 1088 ML-KEM ct + 32 X25519 + 32 secret + 16 tag
    opened = crypto.open_key(SEALED_OFFICE_VECTOR, pair.private_key, owner="tip-1", purpose="office")
    assert opened == bytes(range(32, 64))
    with pytest.raises(crypto.CryptoError):
        crypto.open_key(SEALED_OFFICE_VECTOR, pair.private_key, owner="tip-1", purpose="reporter")


# (e) files ---------------------------------------------------------------------------------------


def test_file_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    # Produced by: with _random.token_bytes = lambda n: bytes(range(0xA0, 0xA0 + n)),
    #   blobs = list(crypto.encrypt_file(bytes(range(32)), [b"abc"], tip_id="tip-1", file_id="file-1"))
    #   hashlib.sha256(b"".join(blobs)).hexdigest()
    monkeypatch.setattr(_random, "token_bytes", lambda n: bytes(range(0xA0, 0xA0 + n)))
    blobs = list(crypto.encrypt_file(bytes(range(32)), [b"abc"], tip_id="tip-1", file_id="file-1"))
    assert [len(b) for b in blobs] == [17, 65536 + 16]
    assert blobs[0] == bytes([0x43]) + bytes(range(0xA0, 0xB0))  # version byte, then the 16-byte salt
    assert blobs[1][-16:].hex() == "fcd4e1977dea7b91fabad3afcc6811d6"
    assert sha256(b"".join(blobs)) == "901691049e28869bb56a5c0124db5f28342063bec14d27e2014603a219b28bea"
    assert b"".join(crypto.decrypt_file(bytes(range(32)), blobs, tip_id="tip-1", file_id="file-1")) == b"abc"


# passwords ---------------------------------------------------------------------------------------


def test_password_wrap_vector(fixed_random) -> None:
    # Produced by: crypto.wrap_private_key(bytes(range(96)), "correct horse 电池") under fixed_random,
    # with the real Argon2id parameters (64 MiB, 3 passes, 1 lane).
    wrapped = crypto.wrap_private_key(bytes(range(96)), "correct horse 电池")
    assert len(wrapped) == 301
    assert sha256(wrapped) == "05c09ce4efc97b214732b6f01db8ba8adfddd92a65d63fdb20d36305376abd60"
    assert crypto.unwrap_private_key(wrapped, "correct horse 电池") == bytes(range(96))
