"""Stored file names: no paths, controls, bidi tricks or capture times; Chinese kept."""

import pytest
from flask import Flask
from flask_babel import Babel

from app.evidence.services import display_name, safe_filename
from app.evidence.views import content_disposition


@pytest.fixture(autouse=True)
def app_context():
    app = Flask("names")
    Babel(app)
    with app.app_context():
        yield


@pytest.mark.parametrize("raw,kind,expected,timed", [
    ("现场照片.jpg", "jpeg", "现场照片.jpg", False),
    ("../../etc/passwd.txt", "txt", "passwd.txt", False),
    ("C:\\Users\\张三\\Desktop\\通知.docx", "docx", "通知.docx", False),
    ("evil\u202egpj.exe.jpg", "jpeg", "evilgpj.exe.jpg", False),
    ("a\x00b\r\nc.pdf", "pdf", "abc.pdf", False),
    ("IMG_20240312_081522.jpg", "jpeg", "IMG.jpg", True),
    ("微信图片_20240312081522.png", "png", "微信图片.png", True),
    ("mmexport1710231234567.jpg", "jpeg", "mmexport.jpg", True),
    ("Screenshot_2024-03-12-08-15-22.png", "png", "Screenshot.png", True),
    ("photo.PNG", "png", "photo.png", False),
    ("...", "txt", "附件.txt", False),
    ("<script>.txt", "txt", "_script_.txt", False),
])
def test_safe_filename(raw, kind, expected, timed):
    assert safe_filename(raw, kind) == (expected, timed)


def test_display_name_is_bounded():
    assert len(display_name("长" * 1000 + ".txt")) <= 160


def test_content_disposition_is_attachment_with_utf8_name():
    header = content_disposition("现场 照片.jpg")
    assert header.startswith("attachment; ")
    assert "filename*=UTF-8''%E7%8E%B0%E5%9C%BA%20%E7%85%A7%E7%89%87.jpg" in header
    assert '"' not in header.split("filename=")[1].split(";")[0].strip('"')
