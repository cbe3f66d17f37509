"""What a file really is, decided from its content, never from what the sender claims.

The claim (file extension and Content-Type) must agree with the content; anything else is refused.
"""

import re
import zipfile
from dataclasses import dataclass
from typing import IO

JPEG, PNG, WEBP, PDF, DOCX, XLSX, TEXT = "jpeg", "png", "webp", "pdf", "docx", "xlsx", "txt"
ALLOWED = (JPEG, PNG, WEBP, PDF, DOCX, XLSX, TEXT)

# Recognised but never accepted: named in the refusal so that the reporter knows what happened.
HTML, EXECUTABLE, ZIP, OTHER_OFFICE, UNKNOWN = "html", "executable", "zip", "other-office", "unknown"

EXTENSIONS = {
    "jpg": JPEG, "jpeg": JPEG, "png": PNG, "webp": WEBP, "pdf": PDF, "docx": DOCX, "xlsx": XLSX, "txt": TEXT,
}
CANONICAL_EXTENSION = {JPEG: "jpg", PNG: "png", WEBP: "webp", PDF: "pdf", DOCX: "docx", XLSX: "xlsx", TEXT: "txt"}
ACCEPT = ",".join(
    [f".{ext}" for ext in EXTENSIONS]
    + ["image/jpeg", "image/png", "image/webp", "application/pdf", "text/plain",
       "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
)

_CONTENT_TYPES = {
    JPEG: {"image/jpeg", "image/jpg", "image/pjpeg"},
    PNG: {"image/png", "image/x-png"},
    WEBP: {"image/webp"},
    PDF: {"application/pdf", "application/x-pdf"},
    DOCX: {"application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    XLSX: {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    TEXT: {"text/plain"},
}
# What browsers send when they do not know the type; says nothing either way.
_NEUTRAL_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
# Some mobile browsers label Office files as plain zip archives.
_ZIP_CONTENT_TYPES = {"application/zip", "application/x-zip-compressed"}

# WHATWG MIME sniffing's HTML signatures, plus XML and SVG: text that a browser would render.
_HTML_START = re.compile(
    rb"\s*(<!doctype\s+html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a|<style|<title|<b|<body"
    rb"|<br|<p|<!--|<\?xml|<svg|<meta|<link|<img|<object|<embed|<form)[\s>/]",
    re.IGNORECASE,
)
_SNIFF_SIZE = 4096


@dataclass(frozen=True)
class Sniffed:
    kind: str  # one of ALLOWED, or a refused kind above


def _head(stream: IO[bytes], size: int = _SNIFF_SIZE) -> bytes:
    stream.seek(0)
    head = stream.read(size)
    stream.seek(0)
    return head


def _zip_kind(stream: IO[bytes]) -> str:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return UNKNOWN
    finally:
        stream.seek(0)
    if "[Content_Types].xml" not in names:
        return ZIP
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    return OTHER_OFFICE


def sniff(stream: IO[bytes]) -> Sniffed:
    """The kind of the content; reads a few KB (and a zip's directory), leaves the stream at 0."""
    head = _head(stream)
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(JPEG)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(PNG)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed(WEBP)
    if head.startswith(b"%PDF-"):
        return Sniffed(PDF)
    if head.startswith(b"PK\x03\x04"):
        return Sniffed(_zip_kind(stream))
    if head.startswith((b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"#!")):
        return Sniffed(EXECUTABLE)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # .doc/.xls (OLE2): macros and no cleaner
        return Sniffed(OTHER_OFFICE)
    text_head = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if b"\x00" in head:
        return Sniffed(UNKNOWN)
    if _HTML_START.match(text_head):
        return Sniffed(HTML)
    return Sniffed(TEXT)  # provisionally: the cleaner decodes all of it and refuses what is not text


def claimed_kind(filename: str) -> str | None:
    """The kind the file's extension claims, or None for an extension we do not take."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in name:
        return None
    return EXTENSIONS.get(name.rsplit(".", 1)[-1].strip().lower())


def content_type_agrees(kind: str, content_type: str | None) -> bool:
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    if declared in _NEUTRAL_CONTENT_TYPES:
        return True
    if kind in (DOCX, XLSX) and declared in _ZIP_CONTENT_TYPES:
        return True
    return declared in _CONTENT_TYPES.get(kind, set())
