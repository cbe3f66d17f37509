"""The cleaners on their own: metadata in, none out; bombs and macros refused."""

import io
import zipfile

import pikepdf
import pytest
from flask import Flask
from flask_babel import Babel
from PIL import Image

from app.evidence import cleaning, sniffing
from tests.evidence import builders as b

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def app_context():
    app = Flask("cleaning-tests")
    Babel(app)
    with app.app_context():
        yield


def run(data: bytes, limits: cleaning.Limits | None = None) -> tuple[cleaning.Cleaned, bytes]:
    source = io.BytesIO(data)
    out = io.BytesIO()
    cleaned = cleaning.clean(sniffing.sniff(source).kind, source, out.write, limits or cleaning.Limits())
    assert cleaned.size == len(out.getvalue())
    return cleaned, out.getvalue()


def assert_no_markers(data: bytes) -> None:
    for marker in b.ALL_MARKERS:
        assert marker.encode() not in data, marker
        assert marker.encode("utf-16-le") not in data, marker


@pytest.mark.parametrize("orientation,size", [(1, (60, 40)), (6, (40, 60)), (3, (60, 40)), (8, (40, 60))])
def test_jpeg_loses_exif_and_is_turned_upright(orientation, size):
    cleaned, out = run(b.jpeg_with_metadata(orientation=orientation))
    assert {"gps", "device", "taken_at", "author", "software", "xmp", "text"} <= cleaned.removed
    assert_no_markers(out)
    assert b"Exif" not in out and b"http://ns.adobe.com/xap" not in out
    image = Image.open(io.BytesIO(out))
    assert image.size == size
    assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
    assert "icc_profile" not in image.info and "comment" not in image.info
    # The red half of the original landscape picture ends up where the orientation says.
    rgb = image.convert("RGB")
    red_at = {1: (5, 20), 6: (20, 5), 3: (55, 20), 8: (20, 55)}[orientation]
    r, g, bl = rgb.getpixel(red_at)
    assert r > 200 and bl < 60


def test_png_text_chunks_and_exif_go():
    cleaned, out = run(b.png_with_metadata())
    assert {"author", "text", "xmp", "gps"} <= cleaned.removed
    assert_no_markers(out)
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP", b"tIME"):
        assert chunk not in out
    assert Image.open(io.BytesIO(out)).size == (60, 40)


def test_webp_exif_and_xmp_go():
    cleaned, out = run(b.webp_with_metadata())
    assert {"gps", "device", "author", "xmp"} <= cleaned.removed
    assert_no_markers(out)
    assert b"EXIF" not in out and b"XMP " not in out
    image = Image.open(io.BytesIO(out))
    assert image.format == "WEBP" and not image.getexif()


def test_pdf_loses_info_xmp_annotation_authors_scripts_and_photo_exif():
    photo = b.jpeg_with_metadata(orientation=1)
    cleaned, out = run(b.pdf_with_metadata(image_bytes=photo))
    assert {"author", "software", "dates", "xmp", "comment_authors", "auto_actions",
            "embedded_image_meta"} <= cleaned.removed
    assert_no_markers(out)
    with pikepdf.open(io.BytesIO(out)) as pdf:
        assert "/Info" not in pdf.trailer
        assert "/Metadata" not in pdf.Root and "/OpenAction" not in pdf.Root
        annot = pdf.pages[0].Annots[0]
        assert "/T" not in annot and "/M" not in annot
        image = pdf.pages[0].Resources.XObject.Im0.read_raw_bytes()
        assert image.startswith(b"\xff\xd8") and b"Exif" not in image
        assert b.PIXEL_MARK in pdf.pages[0].Contents.read_bytes()  # the content itself is untouched


def test_pdf_output_is_deterministic():
    # The same input gives the same bytes: no time or random document id in the output.
    data = b.pdf_with_metadata()
    assert run(data)[1] == run(data)[1]


def test_encrypted_pdf_is_refused():
    buffer = io.BytesIO()
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(buffer, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    with pytest.raises(cleaning.Refused, match="密码"):
        run(buffer.getvalue())


def test_docx_properties_comments_and_photos_are_cleared():
    cleaned, out = run(b.docx_with_metadata(photo=b.jpeg_with_metadata()))
    assert {"author", "last_modified_by", "company", "dates", "custom_props", "comment_authors",
            "revision_ids", "embedded_image_meta"} <= cleaned.removed
    assert_no_markers(out)
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        names = archive.namelist()
        assert "docProps/custom.xml" not in names
        assert b"custom.xml" not in archive.read("_rels/.rels")
        assert b"custom.xml" not in archive.read("[Content_Types].xml")
        assert b"<dc:creator>" not in archive.read("docProps/core.xml")
        assert b.DOC_TEXT.encode() in archive.read("word/document.xml")
        assert b"w:rsid" not in archive.read("word/document.xml")
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
        assert b"Exif" not in archive.read("word/media/image1.jpeg")
        assert archive.testzip() is None


def test_xlsx_properties_comment_authors_and_paths_are_cleared():
    cleaned, out = run(b.xlsx_with_metadata())
    assert {"author", "last_modified_by", "company", "comment_authors", "local_paths"} <= cleaned.removed
    assert_no_markers(out)
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        assert b.DOC_TEXT.encode() in archive.read("xl/worksheets/sheet1.xml")
        assert b"<author></author>" in archive.read("xl/comments1.xml")


def test_embedded_workbook_in_a_docx_is_cleaned_too():
    inner = b.xlsx_with_metadata()
    cleaned, out = run(b.docx_with_metadata(extra={"word/embeddings/Microsoft_Excel_Worksheet.xlsx": inner}))
    assert_no_markers(out)
    with zipfile.ZipFile(io.BytesIO(out)) as archive:
        nested = archive.read("word/embeddings/Microsoft_Excel_Worksheet.xlsx")
    assert_no_markers(nested)


def test_legacy_embedded_objects_are_refused():
    with pytest.raises(cleaning.Refused, match="嵌入"):
        run(b.docx_with_metadata(extra={"word/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 100}))


@pytest.mark.parametrize("builder,match", [
    (lambda: b.png_bomb(), "图片尺寸过大"),
    (lambda: b.zip_bomb_docx(150 * MiB), "压缩炸弹"),
    (lambda: b.many_entries_docx(3000), "文件数量异常"),
    (lambda: b.macro_docx(), "宏"),
])
def test_bombs_and_macros_are_refused(builder, match):
    with pytest.raises(cleaning.Refused, match=match):
        run(builder())


def test_zip_bomb_is_caught_by_counting_not_by_headers():
    # A modest per-entry ratio and a total budget: both count what really comes out.
    with pytest.raises(cleaning.Refused):
        run(b.zip_bomb_docx(20 * MiB), cleaning.Limits(zip_max_total=5 * MiB, zip_max_ratio=10**9))


def test_pixel_limit_is_configurable():
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200)).save(buffer, "PNG")
    with pytest.raises(cleaning.Refused):
        run(buffer.getvalue(), cleaning.Limits(max_pixels=100 * 100))
    assert run(buffer.getvalue(), cleaning.Limits(max_pixels=200 * 200))[0].kind == "png"


@pytest.mark.parametrize("data,expected", [
    ("你好，打卡".encode(), "你好，打卡".encode()),
    ("\ufeff你好".encode(), "你好".encode()),
    ("乡镇工作群".encode("gb18030"), "乡镇工作群".encode()),
])
def test_text_becomes_utf8(data, expected):
    cleaned, out = run(data)
    assert cleaned.kind == "txt" and out == expected


def test_text_with_nul_or_undecodable_is_refused():
    with pytest.raises(cleaning.Refused):
        cleaning.clean("txt", io.BytesIO(b"abc\x00def"), lambda d: None, cleaning.Limits())
    with pytest.raises(cleaning.Refused):
        cleaning.clean("txt", io.BytesIO(b"\x81\x30\xff\xff\xfe" * 10), lambda d: None, cleaning.Limits())


def test_damaged_files_are_refused_not_crashing():
    for data in (b"\xff\xd8\xff\xe0garbage", b"\x89PNG\r\n\x1a\ngarbage", b"%PDF-1.7 garbage",
                 b"PK\x03\x04garbage", b"RIFF\x00\x00\x00\x00WEBPgarbage"):
        source = io.BytesIO(data)
        kind = sniffing.sniff(source).kind
        if kind not in sniffing.ALLOWED:
            continue
        with pytest.raises(cleaning.Refused):
            cleaning.clean(kind, source, lambda d: None, cleaning.Limits())


def test_output_limit_refuses_growth():
    with pytest.raises(cleaning.Refused):
        run(b"x" * 1000, cleaning.Limits(max_output=100))


def test_strip_jpeg_keeps_pixels_and_drops_trailers():
    photo = b.jpeg_with_metadata(orientation=1) + b"TRAILER-" + b.ARTIST.encode()
    stripped, changed = cleaning.strip_jpeg(photo)
    assert changed and b.ARTIST.encode() not in stripped and b"Exif" not in stripped
    assert Image.open(io.BytesIO(stripped)).tobytes() == Image.open(io.BytesIO(photo)).tobytes()


def test_strip_png_keeps_pixels():
    photo = b.png_with_metadata()
    stripped, changed = cleaning.strip_png(photo)
    assert changed and b.ARTIST.encode() not in stripped
    assert Image.open(io.BytesIO(stripped)).tobytes() == Image.open(io.BytesIO(photo)).tobytes()


def test_nested_documents_share_one_decompression_budget():
    # Each embedded document stays under the limit on its own; together they exceed it. Before the
    # shared budget, every embedded document got a fresh one (found by the security review).
    inner = b.zip_bomb_docx(3 * MiB)
    outer = b.docx_with_metadata(extra={f"word/embeddings/doc{i}.docx": inner for i in range(4)})
    limits = cleaning.Limits(zip_max_total=8 * MiB, zip_max_ratio=10**9)
    with pytest.raises(cleaning.Refused):
        run(outer, limits)
    assert run(b.docx_with_metadata(extra={"word/embeddings/doc0.docx": inner}), limits)
