"""Chunked streaming encryption of attachments: encrypt_file / decrypt_file."""

import hashlib
import inspect
import itertools
import tracemalloc
from collections.abc import Iterable, Iterator

import pytest

import crypto
from crypto import _random, files

CHUNK = crypto.CHUNK_SIZE
HEADER_SIZE = 17
TAG_SIZE = 16
IDS = {"tip_id": "tip-1", "file_id": "file-1"}


def pattern(n: int, seed: int = 0) -> bytes:
    """n pseudo-random bytes, so that no two chunks of a test file look alike."""
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(n)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def encrypt(key: bytes, data: bytes, piece_size: int = CHUNK, **ids: str) -> list[bytes]:
    return list(crypto.encrypt_file(key, pieces(data, piece_size), **(ids or IDS)))


def decrypt(key: bytes, blobs: Iterable[bytes], **ids: str) -> bytes:
    return b"".join(crypto.decrypt_file(key, blobs, **(ids or IDS)))


def flipped(blob: bytes, index: int) -> bytes:
    out = bytearray(blob)
    out[index] ^= 0x01
    return bytes(out)


@pytest.fixture(scope="module")
def three_chunks() -> bytes:
    # Distinct chunk contents (each chunk starts with its own index), plus a short tail.
    return b"".join(bytes([i]) * CHUNK for i in range(3)) + b"tail"


@pytest.fixture(scope="module")
def file_key() -> bytes:
    return crypto.new_data_key()


@pytest.fixture(scope="module")
def blobs(file_key: bytes, three_chunks: bytes) -> list[bytes]:
    out = encrypt(file_key, three_chunks)
    assert len(out) == 1 + 4  # header, three full chunks, the padded tail
    return out


# --- round trips and sizes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, 3, CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, 2 * CHUNK + 1, 3 * CHUNK],
)
def test_round_trip_and_stored_size(file_key: bytes, size: int) -> None:
    data = pattern(size)
    out = encrypt(file_key, data)
    assert decrypt(file_key, out) == data
    assert sum(map(len, out)) == crypto.encrypted_size(size)
    # Header, one blob per whole chunk, and always a final (padded) chunk.
    assert len(out) == 1 + size // CHUNK + 1
    assert len(out[0]) == HEADER_SIZE
    assert all(len(blob) == CHUNK + TAG_SIZE for blob in out[1:])


def test_empty_file_round_trips(file_key: bytes) -> None:
    out = list(crypto.encrypt_file(file_key, [], **IDS))
    assert len(out) == 2
    assert decrypt(file_key, out) == b""
    assert list(crypto.decrypt_file(file_key, out, **IDS)) == []  # no empty plaintext pieces yielded
    assert decrypt(file_key, encrypt(file_key, b"")) == b""
    assert decrypt(file_key, list(crypto.encrypt_file(file_key, [b"", b"", b""], **IDS))) == b""


def test_encrypted_size_formula() -> None:
    assert crypto.encrypted_size(0) == HEADER_SIZE + CHUNK + TAG_SIZE
    assert crypto.encrypted_size(CHUNK - 1) == HEADER_SIZE + CHUNK + TAG_SIZE
    assert crypto.encrypted_size(CHUNK) == HEADER_SIZE + 2 * (CHUNK + TAG_SIZE)
    assert crypto.encrypted_size(20 * 1024 * 1024) == HEADER_SIZE + 321 * (CHUNK + TAG_SIZE)


def test_twenty_mebibyte_file_round_trips(file_key: bytes) -> None:
    size = 20 * 1024 * 1024
    source = (bytes([i % 256]) * CHUNK for i in range(size // CHUNK))
    expected = hashlib.sha256()
    for i in range(size // CHUNK):
        expected.update(bytes([i % 256]) * CHUNK)
    out = list(crypto.encrypt_file(file_key, source, **IDS))
    assert sum(map(len, out)) == crypto.encrypted_size(size)
    got = hashlib.sha256()
    total = 0
    for plain in crypto.decrypt_file(file_key, out, **IDS):
        got.update(plain)
        total += len(plain)
    assert total == size
    assert got.digest() == expected.digest()


@pytest.mark.parametrize("piece_size", [1, 7, 4096, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3, 10**6])
def test_piece_boundaries_do_not_matter(monkeypatch: pytest.MonkeyPatch, piece_size: int) -> None:
    # With the salt pinned, the whole ciphertext must be independent of how the input was cut up.
    monkeypatch.setattr(_random, "token_bytes", lambda n: bytes(range(n)))
    data = pattern(CHUNK + 1000 if piece_size == 1 else 2 * CHUNK + 1000, seed=piece_size)
    key = bytes(range(32))
    reference = list(crypto.encrypt_file(key, [data], **IDS))
    out = list(crypto.encrypt_file(key, pieces(data, piece_size), **IDS))
    assert out == reference
    assert decrypt(key, out) == data


@pytest.mark.parametrize("piece_size", [1, 65535, 65537])
def test_odd_pieces_yield_identical_plaintext(file_key: bytes, piece_size: int) -> None:
    data = pattern(3 * CHUNK + 5) if piece_size > 1 else pattern(CHUNK + 5)
    assert decrypt(file_key, encrypt(file_key, data, piece_size)) == data


def test_accepts_bytearray_and_memoryview_pieces(file_key: bytes) -> None:
    data = pattern(CHUNK + 10)
    out = list(crypto.encrypt_file(file_key, [bytearray(data[:100]), memoryview(data[100:])], **IDS))
    assert decrypt(file_key, [out[0], *map(memoryview, out[1:])]) == data


def test_salt_is_fresh_per_file(file_key: bytes) -> None:
    first, second = encrypt(file_key, b"same"), encrypt(file_key, b"same")
    assert first[0] != second[0]
    assert first[1] != second[1]


# --- streaming -----------------------------------------------------------------------------------


def test_encryptor_and_decryptor_are_lazy_generators(file_key: bytes) -> None:
    consumed = 0

    def source() -> Iterator[bytes]:
        nonlocal consumed
        for i in range(100):
            consumed += 1
            yield bytes([i]) * CHUNK

    stream = crypto.encrypt_file(file_key, source(), **IDS)
    assert inspect.isgenerator(stream)
    assert consumed == 0
    header = next(stream)
    first = next(stream)
    assert len(header) == HEADER_SIZE and len(first) == CHUNK + TAG_SIZE
    assert consumed <= 2

    taken = 0

    def blob_source() -> Iterator[bytes]:
        nonlocal taken
        for blob in itertools.chain([header, first], stream):
            taken += 1
            yield blob

    plain = crypto.decrypt_file(file_key, blob_source(), **IDS)
    assert inspect.isgenerator(plain)
    assert next(plain) == bytes([0]) * CHUNK
    assert taken <= 3
    assert consumed <= 4


def test_streaming_memory_stays_bounded(file_key: bytes) -> None:
    count = 320  # 20 MiB in 64 KiB pieces
    source = (bytes([i % 256]) * CHUNK for i in range(count))
    digest = hashlib.sha256()
    total = 0
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for plain in crypto.decrypt_file(file_key, crypto.encrypt_file(file_key, source, **IDS), **IDS):
            digest.update(plain)
            total += len(plain)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == count * CHUNK
    assert peak < 4 * 1024 * 1024, f"peak traced memory {peak} bytes"


# --- tampering -----------------------------------------------------------------------------------


def test_wrong_key_fails(blobs: list[bytes]) -> None:
    with pytest.raises(crypto.CryptoError):
        decrypt(crypto.new_data_key(), blobs)


def test_wrong_tip_id_fails(file_key: bytes, blobs: list[bytes]) -> None:
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, blobs, tip_id="tip-2", file_id="file-1")


def test_wrong_file_id_fails(file_key: bytes, blobs: list[bytes]) -> None:
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, blobs, tip_id="tip-1", file_id="file-2")


def test_reordered_chunks_fail(file_key: bytes, blobs: list[bytes]) -> None:
    header, *chunks = blobs
    for order in itertools.permutations(range(len(chunks))):
        if list(order) == sorted(order):
            continue
        with pytest.raises(crypto.CryptoError):
            decrypt(file_key, [header, *(chunks[i] for i in order)])


def test_dropped_middle_chunk_fails(file_key: bytes, blobs: list[bytes]) -> None:
    for drop in range(1, len(blobs) - 1):
        with pytest.raises(crypto.CryptoError):
            decrypt(file_key, blobs[:drop] + blobs[drop + 1 :])


def test_dropped_final_chunk_fails(file_key: bytes, blobs: list[bytes]) -> None:
    for end in range(0, len(blobs)):
        with pytest.raises(crypto.CryptoError):
            decrypt(file_key, blobs[:end])


def test_truncation_is_detected_even_at_a_chunk_boundary(file_key: bytes) -> None:
    # A file that ends exactly on a boundary still has a final chunk; dropping it must not pass.
    out = encrypt(file_key, pattern(2 * CHUNK))
    assert len(out) == 4
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, out[:3])


def test_duplicated_chunk_fails(file_key: bytes, blobs: list[bytes]) -> None:
    for index in range(1, len(blobs)):
        with pytest.raises(crypto.CryptoError):
            decrypt(file_key, blobs[: index + 1] + blobs[index:])


def test_extra_chunk_after_final_fails(file_key: bytes, blobs: list[bytes]) -> None:
    for extra in (blobs[-1], blobs[1], b"", b"\x00" * (CHUNK + TAG_SIZE)):
        with pytest.raises(crypto.CryptoError):
            decrypt(file_key, [*blobs, extra])


def test_authentic_chunk_after_final_fails(monkeypatch: pytest.MonkeyPatch, file_key: bytes) -> None:
    # Force two files onto one salt, so that the second file's chunk 1 would authenticate at position 1
    # after the first file's final chunk 0: only the "nothing after the final chunk" rule stops it.
    monkeypatch.setattr(_random, "token_bytes", lambda n: bytes(n))
    short = encrypt(file_key, b"short")
    longer = encrypt(file_key, pattern(CHUNK + 10))
    assert short[0] == longer[0]
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, [*short, longer[2]])


def test_final_chunk_of_another_file_fails(file_key: bytes, blobs: list[bytes], three_chunks: bytes) -> None:
    other = encrypt(file_key, three_chunks)
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, [*blobs[:-1], other[-1]])


def test_header_swapped_from_another_file_fails(file_key: bytes, blobs: list[bytes], three_chunks: bytes) -> None:
    other = encrypt(file_key, three_chunks)
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, [other[0], *blobs[1:]])
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, [blobs[0], *other[1:]])


@pytest.mark.parametrize(
    ("blob_index", "byte_index"),
    [(0, 0), (0, 1), (0, 16), (1, 0), (1, CHUNK - 1), (1, CHUNK), (1, -1), (-1, 0), (-1, CHUNK - 1), (-1, -1)],
    ids=[
        "header-version",
        "header-salt-first",
        "header-salt-last",
        "chunk-body-first",
        "chunk-body-last",
        "chunk-tag-first",
        "chunk-tag-last",
        "final-body-first",
        "final-padding",
        "final-tag-last",
    ],
)
def test_flipped_byte_fails(file_key: bytes, blobs: list[bytes], blob_index: int, byte_index: int) -> None:
    tampered = list(blobs)
    tampered[blob_index] = flipped(tampered[blob_index], byte_index % len(tampered[blob_index]))
    with pytest.raises(crypto.CryptoError):
        decrypt(file_key, tampered)


def test_truncated_or_extended_blob_fails(file_key: bytes, blobs: list[bytes]) -> None:
    for index in range(len(blobs)):
        for variant in (blobs[index][:-1], blobs[index] + b"\x00", b""):
            tampered = list(blobs)
            tampered[index] = variant
            with pytest.raises(crypto.CryptoError):
                decrypt(file_key, tampered)


def test_header_layout_and_version(blobs: list[bytes]) -> None:
    assert blobs[0][0] == files.FILE_VERSION == 0x43
    assert len(blobs[0]) == HEADER_SIZE


@pytest.mark.parametrize("blobs_arg", [None, 5, b"\x43" + bytes(16), "text", [None], [], [b""]])
def test_non_blob_input_is_refused(file_key: bytes, blobs_arg: object) -> None:
    with pytest.raises(crypto.CryptoError):
        b"".join(crypto.decrypt_file(file_key, blobs_arg, **IDS))


# --- push-style sealer and random access ---------------------------------------------------------


def seal_pushed(key: bytes, data: bytes, piece_size: int, **ids: str) -> list[bytes]:
    sealer = files.FileSealer(key, **(ids or IDS))
    out = [sealer.header]
    for piece in pieces(data, piece_size):
        out.extend(sealer.update(piece))
    out.extend(sealer.finalize())
    return out


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7])
@pytest.mark.parametrize("piece_size", [1000, CHUNK, CHUNK + 1, 10**6])
def test_sealer_matches_encrypt_file(monkeypatch: pytest.MonkeyPatch, size: int, piece_size: int) -> None:
    monkeypatch.setattr(_random, "token_bytes", lambda n: bytes(range(n)))
    key = bytes(range(32))
    data = pattern(size, seed=size)
    assert seal_pushed(key, data, piece_size) == list(crypto.encrypt_file(key, [data], **IDS))


def test_sealer_refuses_use_after_finalize(file_key: bytes) -> None:
    sealer = files.FileSealer(file_key, **IDS)
    sealer.finalize()
    with pytest.raises(crypto.CryptoError):
        sealer.update(b"more")
    with pytest.raises(crypto.CryptoError):
        sealer.finalize()


def opener_for(key: bytes, blobs: list[bytes], **ids: str) -> files.ChunkOpener:
    return files.ChunkOpener(key, blobs[0], chunk_count=len(blobs) - 1, **(ids or IDS))


@pytest.mark.parametrize("size", [0, 5, CHUNK, 2 * CHUNK + 5])
def test_random_access_in_any_order(file_key: bytes, size: int) -> None:
    data = pattern(size, seed=7)
    out = encrypt(file_key, data)
    opener = opener_for(file_key, out)
    order = list(reversed(range(opener.chunk_count)))
    plain = {i: opener.open_chunk(i, out[1 + i]) for i in order}
    assert b"".join(plain[i] for i in range(opener.chunk_count)) == data


def test_random_access_detects_truncation(file_key: bytes) -> None:
    out = encrypt(file_key, pattern(2 * CHUNK + 5))
    short = files.ChunkOpener(file_key, out[0], chunk_count=2, **IDS)  # claims chunk 1 is the last
    short.open_chunk(0, out[1])
    with pytest.raises(crypto.CryptoError):
        short.open_chunk(1, out[2])
    longer = files.ChunkOpener(file_key, out[0], chunk_count=4, **IDS)  # the real final is not last
    with pytest.raises(crypto.CryptoError):
        longer.open_chunk(2, out[3])


def test_random_access_refuses_wrong_position_key_or_ids(file_key: bytes, blobs: list[bytes]) -> None:
    opener = opener_for(file_key, blobs)
    with pytest.raises(crypto.CryptoError):
        opener.open_chunk(0, blobs[2])  # chunk 1 presented as chunk 0
    for bad in (-1, opener.chunk_count, "0"):
        with pytest.raises(crypto.CryptoError):
            opener.open_chunk(bad, blobs[1])  # type: ignore[arg-type]
    with pytest.raises(crypto.CryptoError):
        opener.open_chunk(0, flipped(blobs[1], 3))
    with pytest.raises(crypto.CryptoError):
        opener_for(crypto.new_data_key(), blobs).open_chunk(0, blobs[1])
    with pytest.raises(crypto.CryptoError):
        opener_for(file_key, blobs, tip_id="tip-2", file_id="file-1").open_chunk(0, blobs[1])


@pytest.mark.parametrize("header", [b"", b"\x43" + bytes(15), b"\x44" + bytes(16), None])
def test_random_access_refuses_bad_header(file_key: bytes, header: object) -> None:
    with pytest.raises(crypto.CryptoError):
        files.ChunkOpener(file_key, header, chunk_count=1, **IDS)  # type: ignore[arg-type]
    with pytest.raises(crypto.CryptoError):
        files.ChunkOpener(file_key, b"\x43" + bytes(16), chunk_count=0, **IDS)
