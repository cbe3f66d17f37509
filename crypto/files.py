"""Chunked streaming encryption for attachments.

Layout: a header (version byte + 16-byte salt) and then chunks of CHUNK_SIZE plaintext bytes, each
sealed with AES-256-GCM under a per-file key derived from the tip's data key. The nonce is the chunk
counter followed by a final-chunk flag (the STREAM construction), so reordering, dropping, duplicating
or truncating chunks all fail to decrypt. The last chunk is padded to a whole chunk so that stored
sizes reveal a file's length only to CHUNK_SIZE.
"""

from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import _aead, _random
from ._context import bind
from .errors import CryptoError

FILE_VERSION = 0x43
CHUNK_SIZE = 64 * 1024
_SALT_SIZE = 16
_HEADER_SIZE = 1 + _SALT_SIZE
_MAX_CHUNKS = 2**40


def _file_key(data_key: bytes, salt: bytes, tip_id: str, file_id: str) -> AESGCM:
    _aead.check_key(data_key)
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=bind("file/v1", tip_id, file_id))
    return AESGCM(hkdf.derive(data_key))


def _nonce(counter: int, final: bool) -> bytes:
    if counter >= _MAX_CHUNKS:
        raise CryptoError()
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _rechunk(chunks: Iterable[bytes]) -> Iterator[bytes]:
    buffer = bytearray()
    for piece in chunks:
        buffer += piece
        while len(buffer) >= CHUNK_SIZE:
            yield bytes(buffer[:CHUNK_SIZE])
            del buffer[:CHUNK_SIZE]
    yield bytes(buffer)  # may be empty: it carries the padding marker


def encrypt_file(data_key: bytes, chunks: Iterable[bytes], *, tip_id: str, file_id: str) -> Iterator[bytes]:
    """Yield the header, then one sealed blob per CHUNK_SIZE of plaintext; holds one chunk at a time."""
    salt = _random.token_bytes(_SALT_SIZE)
    header = bytes([FILE_VERSION]) + salt
    aead = _file_key(data_key, salt, tip_id, file_id)
    yield header
    counter = 0
    pending: bytes | None = None
    for chunk in _rechunk(chunks):
        if pending is not None:
            yield aead.encrypt(_nonce(counter, False), pending, header)
            counter += 1
        pending = chunk
    assert pending is not None and len(pending) < CHUNK_SIZE
    # Pad the final chunk to a whole chunk; one extra chunk when the data ended exactly on a boundary.
    yield aead.encrypt(_nonce(counter, True), _aead.pad(pending, CHUNK_SIZE), header)


def decrypt_file(data_key: bytes, blobs: Iterable[bytes], *, tip_id: str, file_id: str) -> Iterator[bytes]:
    """Inverse of encrypt_file. Raises CryptoError on any tampering, including a missing final chunk."""
    try:
        iterator = iter(blobs)
    except TypeError:
        raise CryptoError() from None
    header = next(iterator, None)
    if not isinstance(header, bytes | bytearray) or len(header) != _HEADER_SIZE or header[0] != FILE_VERSION:
        raise CryptoError()
    header = bytes(header)
    aead = _file_key(data_key, header[1:], tip_id, file_id)
    counter = 0
    finished = False
    for blob in iterator:
        if finished or not isinstance(blob, bytes | bytearray | memoryview):
            raise CryptoError()
        try:
            plain = aead.decrypt(_nonce(counter, False), bytes(blob), header)
        except InvalidTag:
            try:
                plain = _aead.unpad(aead.decrypt(_nonce(counter, True), bytes(blob), header))
            except InvalidTag:
                raise CryptoError() from None
            finished = True
        except (TypeError, ValueError):
            raise CryptoError() from None
        counter += 1
        if plain:
            yield plain
    if not finished:
        raise CryptoError()


def encrypted_size(plaintext_size: int) -> int:
    """Bytes stored for a file of this size (header plus sealed chunks)."""
    chunks = plaintext_size // CHUNK_SIZE + 1
    return _HEADER_SIZE + chunks * (CHUNK_SIZE + _aead.TAG_SIZE)


SEALED_CHUNK_SIZE = CHUNK_SIZE + _aead.TAG_SIZE
HEADER_SIZE = _HEADER_SIZE


class FileSealer:
    """Push-style encrypt_file, for producers that are called rather than iterated (an upload parser,
    an encoder writing to a file object). Produces exactly the blobs encrypt_file would.

    `header` is the first blob; `update` returns the chunks that became complete; `finalize` returns
    the final (padded) chunk. Holds at most one chunk of plaintext.
    """

    def __init__(self, data_key: bytes, *, tip_id: str, file_id: str) -> None:
        salt = _random.token_bytes(_SALT_SIZE)
        self.header = bytes([FILE_VERSION]) + salt
        self._aead = _file_key(data_key, salt, tip_id, file_id)
        self._buffer = bytearray()
        self._counter = 0
        self._finished = False

    def update(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        if self._finished:
            raise CryptoError()
        self._buffer += data
        out = []
        # Keep the last whole chunk back while it might still be the final one (encrypt_file does the
        # same: a file that ends on a boundary gets an extra, empty, padded final chunk).
        while len(self._buffer) > CHUNK_SIZE:
            out.append(self._aead.encrypt(_nonce(self._counter, False), bytes(self._buffer[:CHUNK_SIZE]),
                                          self.header))
            del self._buffer[:CHUNK_SIZE]
            self._counter += 1
        return out

    def finalize(self) -> list[bytes]:
        """The remaining blobs: one full chunk if the data ended on a boundary, then the final chunk."""
        if self._finished:
            raise CryptoError()
        self._finished = True
        out = []
        if len(self._buffer) == CHUNK_SIZE:
            out.append(self._aead.encrypt(_nonce(self._counter, False), bytes(self._buffer), self.header))
            self._buffer.clear()
            self._counter += 1
        out.append(self._aead.encrypt(_nonce(self._counter, True), _aead.pad(bytes(self._buffer), CHUNK_SIZE),
                                      self.header))
        self._buffer.clear()
        return out


class ChunkOpener:
    """Random access to a file sealed by encrypt_file or FileSealer: any chunk decrypts on its own.

    `chunk_count` is the number of sealed chunks after the header. The last one must carry the final
    flag and every other must not, so a file cut short at a chunk boundary still fails to open at its
    (claimed) last chunk.
    """

    def __init__(self, data_key: bytes, header: bytes, *, tip_id: str, file_id: str, chunk_count: int) -> None:
        if (not isinstance(header, bytes | bytearray) or len(header) != _HEADER_SIZE
                or header[0] != FILE_VERSION or not isinstance(chunk_count, int) or chunk_count < 1):
            raise CryptoError()
        self._header = bytes(header)
        self._aead = _file_key(data_key, self._header[1:], tip_id, file_id)
        self.chunk_count = chunk_count

    def open_chunk(self, index: int, blob: bytes | bytearray | memoryview) -> bytes:
        """The plaintext of chunk `index` (0-based, after the header); the final chunk comes unpadded."""
        if not isinstance(index, int) or not 0 <= index < self.chunk_count:
            raise CryptoError()
        final = index == self.chunk_count - 1
        try:
            plain = self._aead.decrypt(_nonce(index, final), bytes(blob), self._header)
        except (InvalidTag, TypeError, ValueError):
            raise CryptoError() from None
        if final:
            return _aead.unpad(plain)
        if len(plain) != CHUNK_SIZE:
            raise CryptoError()
        return plain
