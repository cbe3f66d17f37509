"""Attachments: cleaned files, encrypted under their tip's data key, stored in the database in chunks.

Chunk rows hold exactly the blobs of crypto.encrypt_file (index 0 is the header), so a file streams
out of the database and through decrypt_file one chunk at a time. Everything about a file that a
reporter chose (its name, type, size, what was removed) is in `meta`, encrypted under the tip's key.
"""

from datetime import date

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

# Random ids, WITHOUT ROWID: no insertion order to link files (or tips) that came one after another.
_NO_ROWID = {"sqlite_with_rowid": False}


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = _NO_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tip_id: Mapped[str] = mapped_column(ForeignKey("tips.id", ondelete="CASCADE"), index=True)
    # Set when the file came with a follow-up message rather than with the tip itself.
    message_id: Mapped[str | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True, index=True)
    # JSON {name, type, size, removed}, encrypted under the tip's data key (purpose attachment-meta:<id>).
    meta: Mapped[bytes] = mapped_column(LargeBinary)
    # Bytes of ciphertext in attachment_chunks, counted against the attachment quota.
    stored_size: Mapped[int] = mapped_column(Integer)
    created_on: Mapped[date] = mapped_column(Date)


class AttachmentChunk(Base):
    __tablename__ = "attachment_chunks"
    __table_args__ = _NO_ROWID

    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"),
                                               primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class HeldUpload(Base):
    """A cleaned file waiting between the preview and the sending of a tip.

    Its chunks are sealed under a draft key that only the reporter's session holds (and that session
    is itself encrypted under a key only the cookie holds). The row belongs to the session row and
    goes with it: when the session ends, is purged, or the tip is sent.
    """

    __tablename__ = "held_uploads"
    __table_args__ = _NO_ROWID

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    stored_size: Mapped[int] = mapped_column(Integer)


class HeldUploadChunk(Base):
    __tablename__ = "held_upload_chunks"
    __table_args__ = _NO_ROWID

    held_id: Mapped[str] = mapped_column(ForeignKey("held_uploads.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
