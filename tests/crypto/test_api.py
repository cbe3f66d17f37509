"""The public surface of the crypto package, and its boundary with the rest of the project."""

import ast
import types
from pathlib import Path

import pytest

import crypto

REPO_ROOT = Path(__file__).resolve().parents[2]

PUBLIC_NAMES = {
    "CHUNK_SIZE",
    "CryptoError",
    "KeyPair",
    "PrivateKey",
    "PublicKey",
    "ReceiptKeys",
    "decrypt_field",
    "decrypt_file",
    "decrypt_for_session",
    "derive_receipt_keys",
    "encrypt_field",
    "encrypt_file",
    "encrypt_for_session",
    "encrypted_size",
    "format_receipt",
    "generate_keypair",
    "new_data_key",
    "new_receipt",
    "new_receipt_salt",
    "new_recovery_key",
    "normalize_receipt",
    "open_key",
    "public_key_of",
    "recovery_keypair",
    "seal_key",
    "spend_password_time",
    "unwrap_private_key",
    "wrap_private_key",
}


def test_all_is_exactly_the_public_names() -> None:
    assert len(crypto.__all__) == len(set(crypto.__all__))
    assert set(crypto.__all__) == PUBLIC_NAMES


@pytest.mark.parametrize("name", sorted(PUBLIC_NAMES))
def test_every_public_name_is_importable(name: str) -> None:
    namespace: dict = {}
    exec(f"from crypto import {name}", namespace)  # noqa: S102 - the import statement is the test
    assert namespace[name] is getattr(crypto, name)


def test_star_import_gives_the_public_names() -> None:
    namespace: dict = {}
    exec("from crypto import *", namespace)  # noqa: S102
    assert set(namespace) - {"__builtins__"} == PUBLIC_NAMES


def test_no_other_public_attributes() -> None:
    # Submodules are attributes too; anything else without an underscore must be in __all__.
    extra = {
        name
        for name, value in vars(crypto).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert extra == PUBLIC_NAMES


def test_crypto_error_is_one_plain_exception() -> None:
    assert issubclass(crypto.CryptoError, Exception)
    assert not issubclass(crypto.CryptoError, ValueError | TypeError)  # callers cannot mistake it
    try:
        crypto.decrypt_field(bytes(32), b"\x46" + bytes(60), tip_id="t", purpose="p")
    except crypto.CryptoError as error:
        assert error.args == ()
        assert str(error) == ""
        assert error.__cause__ is None and error.__suppress_context__
    else:
        pytest.fail("tampered token decrypted")


def _leaks(text: str, secret: bytes) -> bool:
    return any(form in text for form in (secret.hex(), secret.hex().upper(), repr(secret), str(secret), secret[:8].hex()))


def test_reprs_hide_private_keys() -> None:
    pair = crypto.generate_keypair()
    derived = crypto.derive_receipt_keys(crypto.new_receipt(), crypto.new_receipt_salt())
    private = crypto.PrivateKey(pair.private_key)
    for obj, secret in [(pair, pair.private_key), (derived, derived.private_key), (private, pair.private_key)]:
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}", repr([obj]), repr({"k": obj})):
            assert not _leaks(text, secret), text
    assert "hidden" in repr(pair) and "hidden" in repr(derived) and "hidden" in repr(private)


def _python_files_outside_crypto() -> list[Path]:
    found = []
    for top in ("app", "tests", "bench"):
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            if (REPO_ROOT / "tests" / "crypto") in path.parents:
                continue
            found.append(path)
    return found


def _imports_hazmat(source: str) -> list[str]:
    offending = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            offending += [alias.name for alias in node.names if alias.name.startswith("cryptography.hazmat")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("cryptography.hazmat"):
                offending.append(node.module)
            elif node.module == "cryptography" and any(alias.name == "hazmat" for alias in node.names):
                offending.append("cryptography.hazmat")
    # Dynamic imports (importlib.import_module("cryptography.hazmat...")) show up as the bare string.
    if "cryptography.hazmat" in source and not offending:
        offending.append("cryptography.hazmat (string)")
    return offending


def test_hazmat_detector_works() -> None:
    assert _imports_hazmat("from cryptography.hazmat.primitives import hashes")
    assert _imports_hazmat("import cryptography.hazmat.primitives.ciphers.aead as a")
    assert _imports_hazmat("from cryptography import hazmat")
    assert _imports_hazmat("importlib.import_module('cryptography.hazmat.primitives')")
    assert not _imports_hazmat("import crypto\nfrom cryptography.fernet import Fernet")


def test_only_the_crypto_package_imports_hazmat() -> None:
    offenders = {}
    for path in _python_files_outside_crypto():
        found = _imports_hazmat(path.read_text(encoding="utf-8"))
        if found:
            offenders[str(path.relative_to(REPO_ROOT))] = found
    assert offenders == {}
