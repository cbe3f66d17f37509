"""Metadata stripping: every accepted file is rewritten before it is encrypted, never stored as sent.

Images are decoded and re-encoded (orientation applied first) with nothing but pixels; PDFs lose their
document information, XMP, comment authors, scripts, automatic actions and embedded files, and the
EXIF of the photos inside them; Office files get empty core and app properties, no custom properties
or thumbnail, blank comment and revision authors, no revision ids, no local paths, fixed zip entry
times, and their pictures stripped like PDF photos; text is re-encoded as UTF-8.

Each cleaner reads a seekable source (the encrypted upload spool) and writes to `out` piece by piece,
so no cleaner holds a whole 20 MiB file, with the unavoidable exception of an image's pixels. A file
that cannot be cleaned raises Refused with a reason the reporter can read.
"""

import codecs
import io
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, cast

from flask_babel import lazy_gettext as _l

from app.evidence import sniffing

PIECE = 64 * 1024

# What was removed, as codes (stored, encrypted, with the attachment) and as the reporter reads them.
GPS, DEVICE, TAKEN_AT, AUTHOR, LAST_MODIFIED_BY, COMPANY, SOFTWARE, DATES = (
    "gps", "device", "taken_at", "author", "last_modified_by", "company", "software", "dates")
XMP, ICC, TEXT_INFO, IPTC, EXIF_OTHER, DOC_PROPS, CUSTOM_PROPS, THUMBNAIL = (
    "xmp", "icc", "text", "iptc", "exif", "doc_props", "custom_props", "thumbnail")
COMMENT_AUTHORS, REVISION_IDS, LOCAL_PATHS, EMBEDDED_IMAGE_META, SCRIPTS, AUTO_ACTIONS, EMBEDDED_FILES = (
    "comment_authors", "revision_ids", "local_paths", "embedded_image_meta", "scripts", "auto_actions",
    "embedded_files")
NAME_TIME = "name_time"

LABELS = {
    GPS: _l("GPS位置"),
    DEVICE: _l("拍摄设备"),
    TAKEN_AT: _l("拍摄时间"),
    AUTHOR: _l("作者"),
    LAST_MODIFIED_BY: _l("最后修改人"),
    COMPANY: _l("单位名称"),
    SOFTWARE: _l("软件信息"),
    DATES: _l("创建和修改时间"),
    XMP: _l("XMP信息"),
    ICC: _l("色彩配置文件"),
    TEXT_INFO: _l("文本信息"),
    IPTC: _l("IPTC信息"),
    EXIF_OTHER: _l("其他EXIF信息"),
    DOC_PROPS: _l("文档属性（标题、主题、关键词等）"),
    CUSTOM_PROPS: _l("自定义属性"),
    THUMBNAIL: _l("缩略图"),
    COMMENT_AUTHORS: _l("批注和修订人"),
    REVISION_IDS: _l("编辑记录标识"),
    LOCAL_PATHS: _l("本机文件路径"),
    EMBEDDED_IMAGE_META: _l("文档内图片的元数据"),
    SCRIPTS: _l("脚本"),
    AUTO_ACTIONS: _l("自动执行的动作"),
    EMBEDDED_FILES: _l("嵌入的文件"),
    NAME_TIME: _l("文件名中的时间"),
}
# The order in which the reporter reads them: the most identifying first.
_ORDER = list(LABELS)


def ordered(codes: set[str] | list[str]) -> list[str]:
    return sorted(set(codes), key=lambda c: _ORDER.index(c) if c in _ORDER else len(_ORDER))


class Refused(Exception):
    """The file cannot be accepted; `reason` is shown to the reporter as it is."""

    def __init__(self, reason) -> None:
        super().__init__(str(reason))
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 40_000_000
    zip_max_entries: int = 1000
    zip_max_total: int = 100 * 1024 * 1024
    zip_max_ratio: int = 200
    max_output: int = 40 * 1024 * 1024


@dataclass
class Cleaned:
    kind: str
    removed: set[str] = field(default_factory=set)
    size: int = 0


class _Output:
    """Counts and forwards; refuses output that grows past the limit (a re-encode can grow a file)."""

    def __init__(self, write: Callable[[bytes], object], limit: int) -> None:
        self._write = write
        self.limit = limit
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.size += len(view)
        if self.size > self.limit:
            raise Refused(_l("清理后的文件过大，无法接收。"))
        # Encoders may hand over a whole file at once (qpdf does, per stream): pass it on in pieces
        # so that the sealer and the database batches downstream stay small.
        for start in range(0, len(view), PIECE):
            self._write(bytes(view[start : start + PIECE]))
        return len(view)

    def flush(self) -> None:
        pass

    # Output only goes forward: zipfile then writes data descriptors, pikepdf and Pillow just write.
    def tell(self) -> int:
        return self.size

    def seek(self, *_args) -> int:
        raise io.UnsupportedOperation("output cannot seek")


def clean(kind: str, source: IO[bytes], write: Callable[[bytes], object], limits: Limits) -> Cleaned:
    """Rewrite `source` (of a kind sniffing.sniff decided) without metadata into `write`."""
    out = _Output(write, limits.max_output)
    source.seek(0)
    if kind in (sniffing.JPEG, sniffing.PNG, sniffing.WEBP):
        removed = _clean_image(kind, source, out, limits)
    elif kind == sniffing.PDF:
        removed = _clean_pdf(source, out)
    elif kind in (sniffing.DOCX, sniffing.XLSX):
        removed = _clean_office(source, out, limits, depth=0)
    elif kind == sniffing.TEXT:
        removed = _clean_text(source, out)
    else:
        raise Refused(_l("不支持这种文件类型。"))
    return Cleaned(kind=kind, removed=removed, size=out.size)


# ---------------------------------------------------------------------------------------------
# Images


_PIL_FORMATS = {sniffing.JPEG: ("JPEG", "MPO"), sniffing.PNG: ("PNG",), sniffing.WEBP: ("WEBP",)}
_SAVE: dict[str, dict[str, Any]] = {
    sniffing.JPEG: {"format": "JPEG", "quality": 90},
    sniffing.PNG: {"format": "PNG", "compress_level": 6},
    sniffing.WEBP: {"format": "WEBP", "quality": 90, "method": 4},
}
# Image info keys that describe pixels, not the photographer.
_TECHNICAL_INFO = {
    "dpi", "gamma", "transparency", "jfif", "jfif_version", "jfif_unit", "jfif_density", "adobe",
    "adobe_transform", "progressive", "progression", "srgb", "chromaticity", "aspect", "loop",
    "duration", "background", "interlace", "compression", "default_image", "blend", "disposal", "bbox",
    "mp", "mpoffset", "timestamp", "exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment",
    "photoshop", "use_cached_exif",
}
_EXIF_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_TECHNICAL_EXIF = {0x0112, 0x011A, 0x011B, 0x0128, 0x0213, _EXIF_IFD, 0x0100, 0x0101, 0xA001, 0xA002, 0xA003}


def _exif_findings(image) -> set[str]:
    found: set[str] = set()
    try:
        exif = image.getexif()
        ifd0 = dict(exif)
        gps = exif.get_ifd(_EXIF_GPS_IFD)
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # noqa: BLE001 (a malformed EXIF block is dropped all the same)
        return {EXIF_OTHER}
    if not ifd0 and not sub:
        return found
    if gps or _EXIF_GPS_IFD in ifd0:
        found.add(GPS)
    if {0x010F, 0x0110} & ifd0.keys() or {0xA431, 0xA432, 0xA433, 0xA434, 0xA435, 0x927C} & sub.keys():
        found.add(DEVICE)
    if 0x0132 in ifd0 or {0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292} & sub.keys():
        found.add(TAKEN_AT)
    if {0x013B, 0x8298, 0x9C9D} & ifd0.keys() or 0xA430 in sub:
        found.add(AUTHOR)
    if 0x0131 in ifd0:
        found.add(SOFTWARE)
    if {0x010E, 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F} & ifd0.keys() or 0x9286 in sub:
        found.add(TEXT_INFO)
    rest = set(ifd0) - _TECHNICAL_EXIF - {_EXIF_GPS_IFD, 0x010F, 0x0110, 0x0132, 0x013B, 0x8298, 0x9C9D, 0x0131,
                                          0x010E, 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F}
    if rest or (sub and not found):
        found.add(EXIF_OTHER)
    return found


def _image_findings(image) -> set[str]:
    found = _exif_findings(image)
    info = image.info
    if info.get("xmp") or info.get("XML:com.adobe.xmp"):
        found.add(XMP)
    if info.get("icc_profile"):
        found.add(ICC)
    if info.get("photoshop"):
        found.add(IPTC)
    if info.get("comment"):
        found.add(TEXT_INFO)
    for key, value in info.items():
        if key in _TECHNICAL_INFO or not isinstance(value, str | bytes) or not value:
            continue
        lowered = str(key).lower()
        if lowered in {"author", "artist", "copyright"}:
            found.add(AUTHOR)
        elif lowered == "software":
            found.add(SOFTWARE)
        elif lowered in {"creation time", "date:create", "date:modify"}:
            found.add(DATES)
        else:
            found.add(TEXT_INFO)
    return found


def _clean_image(kind: str, source: IO[bytes], out: _Output, limits: Limits) -> set[str]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    bomb = _l("图片尺寸过大（超过%(limit)s万像素），可能是恶意文件，未接收。", limit=limits.max_pixels // 10000)
    unreadable = _l("图片无法读取（文件可能已损坏）。")
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Any = Image.open(source, formats=_PIL_FORMATS[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(bomb) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise Refused(unreadable) from None
    with image:
        width, height = image.size
        if width * height > limits.max_pixels or width <= 0 or height <= 0:
            raise Refused(bomb)
        try:
            image.seek(0)
            image.load()
            found = _image_findings(image)
            ImageOps.exif_transpose(image, in_place=True)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Refused(bomb) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError):
            raise Refused(unreadable) from None
        transparency = image.info.get("transparency")
        # Nothing but pixels goes out: no EXIF, XMP, ICC profile, comments or text chunks.
        image.info = {} if transparency is None or kind != sniffing.PNG else {"transparency": transparency}
        if kind == sniffing.JPEG and image.mode not in ("L", "RGB", "CMYK"):
            image = image.convert("RGB")
        elif kind == sniffing.WEBP and image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
        try:
            image.save(cast(IO[bytes], out), **_SAVE[kind])
        except (OSError, ValueError):
            raise Refused(unreadable) from None
    return found


# ---------------------------------------------------------------------------------------------
# JPEG and PNG inside documents: metadata segments removed losslessly (no re-encode).

_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF, Adobe (colour transform): needed to decode correctly
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"bKGD",
             b"hIST", b"pHYs", b"acTL", b"fcTL", b"fdAT"}


def strip_jpeg(data: bytes) -> tuple[bytes, bool]:
    """Drop APP1–APP13, APP15 (EXIF, XMP, ICC, MPF previews, IPTC), comments and trailing data."""
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    out = bytearray(b"\xff\xd8")
    pos, changed, n = 2, False, len(data)
    while pos < n:
        if data[pos] != 0xFF:
            raise ValueError("bad marker")
        marker = data[pos + 1] if pos + 1 < n else -1
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image: anything after it (vendor trailers) is dropped
            out += b"\xff\xd9"
            changed |= pos + 2 < n
            return bytes(out), changed
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out += data[pos : pos + 2]
            pos += 2
            continue
        if pos + 4 > n:
            raise ValueError("truncated")
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        end = pos + 2 + length
        if length < 2 or end > n:
            raise ValueError("bad segment length")
        if (0xE0 <= marker <= 0xEF and marker not in _JPEG_KEEP_APP) or marker == 0xFE:
            changed = True
        else:
            out += data[pos:end]
        pos = end
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            scan = pos
            while True:
                scan = data.find(b"\xff", scan)
                if scan < 0 or scan + 1 >= n:
                    raise ValueError("unterminated scan")
                following = data[scan + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    scan += 1 if following == 0xFF else 2
                    continue
                break
            out += data[pos:scan]
            pos = scan
    raise ValueError("no end of image")


def strip_png(data: bytes) -> tuple[bytes, bool]:
    """Keep only the chunks that carry pixels and how to show them; drop text, EXIF, ICC, time."""
    signature = b"\x89PNG\r\n\x1a\n"
    if not data.startswith(signature):
        raise ValueError("not a PNG")
    out = bytearray(signature)
    pos, changed = len(signature), False
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated chunk")
        if kind in _PNG_KEEP:
            out += data[pos:end]
        else:
            changed = True
        pos = end
        if kind == b"IEND":
            changed |= pos < len(data)
            return bytes(out), changed
    raise ValueError("no IEND")


# ---------------------------------------------------------------------------------------------
# PDF

_PDF_INFO_CODES = {
    "/Author": AUTHOR, "/Creator": SOFTWARE, "/Producer": SOFTWARE, "/CreationDate": DATES, "/ModDate": DATES,
    "/Title": DOC_PROPS, "/Subject": DOC_PROPS, "/Keywords": DOC_PROPS,
}
_MARKUP_ANNOTS = {
    "/Text", "/FreeText", "/Line", "/Square", "/Circle", "/Polygon", "/PolyLine", "/Highlight", "/Underline",
    "/Squiggly", "/StrikeOut", "/Stamp", "/Caret", "/Ink", "/FileAttachment", "/Sound", "/Redact", "/Popup",
}


def _clean_pdf(source: IO[bytes], out: _Output) -> set[str]:
    import pikepdf

    found: set[str] = set()
    try:
        pdf = pikepdf.open(cast(BinaryIO, source))
    except pikepdf.PasswordError:
        raise Refused(_l("PDF设置了打开密码，无法清理。请去掉密码后再上传。")) from None
    except (pikepdf.PdfError, OSError, ValueError, RuntimeError):
        raise Refused(_l("PDF无法读取（文件可能已损坏）。")) from None
    try:
        try:
            _strip_pdf(pikepdf, pdf, found)
        except (pikepdf.PdfError, ValueError, RuntimeError, TypeError, KeyError, AttributeError):
            raise Refused(_l("PDF结构异常，无法清理其中的信息。")) from None
        try:
            # Streams are copied as they are (never decompressed: a PDF bomb stays compressed), the
            # document id derives from the content, not from the time and the machine.
            pdf.save(cast(BinaryIO, out), deterministic_id=True, encryption=False, fix_metadata_version=False,
                     stream_decode_level=pikepdf.StreamDecodeLevel.none, compress_streams=False,
                     object_stream_mode=pikepdf.ObjectStreamMode.preserve)
        except Refused:
            raise
        except (pikepdf.PdfError, OSError, ValueError, RuntimeError) as error:
            if isinstance(error.__cause__, Refused):
                raise error.__cause__ from None
            raise Refused(_l("PDF无法重新保存（文件可能已损坏）。")) from None
    finally:
        pdf.close()
    return found


def _strip_pdf(pikepdf, pdf, found: set[str]) -> None:
    Name, Dictionary, Stream = pikepdf.Name, pikepdf.Dictionary, pikepdf.Stream
    if Name.Info in pdf.trailer:
        info = pdf.trailer.Info
        for key in list(info.keys()):
            if str(info[key]).strip():
                found.add(_PDF_INFO_CODES.get(str(key), DOC_PROPS))
        del pdf.trailer[Name.Info]
    root = pdf.Root
    for key, code in ((Name.Metadata, XMP), (Name.OpenAction, AUTO_ACTIONS), (Name.AA, AUTO_ACTIONS),
                      (Name.PieceInfo, SOFTWARE)):
        if key in root:
            del root[key]
            found.add(code)
    if Name.Names in root:
        names = root.Names
        for key, code in ((Name.JavaScript, SCRIPTS), (Name.EmbeddedFiles, EMBEDDED_FILES)):
            if key in names:
                del names[key]
                found.add(code)
    annotations = [annot for page in pdf.pages for annot in page.obj.get(Name.Annots, pikepdf.Array())
                   if isinstance(annot, Dictionary)]
    for obj in [*pdf.objects, *annotations]:  # annotations are often direct objects in a page's array
        if isinstance(obj, Dictionary | Stream):
            _strip_pdf_object(pikepdf, obj, found)


def _strip_pdf_object(pikepdf, obj, found: set[str]) -> None:
    Name, Dictionary, Stream = pikepdf.Name, pikepdf.Dictionary, pikepdf.Stream
    for key, code in ((Name.Metadata, XMP), (Name.PieceInfo, SOFTWARE), (Name.AA, AUTO_ACTIONS)):
        if key in obj:
            del obj[key]
            found.add(code)
    subtype = obj.get(Name.Subtype)
    if subtype is not None and str(subtype) in _MARKUP_ANNOTS:
        # In markup annotations /T is the author's name (in form fields it is the field name).
        for key in (Name.T, Name.M, Name.CreationDate):
            if key in obj:
                del obj[key]
                found.add(COMMENT_AUTHORS)
        if subtype == Name.FileAttachment and Name.FS in obj:
            del obj[Name.FS]
            found.add(EMBEDDED_FILES)
    action = obj.get(Name.A)
    if isinstance(action, Dictionary) and action.get(Name.S) in (Name.JavaScript, Name.Launch):
        del obj[Name.A]
        found.add(SCRIPTS)
    if obj.get(Name.S) == Name.JavaScript and Name.JS in obj:
        del obj[Name.JS]
        found.add(SCRIPTS)
    if not isinstance(obj, Stream):
        return
    if obj.get(Name.Type) == Name.EmbeddedFile:
        obj.write(b"")
        found.add(EMBEDDED_FILES)
    elif subtype == Name.Image and obj.get(Name.Filter) in (Name.DCTDecode, pikepdf.Array([Name.DCTDecode])):
        raw = obj.read_raw_bytes()
        try:
            stripped, changed = strip_jpeg(raw)
        except ValueError:
            return  # not a JPEG a viewer could show either; leave the pixels alone
        if changed:
            obj.write(stripped, filter=Name.DCTDecode, decode_parms=obj.get(Name.DecodeParms))
            found.add(EMBEDDED_IMAGE_META)


# ---------------------------------------------------------------------------------------------
# DOCX / XLSX

_EMPTY_CORE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
               b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
               b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
               b' xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
               b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"></cp:coreProperties>')
_EMPTY_APP = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
              b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
              b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"></Properties>')
_CORE_FIELDS = {
    b"creator": AUTHOR, b"lastModifiedBy": LAST_MODIFIED_BY, b"created": DATES, b"modified": DATES,
    b"lastPrinted": DATES, b"title": DOC_PROPS, b"subject": DOC_PROPS, b"keywords": DOC_PROPS,
    b"description": DOC_PROPS, b"category": DOC_PROPS, b"contentStatus": DOC_PROPS, b"identifier": DOC_PROPS,
    b"revision": DOC_PROPS, b"version": DOC_PROPS, b"language": DOC_PROPS,
}
_APP_FIELDS = {
    b"Company": COMPANY, b"Manager": AUTHOR, b"Template": SOFTWARE, b"Application": SOFTWARE,
    b"AppVersion": SOFTWARE, b"TotalTime": DOC_PROPS, b"HyperlinkBase": LOCAL_PATHS,
}
_FIELD = re.compile(rb"<(?:\w+:)?(\w+)(?:\s[^>]*)?>([^<]*)</")
_SMALL_PART = 2 * 1024 * 1024

_CUSTOM = re.compile(rb"/?docProps/custom\.xml", re.IGNORECASE)
_THUMB = re.compile(rb"/?docProps/thumbnail\.\w+", re.IGNORECASE)
_REL_OR_OVERRIDE = re.compile(rb"<(?:Relationship|Override)\b[^>]*>(?:\s*</(?:Relationship|Override)>)?")

# (pattern, replacement, code); applied to every XML part of the package, a piece at a time.
_XML_RULES: list[tuple[re.Pattern[bytes], bytes, str]] = [
    (re.compile(rb'(\s(?:w|w15|w16cid|w16cex):(?:author|initials|userId|providerId)=)"[^"]+"'), rb'\1""',
     COMMENT_AUTHORS),
    (re.compile(rb"(\s(?:w|w15):(?:author|initials|userId|providerId)=)'[^']+'"), rb"\1''", COMMENT_AUTHORS),
    (re.compile(rb'\s(?:w:date|w16du:dateUtc)="[^"]*"'), b"", DATES),
    (re.compile(rb'\sw:rsid\w*="[^"]*"'), b"", REVISION_IDS),
    (re.compile(rb'<w:rsid(?:Root)?\s+w:val="[^"]*"\s*/>'), b"", REVISION_IDS),
    (re.compile(rb"(<(?:\w+:)?author>)[^<]+"), rb"\1", COMMENT_AUTHORS),  # xl/comments*.xml
    (re.compile(rb'(<(?:\w+:)?person\b[^>]*?\s(?:displayName|userId|providerId)=)"[^"]+"'), rb'\1""',
     COMMENT_AUTHORS),
    (re.compile(rb'(\s(?:displayName|userId|providerId)=)"[^"]+"'), rb'\1""', COMMENT_AUTHORS),
    (re.compile(rb'(<x15ac:absPath\b[^>]*?\surl=)"[^"]+"'), rb'\1""', LOCAL_PATHS),
    (re.compile(rb'(\sTarget=)"file:[^"]*"'), rb'\1"file:///"', LOCAL_PATHS),
]
_MACRO_NAMES = re.compile(r"(^|/)(vbaProject\.bin|vbaData\.xml|activeX/)", re.IGNORECASE)
_MACRO_TYPES = re.compile(rb"vbaProject|macroEnabled|ms-office\.activeX|vnd\.ms-excel\.sheet\.binary", re.IGNORECASE)
_OFFICE_EMBED = re.compile(r"/embeddings/[^/]+\.(docx|xlsx|pptx)$", re.IGNORECASE)
_EMBEDDINGS = re.compile(r"/embeddings/", re.IGNORECASE)
_MEDIA_REFUSED = re.compile(r"\.(tif|tiff|heic|heif|jxl|avif)$", re.IGNORECASE)


class _Budget:
    """Counts what the archive really expands to, never trusting its headers (zip bombs)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
        entry = 0
        with archive.open(info) as member:
            while True:
                piece = member.read(PIECE)
                if not piece:
                    return
                entry += len(piece)
                self.total += len(piece)
                if self.total > self.limits.zip_max_total:
                    raise Refused(_l("文档解压后过大，可能是恶意文件（压缩炸弹），未接收。"))
                if entry > 1024 * 1024 and entry > self.limits.zip_max_ratio * max(info.compress_size, 1):
                    raise Refused(_l("文档中有异常高的压缩比，可能是恶意文件（压缩炸弹），未接收。"))
                yield piece

    def read_all(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
        data = bytearray()
        for piece in self.read(archive, info):
            data += piece
            if len(data) > cap:
                raise Refused(_l("文档中的某个部分过大，无法清理。"))
        return bytes(data)


class _XmlRewriter:
    """Applies _XML_RULES to a stream of XML, cutting only before a '<' so that every tag (and the
    text after it) is seen whole."""

    def __init__(self, found: set[str]) -> None:
        self.buffer = bytearray()
        self.found = found

    def _apply(self, segment: bytes) -> bytes:
        for pattern, replacement, code in _XML_RULES:
            segment, count = pattern.subn(replacement, segment)
            if count:
                self.found.add(code)
        return segment

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        cut = self.buffer.rfind(b"<")
        if cut <= 0:
            if len(self.buffer) < 4 * 1024 * 1024:
                return b""
            cut = len(self.buffer)  # one enormous run without a tag: pass it on
        segment = bytes(self.buffer[:cut])
        del self.buffer[:cut]
        return self._apply(segment)

    def close(self) -> bytes:
        segment = bytes(self.buffer)
        self.buffer.clear()
        return self._apply(segment)


def _fields(xml: bytes, table: dict[bytes, str]) -> set[str]:
    return {table[name] for name, value in _FIELD.findall(xml) if name in table and value.strip()}


def _drop_references(xml: bytes, dropped: list[re.Pattern[bytes]]) -> bytes:
    def keep(match: re.Match[bytes]) -> bytes:
        element = match.group(0)
        return b"" if any(p.search(element) for p in dropped) else element

    return _REL_OR_OVERRIDE.sub(keep, xml)


def _entry(name: str) -> zipfile.ZipInfo:
    # A fixed time: zip entry times are when the author last saved the document.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _clean_office(source: IO[bytes], out, limits: Limits, depth: int, budget: "_Budget | None" = None) -> set[str]:
    damaged = _l("文档无法读取（文件可能已损坏）。")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise Refused(damaged) from None
    found: set[str] = set()
    # One budget for the whole document: embedded documents spend the outer one, so nesting
    # cannot multiply the decompression limit.
    budget = budget if budget is not None else _Budget(limits)
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.zip_max_entries:
            raise Refused(_l("文档内部文件数量异常（超过%(limit)s个），可能是恶意文件，未接收。",
                limit=limits.zip_max_entries))
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise Refused(damaged)
        if any(_MACRO_NAMES.search(name) for name in names):
            raise Refused(_l("文档含有宏或ActiveX控件，为安全起见不接收。请另存为不含宏的 .docx 或 .xlsx 后再上传。"))
        if any(info.flag_bits & 0x1 for info in infos):
            raise Refused(_l("文档设置了密码或加密，无法清理。请去掉密码后再上传。"))
        if any(info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for info in infos):
            raise Refused(damaged)
        try:
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
                for info in infos:
                    _copy_entry(archive, info, target, budget, limits, depth, found)
        except Refused:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, RuntimeError,
                NotImplementedError, zlib.error) as error:
            if isinstance(error.__cause__, Refused):
                raise error.__cause__ from None
            raise Refused(damaged) from None
    return found


def _copy_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: zipfile.ZipFile, budget: _Budget,
                limits: Limits, depth: int, found: set[str]) -> None:
    name = info.filename
    lowered = name.lower()
    if name.endswith("/"):
        return
    if lowered == "docprops/custom.xml":
        found.add(CUSTOM_PROPS)
        return
    if _THUMB.fullmatch(name.encode("utf-8", "replace")):
        found.add(THUMBNAIL)
        return
    if lowered == "docprops/core.xml":
        found.update(_fields(budget.read_all(archive, info, _SMALL_PART), _CORE_FIELDS))
        target.writestr(_entry(name), _EMPTY_CORE)
        return
    if lowered == "docprops/app.xml":
        found.update(_fields(budget.read_all(archive, info, _SMALL_PART), _APP_FIELDS))
        target.writestr(_entry(name), _EMPTY_APP)
        return
    if lowered in ("[content_types].xml", "_rels/.rels"):
        xml = budget.read_all(archive, info, _SMALL_PART)
        if lowered == "[content_types].xml" and _MACRO_TYPES.search(xml):
            raise Refused(_l("文档含有宏或ActiveX控件，为安全起见不接收。请另存为不含宏的 .docx 或 .xlsx 后再上传。"))
        rewriter = _XmlRewriter(found)
        cleaned = rewriter.feed(_drop_references(xml, [_CUSTOM, _THUMB])) + rewriter.close()
        target.writestr(_entry(name), cleaned)
        return
    if _OFFICE_EMBED.search(name):
        if depth > 0:
            raise Refused(_l("文档中嵌套的文档层数过多，无法清理。"))
        inner = io.BytesIO(budget.read_all(archive, info, limits.zip_max_total))
        cleaned_inner = io.BytesIO()
        inner_found = _clean_office(inner, _Output(cleaned_inner.write, limits.max_output), limits, depth + 1,
                                    budget)
        found.update(inner_found)
        target.writestr(_entry(name), cleaned_inner.getvalue())
        return
    if _EMBEDDINGS.search(name):
        raise Refused(_l("文档中嵌入了无法清理作者信息的对象（如旧版Office对象）。请另存为PDF后再上传。"))
    if _MEDIA_REFUSED.search(name):
        raise Refused(_l("文档中有无法清理元数据的图片格式（如TIFF、HEIC）。请换成JPG或PNG图片，或另存为PDF后再上传。"))
    if lowered.endswith((".jpg", ".jpeg", ".jpe", ".png")):
        data = budget.read_all(archive, info, limits.zip_max_total)
        try:
            stripped, changed = strip_png(data) if data.startswith(b"\x89PNG") else strip_jpeg(data)
        except ValueError:
            raise Refused(_l("文档中的图片已损坏，无法清理。")) from None
        if changed:
            found.add(EMBEDDED_IMAGE_META)
        target.writestr(_entry(name), stripped)
        return
    with target.open(_entry(name), "w") as sink:
        if lowered.endswith((".xml", ".rels", ".vml")):
            rewriter = _XmlRewriter(found)
            for piece in budget.read(archive, info):
                sink.write(rewriter.feed(piece))
            sink.write(rewriter.close())
        else:
            for piece in budget.read(archive, info):
                sink.write(piece)


# ---------------------------------------------------------------------------------------------
# Plain text


def _decodes(source: IO[bytes], encoding: str) -> bool:
    source.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        while piece := source.read(PIECE):
            if "\x00" in decoder.decode(piece):
                raise Refused(_l("文本文件中含有二进制内容，不像是纯文本文件。"))
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _clean_text(source: IO[bytes], out: _Output) -> set[str]:
    for encoding in ("utf-8-sig", "gb18030"):
        if _decodes(source, encoding):
            break
    else:
        raise Refused(_l("文本文件的编码无法识别，请另存为UTF-8编码后再上传。"))
    source.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    while piece := source.read(PIECE):
        out.write(decoder.decode(piece).encode("utf-8"))
    out.write(decoder.decode(b"", final=True).encode("utf-8"))
    return set()
