"""Uploads never touch the disk or the heap whole and in the clear.

Werkzeug spools an upload bigger than 500 KB into a plaintext temporary file, whose blocks would keep
the evidence (and the metadata we are about to strip) after it is deleted. Here every uploaded file is
written through an EncryptedSpool instead: sealed in 64 KiB chunks under a random key that lives only
in this process's memory, into an unnamed temporary file. After the upload the spool is a seekable,
read-only plaintext view that decrypts one chunk at a time, so Pillow, zipfile and pikepdf can read
it. The key and the file go when the request ends.
"""

import io
import os
import secrets
import tempfile
from typing import IO, Any

from flask import Request

import crypto
from app.inputs import TolerantFormDataParser
from crypto.files import CHUNK_SIZE, HEADER_SIZE, SEALED_CHUNK_SIZE, ChunkOpener, FileSealer

_SPOOL_IDS = {"tip_id": "upload-spool", "file_id": ""}


def _open_temp() -> IO[bytes]:
    # Unnamed where the platform allows it (O_TMPFILE): nothing to find in the directory, and
    # nothing left behind by a crash. A seam for the tests that inspect what a spool writes.
    return tempfile.TemporaryFile(mode="w+b", prefix="tipline-spool-")


class SpoolError(Exception):
    """The spool was read before it was complete, or its ciphertext did not open."""


class EncryptedSpool(io.RawIOBase):
    """Written once (by the multipart parser), then read like a file, with seek and tell.

    `limit`: bytes past it are counted but not kept (`too_large` tells); `keep=False` counts only
    (for parts beyond those a request may carry), so neither disk nor file handles run out.
    """

    def __init__(self, limit: int, *, filename: str | None = None, content_type: str | None = None,
                 keep: bool = True) -> None:
        super().__init__()
        self.limit = limit
        self.filename = filename
        self.content_type = content_type
        self.keep = keep
        self.size = 0  # bytes received, kept or not
        self._file_id = secrets.token_hex(8)
        self._key: bytes | None = crypto.new_data_key()
        self._sealer: FileSealer | None = None
        self._file: IO[bytes] | None = None
        self._written = 0  # ciphertext bytes in the temporary file
        self._opener: ChunkOpener | None = None
        self._complete = False
        self._pos = 0
        self._cached_index = -1
        self._cached: bytes = b""

    # --- writing (the multipart parser) -----------------------------------------------------------

    @property
    def too_large(self) -> bool:
        return self.size > self.limit

    def writable(self) -> bool:
        return not self._complete and not self.closed

    def write(self, data: Any) -> int:
        if self._complete or self.closed:
            raise io.UnsupportedOperation("spool is read-only once complete")
        view = memoryview(data)
        n = view.nbytes
        self.size += n
        if not self.keep or self.too_large:
            self._drop()
            return n
        if self._sealer is None:
            self._sealer = FileSealer(self._key, **{**_SPOOL_IDS, "file_id": self._file_id})  # type: ignore[arg-type]
            self._file = _open_temp()
            self._append([self._sealer.header])
        self._append(self._sealer.update(view))
        return n

    def _append(self, blobs: list[bytes]) -> None:
        assert self._file is not None
        for blob in blobs:
            self._file.write(blob)
            self._written += len(blob)

    def _drop(self) -> None:
        """Too large or not wanted: forget what was kept (it was ciphertext under a key we now drop)."""
        self._sealer = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._written = 0

    def _finish(self) -> None:
        if self._complete:
            return
        self._complete = True
        if self.keep and not self.too_large:
            if self._sealer is None:  # an empty part: a header and one empty final chunk
                self._sealer = FileSealer(self._key, **{**_SPOOL_IDS, "file_id": self._file_id})  # type: ignore[arg-type]
                self._file = _open_temp()
                self._append([self._sealer.header])
            self._append(self._sealer.finalize())
            assert self._file is not None
            self._file.flush()
            chunk_count = (self._written - HEADER_SIZE) // SEALED_CHUNK_SIZE
            self._opener = ChunkOpener(self._key, self._read_at(0, HEADER_SIZE), chunk_count=chunk_count,  # type: ignore[arg-type]
                                       **{**_SPOOL_IDS, "file_id": self._file_id})
        self._sealer = None

    # --- reading (the cleaners) -------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Complete, kept and within the limit: its plaintext can be read."""
        return self._complete and self._opener is not None and not self.closed

    def readable(self) -> bool:
        return not self.closed

    def seekable(self) -> bool:
        return not self.closed

    def _read_at(self, offset: int, size: int) -> bytes:
        assert self._file is not None
        return os.pread(self._file.fileno(), size, offset)

    def _chunk(self, index: int) -> bytes:
        if index != self._cached_index:
            assert self._opener is not None
            blob = self._read_at(HEADER_SIZE + index * SEALED_CHUNK_SIZE, SEALED_CHUNK_SIZE)
            try:
                self._cached = self._opener.open_chunk(index, blob)
            except crypto.CryptoError:
                raise SpoolError("spooled upload did not decrypt") from None
            self._cached_index = index
        return self._cached

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if self.closed:
            raise ValueError("seek on a closed spool")
        if not self._complete:
            if (offset, whence) != (0, io.SEEK_SET):
                raise io.UnsupportedOperation("spool is not complete")
            self._finish()  # Werkzeug seeks to 0 when the part ends
            return 0
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self.size + offset
        else:
            raise ValueError("bad whence")
        if target < 0:
            raise OSError("negative seek position")
        self._pos = target
        return target

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if not self.available:
            raise SpoolError("spool is not readable (incomplete, too large or dropped)")
        out = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(out) and self._pos < self.size:
            index, start = divmod(self._pos, CHUNK_SIZE)
            chunk = self._chunk(index)
            take = min(len(out) - filled, len(chunk) - start)
            if take <= 0:
                break
            out[filled : filled + take] = chunk[start : start + take]
            filled += take
            self._pos += take
        return filled

    def iter_chunks(self):
        """The plaintext from the start, one chunk at a time (does not move the read position)."""
        if not self.available:
            raise SpoolError("spool is not readable (incomplete, too large or dropped)")
        assert self._opener is not None
        for index in range(self._opener.chunk_count):
            blob = self._read_at(HEADER_SIZE + index * SEALED_CHUNK_SIZE, SEALED_CHUNK_SIZE)
            try:
                plain = self._opener.open_chunk(index, blob)
            except crypto.CryptoError:
                raise SpoolError("spooled upload did not decrypt") from None
            if plain:
                yield plain

    def close(self) -> None:
        if not self.closed:
            self._drop()
            self._key = None
            self._opener = None
            self._cached = b""
            self._cached_index = -1
        super().close()


class SpoolingRequest(Request):
    """A Flask request whose file uploads go into EncryptedSpools, all closed when the request ends.

    Files beyond the number a tip may carry are counted but not kept, and bytes beyond the per-file
    limit are dropped, so a hostile body can neither fill the disk nor exhaust file handles.
    """

    form_data_parser_class = TolerantFormDataParser  # app/inputs.py

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        from flask import current_app

        spools = self.__dict__.setdefault("_evidence_spools", [])
        limit = int(current_app.config["ATTACHMENT_MAX_MB"]) * 1024 * 1024
        keep = bool(filename) and sum(1 for s in spools if s.keep) < int(current_app.config["ATTACHMENT_MAX_FILES"])
        spool = EncryptedSpool(limit, filename=filename, content_type=content_type, keep=keep)
        spools.append(spool)
        return spool  # type: ignore[return-value]

    def close(self) -> None:
        try:
            super().close()
        finally:
            # Also the spools of parts the parser never handed over (a body cut off half-way).
            for spool in self.__dict__.get("_evidence_spools", []):
                spool.close()
