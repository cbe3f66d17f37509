"""The encrypted upload spool and content sniffing."""

import io
import os

import pytest

from app.evidence import sniffing, spool
from crypto.files import CHUNK_SIZE
from tests.evidence import builders as b


def filled(data: bytes, limit: int = 10**9, piece: int = 7919) -> spool.EncryptedSpool:
    s = spool.EncryptedSpool(limit, filename="x.bin")
    for start in range(0, len(data), piece):
        s.write(data[start : start + piece])
    s.seek(0)  # what Werkzeug does when the part ends
    return s


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 17])
def test_round_trip_and_random_access(size):
    data = b.padding_bytes(size)
    s = filled(data)
    assert s.available and s.size == size and s.read() == data
    for offset in (0, size // 2, max(size - 3, 0), CHUNK_SIZE - 2):
        if offset <= size:
            s.seek(offset)
            assert s.read(5) == data[offset : offset + 5]
    if size >= 2:
        s.seek(-2, io.SEEK_END)
        assert s.read() == data[-2:]
    assert b"".join(s.iter_chunks()) == data
    buffered = io.BufferedReader(s)
    buffered.seek(0)
    assert buffered.read() == data
    s.close()


def test_spool_writes_only_ciphertext(monkeypatch, tmp_path):
    written = []

    def named_temp():
        handle = open(tmp_path / f"spool-{len(written)}", "w+b")  # noqa: SIM115
        written.append(handle.name)
        return handle

    monkeypatch.setattr(spool, "_open_temp", named_temp)
    data = (b.PIXEL_MARK + b.ARTIST.encode()) * 20000
    s = filled(data)
    assert s.read() == data
    raw = open(written[0], "rb").read()
    assert b.PIXEL_MARK not in raw and b.ARTIST.encode() not in raw
    assert len(raw) > len(data)
    s.close()


def test_too_large_is_counted_not_kept():
    s = filled(b"x" * 1000, limit=999)
    assert s.too_large and not s.available and s.size == 1000
    with pytest.raises(spool.SpoolError):
        s.read()


def test_unwanted_parts_keep_nothing():
    s = spool.EncryptedSpool(100, keep=False)
    s.write(b"abc")
    s.seek(0)
    assert not s.available and s.size == 3 and s._file is None


def test_close_forgets_key_and_file():
    s = filled(b"data")
    fd = s._file.fileno()
    s.close()
    assert s.closed and s._key is None
    with pytest.raises(OSError):
        os.fstat(fd)


@pytest.mark.parametrize("data,kind", [
    (b.jpeg_with_metadata(), "jpeg"), (b.png_with_metadata(), "png"), (b.webp_with_metadata(), "webp"),
    (b.pdf_with_metadata(), "pdf"), (b.docx_with_metadata(), "docx"), (b.xlsx_with_metadata(), "xlsx"),
    ("打卡".encode(), "txt"), (b"MZ\x90\x00", "executable"), (b"<!doctype html><p>", "html"),
    (b"  <svg xmlns='x'>", "html"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "other-office"),
    (b"PK\x03\x04junk", "unknown"), (b"bin\x00ary", "unknown"),
])
def test_sniff(data, kind):
    assert sniffing.sniff(io.BytesIO(data)).kind == kind


def test_claims():
    assert sniffing.claimed_kind("C:\\Users\\me\\照片.JPG") == "jpeg"
    assert sniffing.claimed_kind("report.docx") == "docx"
    assert sniffing.claimed_kind("noext") is None and sniffing.claimed_kind("x.exe") is None
    assert sniffing.content_type_agrees("jpeg", "image/jpeg")
    assert sniffing.content_type_agrees("jpeg", "application/octet-stream")
    assert sniffing.content_type_agrees("docx", "application/zip")
    assert not sniffing.content_type_agrees("jpeg", "text/html")
    assert not sniffing.content_type_agrees("txt", "image/png")
