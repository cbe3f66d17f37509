"""Files full of metadata, built from scratch, with distinctive markers to search for afterwards."""

import io
import struct
import zipfile
import zlib

from PIL import Image, PngImagePlugin

# Distinctive bytes: if any of them shows up in a cleaned file, a download, the database or a temp
# file, metadata (or plaintext) leaked.
ARTIST = "Zhang-San-Photographer-7Q2X"
MAKE = "MarkerCam-Make-9K4Z"
MODEL = "MarkerCam-Model-3J8W"
SOFTWARE = "MarkerSoft-5T1V"
TAKEN = "2023:07:14 08:15:22"
AUTHOR = "Li-Si-Author-6H3N"
COMPANY = "Marker-County-Bureau-2P5R"
LAST_MODIFIED = "Wang-Wu-Editor-8D1C"
COMMENT_AUTHOR = "Zhao-Liu-Commenter-4M7B"
PNG_TEXT = "Png-Text-Marker-1F9G"
XMP_MARK = "Xmp-Marker-0L6S"
GPS_LAT = (39.0, 54.0, 27.12)  # 39°54'27.12"
PIXEL_MARK = b"Plaintext-Pixel-Marker-QW7"

ALL_MARKERS = [ARTIST, MAKE, MODEL, SOFTWARE, TAKEN, AUTHOR, COMPANY, LAST_MODIFIED, COMMENT_AUTHOR, PNG_TEXT,
               XMP_MARK]


def rich_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = MAKE
    exif[0x0110] = MODEL
    exif[0x0131] = SOFTWARE
    exif[0x0132] = TAKEN
    exif[0x013B] = ARTIST
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = TAKEN
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = GPS_LAT
    gps[3] = "E"
    gps[4] = (116.0, 23.0, 29.88)
    return exif


def _xmp() -> bytes:
    return (f'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>{XMP_MARK}</dc:creator>'
            f'</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def landscape_marked(width: int = 60, height: int = 40) -> Image.Image:
    """Left half red, right half blue: orientation is visible in the pixels."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


def jpeg_with_metadata(orientation: int = 6, width: int = 60, height: int = 40) -> bytes:
    buffer = io.BytesIO()
    landscape_marked(width, height).save(buffer, "JPEG", exif=rich_exif(orientation), quality=90,
                                         comment=PNG_TEXT.encode(), xmp=_xmp())
    return buffer.getvalue()


def png_with_metadata() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", ARTIST)
    info.add_text("Comment", PNG_TEXT)
    info.add_itxt("Description", COMMENT_AUTHOR, lang="zh")
    info.add_text("XML:com.adobe.xmp", _xmp().decode())
    buffer = io.BytesIO()
    landscape_marked().save(buffer, "PNG", pnginfo=info, exif=rich_exif(1))
    return buffer.getvalue()


def webp_with_metadata() -> bytes:
    buffer = io.BytesIO()
    landscape_marked().save(buffer, "WEBP", exif=rich_exif(1), xmp=_xmp(), quality=90)
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid-looking PNG header declaring a huge canvas, with a tiny compressed body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * width
    body = b"".join(compressor.compress(row) for _ in range(16)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def pdf_with_metadata(pages: int = 1, image_bytes: bytes | None = None, padding: int = 0) -> bytes:
    import pikepdf

    pdf = pikepdf.new()
    for index in range(pages):
        pdf.add_blank_page(page_size=(200, 200))
        page = pdf.pages[index]
        content = f"BT /F1 12 Tf 20 100 Td ({PIXEL_MARK.decode()}) Tj ET".encode()
        page.Contents = pdf.make_stream(content)
        annot = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text,
                                   Rect=[10, 10, 30, 30], Contents=pikepdf.String("note"),
                                   T=pikepdf.String(COMMENT_AUTHOR), M=pikepdf.String("D:20230714081522"))
        page.Annots = pdf.make_indirect(pikepdf.Array([annot]))
    if image_bytes is not None:
        image = pikepdf.Stream(pdf, image_bytes, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image,
                               Width=60, Height=40, ColorSpace=pikepdf.Name.DeviceRGB, BitsPerComponent=8,
                               Filter=pikepdf.Name.DCTDecode)
        pdf.pages[0].Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    if padding:
        # A large incompressible stream: a "big PDF" for the memory measurements.
        filler = pikepdf.Stream(pdf, padding_bytes(padding))
        pdf.Root.Filler = pdf.make_indirect(filler)
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [XMP_MARK]
        meta["xmp:CreatorTool"] = SOFTWARE
    pdf.docinfo["/Author"] = AUTHOR
    pdf.docinfo["/Creator"] = SOFTWARE
    pdf.docinfo["/Producer"] = SOFTWARE
    pdf.docinfo["/CreationDate"] = "D:20230714081522+08'00'"
    pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def padding_bytes(size: int) -> bytes:
    """Incompressible, reproducible bytes."""
    import hashlib

    return hashlib.shake_256(b"tipline test padding").digest(size)


_CONTENT_TYPES_DOCX = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="jpeg" ContentType="image/jpeg"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/word/comments.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    '<Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/>'
    '</Types>')
_CONTENT_TYPES_XLSX = _CONTENT_TYPES_DOCX.replace(
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>',
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
).replace('<Override PartName="/word/comments.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml"/>',
          '<Override PartName="/xl/comments1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"/>')

_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{main}"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>'
    '<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties" Target="docProps/custom.xml"/>'
    '</Relationships>')

_CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    f'<dc:creator>{AUTHOR}</dc:creator><cp:lastModifiedBy>{LAST_MODIFIED}</cp:lastModifiedBy>'
    '<dcterms:created xsi:type="dcterms:W3CDTF">2023-07-14T08:15:22Z</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">2023-07-14T09:15:22Z</dcterms:modified>'
    '</cp:coreProperties>')
_APP = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    f'<Application>{SOFTWARE}</Application><Company>{COMPANY}</Company></Properties>')
_CUSTOM = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
    'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="2" name="Owner"><vt:lpwstr>{AUTHOR}</vt:lpwstr></property>'
    '</Properties>')
W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
DOC_TEXT = "县里要求每天在APP上打卡"


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2023, 7, 14, 8, 15, 22))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _write(archive: zipfile.ZipFile, name: str, data: str | bytes) -> None:
    archive.writestr(_info(name), data)


def docx_with_metadata(*, extra: dict[str, bytes | str] | None = None, photo: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _write(archive, "[Content_Types].xml", _CONTENT_TYPES_DOCX)
        _write(archive, "_rels/.rels", _ROOT_RELS.format(main="word/document.xml"))
        _write(archive, "docProps/core.xml", _CORE)
        _write(archive, "docProps/app.xml", _APP)
        _write(archive, "docProps/custom.xml", _CUSTOM)
        _write(archive, "word/document.xml",
               f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W_NS}><w:body>'
               f'<w:p w:rsidR="00A1B2C3"><w:r><w:t>{DOC_TEXT}</w:t></w:r>'
               f'<w:ins w:id="1" w:author="{COMMENT_AUTHOR}" w:date="2023-07-14T08:15:00Z"><w:r><w:t>补充</w:t></w:r></w:ins>'
               '</w:p></w:body></w:document>')
        _write(archive, "word/comments.xml",
               f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:comments {W_NS}>'
               f'<w:comment w:id="0" w:author="{COMMENT_AUTHOR}" w:date="2023-07-14T08:15:00Z" w:initials="ZL">'
               '<w:p><w:r><w:t>批注</w:t></w:r></w:p></w:comment></w:comments>')
        if photo is not None:
            _write(archive, "word/media/image1.jpeg", photo)
        for name, data in (extra or {}).items():
            _write(archive, name, data)
    return buffer.getvalue()


def xlsx_with_metadata(*, extra: dict[str, bytes | str] | None = None) -> bytes:
    buffer = io.BytesIO()
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _write(archive, "[Content_Types].xml", _CONTENT_TYPES_XLSX)
        _write(archive, "_rels/.rels", _ROOT_RELS.format(main="xl/workbook.xml"))
        _write(archive, "docProps/core.xml", _CORE)
        _write(archive, "docProps/app.xml", _APP)
        _write(archive, "docProps/custom.xml", _CUSTOM)
        _write(archive, "xl/workbook.xml",
               f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook {ns} '
               'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
               'xmlns:x15ac="http://schemas.microsoft.com/office/spreadsheetml/2010/11/ac">'
               f'<x15ac:absPath url="C:\\Users\\{AUTHOR}\\Desktop\\"/>'
               '<sheets><sheet name="打卡" sheetId="1" r:id="rId1"/></sheets></workbook>')
        _write(archive, "xl/_rels/workbook.xml.rels",
               '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
               '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
               '</Relationships>')
        _write(archive, "xl/worksheets/sheet1.xml",
               f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {ns}><sheetData>'
               f'<row r="1"><c r="A1" t="inlineStr"><is><t>{DOC_TEXT}</t></is></c></row></sheetData></worksheet>')
        _write(archive, "xl/comments1.xml",
               f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><comments {ns}>'
               f'<authors><author>{COMMENT_AUTHOR}</author></authors><commentList/></comments>')
        for name, data in (extra or {}).items():
            _write(archive, name, data)
    return buffer.getvalue()


def zip_bomb_docx(expanded: int = 300 * 1024 * 1024) -> bytes:
    """A DOCX whose document.xml inflates from a few hundred KB to `expanded` bytes of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _write(archive, "[Content_Types].xml", _CONTENT_TYPES_DOCX)
        _write(archive, "_rels/.rels", _ROOT_RELS.format(main="word/document.xml"))
        with archive.open(_info("word/document.xml"), "w") as member:
            block = b"\x00" * (1024 * 1024)
            for _ in range(expanded // len(block)):
                member.write(block)
    return buffer.getvalue()


def many_entries_docx(count: int = 5000) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _write(archive, "[Content_Types].xml", _CONTENT_TYPES_DOCX)
        _write(archive, "_rels/.rels", _ROOT_RELS.format(main="word/document.xml"))
        _write(archive, "word/document.xml", f"<w:document {W_NS}/>")
        for index in range(count):
            _write(archive, f"word/x/{index}.xml", b"")
    return buffer.getvalue()


def macro_docx() -> bytes:
    return docx_with_metadata(extra={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"})
