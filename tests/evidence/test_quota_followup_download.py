"""Quota, follow-up messages with files, the inspector's download, and what is left on disk."""

import io
import re
import tempfile
import zipfile

import pikepdf
import pytest
from PIL import Image
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.db import session_scope
from app.evidence import services as evidence
from app.evidence import spool
from app.evidence.models import Attachment, HeldUpload
from app.reporting.models import Tip
from tests.conftest import csrf_token
from tests.evidence import builders as b
from tests.evidence.conftest import count_rows, file_part, textarea

MiB = 1024 * 1024


# --- quota ---------------------------------------------------------------------------------------


def test_nearly_full_quota_refuses_files_but_takes_text(uploader, reporter_app, reporting, reporter, installed):
    # 1 MiB quota, 95 %: one stored file of ~1 MiB fills it.
    reporter_app.config["ATTACHMENT_QUOTA_MB"] = 1
    first = uploader.submit([("big.txt", b"y" * (1000 * 1024))])
    assert first
    page = reporter.get("/tip").get_data(as_text=True)
    assert 'id="attachments-closed"' in page and "暂时不能接收文件" in page
    assert 'type="file"' not in page
    # A text tip still goes through.
    assert reporting.submit(description="只有文字的线索照样收到")
    # A tip with a file: the file is refused with the reason, the text comes back.
    preview, _ = uploader.preview([("more.txt", b"more")], description="带文件的线索文字要保留")
    body = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "more.txt" in body and "存储空间即将用满" in body
    assert "带文件的线索文字要保留" in textarea(body, "description")
    assert count_rows(installed, Tip) == 2


def test_held_files_do_not_use_up_the_evidence_quota(uploader, installed, reporter_app):
    """Anyone can preview; held files have an allowance of their own (1/8 of the quota), so they can
    pause new uploads for a while but never crowd out stored evidence (security review H4)."""
    import dataclasses

    settings = evidence.Settings.from_config(reporter_app.config)
    uploader.preview([("held.txt", b"h" * 1000)])
    with session_scope(installed.url) as db:
        state = evidence.quota_state(db, settings)
        assert state.used == 0 and not state.nearly_full
        small = dataclasses.replace(settings, quota_bytes=evidence.HELD_SHARE * 1000)
        assert evidence.quota_state(db, small).nearly_full  # the held allowance is spent


# --- follow-up messages --------------------------------------------------------------------------


def open_followup(reporting, reporter, receipt: str) -> str:
    reporting.open(receipt)
    return reporter.get("/followup/tip").get_data(as_text=True)


def test_followup_message_with_files(uploader, reporting, reporter):
    receipt = uploader.submit([("first.txt", b"first")])
    page = open_followup(reporting, reporter, receipt)
    assert "first.txt" in page and 'enctype="multipart/form-data"' in page
    response = reporter.post("/followup/message", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(page), "message": "补充两张照片",
        "attachments": [file_part("补充.jpg", b.jpeg_with_metadata()), file_part("补充.pdf", b.pdf_with_metadata())]})
    assert response.status_code == 303
    stored = uploader.stored(receipt)
    assert sorted(s.name for s in stored) == ["first.txt", "补充.jpg", "补充.pdf"]
    for item in stored:
        for marker in b.ALL_MARKERS:
            assert marker.encode() not in item.data
    assert sum(1 for s in stored if s.message_id) == 2


def test_followup_refused_file_stores_nothing_and_keeps_text(uploader, reporting, reporter, installed):
    receipt = uploader.submit([])
    page = open_followup(reporting, reporter, receipt)
    response = reporter.post("/followup/message", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(page), "message": "这段补充文字不能丢",
        "attachments": [file_part("ok.txt", b"fine"), file_part("bad.png", b"<html></html>")]})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "bad.png" in body and "这段补充文字不能丢" in body
    assert count_rows(installed, Attachment) == 0
    assert "这段补充文字不能丢" not in reporter.get("/followup/tip").get_data(as_text=True).split("<form")[0]


# --- inspector download --------------------------------------------------------------------------


def download_links(installed, receipt) -> list[str]:
    from app.reporting import services

    with session_scope(installed.url) as db:
        opened = services.open_with_receipt(db, receipt)
        return [a.id for a in evidence.list_attachments(db, opened.tip_id, opened.data_key)]


@pytest.fixture
def logged_in(inspector):
    response = inspector.login()
    assert response.status_code in (302, 303), response.status_code
    return inspector


def test_download_has_no_metadata_and_safe_headers(uploader, installed, logged_in, inspector_client):
    receipt = uploader.submit([("现场.jpg", b.jpeg_with_metadata()), ("通知.pdf", b.pdf_with_metadata()),
                               ("表格.xlsx", b.xlsx_with_metadata()), ("文件.docx", b.docx_with_metadata())])
    ids = download_links(installed, receipt)
    assert len(ids) == 4
    seen = {}
    for attachment_id in ids:
        response = inspector_client.get(f"/attachments/{attachment_id}")
        assert response.status_code == 200
        data = response.get_data()
        for marker in b.ALL_MARKERS:
            assert marker.encode() not in data
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        policies = response.headers.getlist("Content-Security-Policy")
        assert "sandbox; default-src 'none'" in policies and len(policies) == 2
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
        seen[re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)] = data
    jpeg = next(v for k, v in seen.items() if k.endswith(".jpg"))
    assert not Image.open(io.BytesIO(jpeg)).getexif()
    pdf = next(v for k, v in seen.items() if k.endswith(".pdf"))
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert "/Info" not in doc.trailer
    docx = next(v for k, v in seen.items() if k.endswith(".docx"))
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        assert b.AUTHOR.encode() not in archive.read("docProps/core.xml")
    with session_scope(installed.url) as db:
        actions = list(db.scalars(select(AuditEntry.action).where(AuditEntry.action == evidence.DOWNLOAD_ACTION)))
    assert len(actions) == 4


def test_download_is_404_for_strangers_and_unknown_ids(uploader, installed, inspector_client, logged_in):
    from app.offices.services import create_office

    with session_scope(installed.url) as db:
        create_office(db, "other", "另一个受理单位")  # its key is granted to nobody here
    own = download_links(installed, uploader.submit([("a.txt", b"own office")]))
    other = download_links(installed, uploader.submit([("b.txt", b"secret text")], office="other"))
    assert inspector_client.get(f"/attachments/{own[0]}").status_code == 200
    assert inspector_client.get("/attachments/does-not-exist").status_code == 404
    # Another office's file: the same answer as for an id that was never issued.
    response = inspector_client.get(f"/attachments/{other[0]}")
    assert response.status_code == 404 and b"secret text" not in response.get_data()


def test_download_needs_login(uploader, installed, inspector_client):
    receipt = uploader.submit([("a.txt", b"secret text")])
    [attachment_id] = download_links(installed, receipt)
    response = inspector_client.get(f"/attachments/{attachment_id}")
    assert response.status_code in (302, 303) and b"secret text" not in response.get_data()


def test_tampered_file_is_not_served(uploader, installed, inspector_client, logged_in):
    from sqlalchemy import delete, func

    from app.evidence.models import AttachmentChunk

    receipt = uploader.submit([("a.txt", b"z" * (200 * 1024))])
    [attachment_id] = download_links(installed, receipt)
    with session_scope(installed.url) as db:
        last = db.scalar(select(func.max(AttachmentChunk.index)).where(AttachmentChunk.attachment_id == attachment_id))
        db.execute(delete(AttachmentChunk).where(AttachmentChunk.attachment_id == attachment_id,
                                                 AttachmentChunk.index == last))
    response = inspector_client.get(f"/attachments/{attachment_id}")
    assert response.status_code == 404 and b"zzz" not in response.get_data()


# --- nothing readable left behind ----------------------------------------------------------------


def test_data_and_temp_directories_hold_no_plaintext_or_metadata(uploader, installed, monkeypatch, tmp_path):
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_dir))
    kept = []

    def named_temp():
        handle = tempfile.NamedTemporaryFile(mode="w+b", prefix="tipline-spool-", delete=False)  # noqa: SIM115
        kept.append(handle.name)
        return handle

    text_marker = b"PLAINTEXT-BODY-MARKER-5Y8U" * 4000
    photo = b.jpeg_with_metadata(width=400, height=300)
    preview, fields = uploader.preview([("记录.txt", text_marker), ("p.jpg", photo), ("d.docx", b.docx_with_metadata()),
                                        ("f.pdf", b.pdf_with_metadata())])
    assert preview.status_code == 200
    receipt = uploader.confirm(uploader.send(fields))
    assert len(uploader.stored(receipt)) == 4
    # The real spool leaves nothing in the temp directory...
    assert list(temp_dir.iterdir()) == []
    # ...and what a spool writes, kept here on purpose, is ciphertext only.
    monkeypatch.setattr(spool, "_open_temp", named_temp)
    uploader.preview([("记录.txt", text_marker), ("p.jpg", photo)])
    assert len(kept) == 2
    needles = [m.encode() for m in b.ALL_MARKERS] + [b"PLAINTEXT-BODY-MARKER-5Y8U", b"Exif\x00\x00", b.TAKEN.encode()]
    for path in kept + [str(p) for p in installed.data_dir.rglob("*") if p.is_file()]:
        raw = open(path, "rb").read()
        for needle in needles:
            assert needle not in raw, (path, needle)
    assert count_rows(installed, HeldUpload) == 2
