"""The tip form with files, end to end through the reporter site (JavaScript off)."""

import io

from PIL import Image
from sqlalchemy.exc import OperationalError

from app.evidence import services as evidence
from app.evidence.models import Attachment, AttachmentChunk, HeldUpload, HeldUploadChunk
from app.reporting.models import Tip
from tests.evidence import builders as b
from tests.evidence.conftest import count_rows, file_part, textarea

MiB = 1024 * 1024


def test_jpeg_with_gps_is_cleaned_listed_and_stored(uploader):
    preview, fields = uploader.preview([("现场照片.jpg", b.jpeg_with_metadata(orientation=6))])
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "已去除：GPS位置、拍摄设备、拍摄时间、作者" in page
    assert "现场照片.jpg" in page
    receipt = uploader.confirm(uploader.send(fields))
    [stored] = uploader.stored(receipt)
    assert stored.name == "现场照片.jpg" and stored.kind == "jpeg"
    assert {"gps", "device", "taken_at", "author"} <= set(stored.removed)
    for marker in b.ALL_MARKERS:
        assert marker.encode() not in stored.data
    image = Image.open(io.BytesIO(stored.data))
    assert not image.getexif()
    assert image.size == (40, 60)  # orientation 6 applied: the landscape photo is now upright


def test_preview_edit_preview_send_keeps_files_without_reupload(uploader, reporter, installed):
    preview, fields = uploader.preview([("a.png", b.png_with_metadata()), ("b.txt", "打卡记录".encode())])
    assert preview.status_code == 200
    edit = reporter.post("/tip", data={**fields, "action": "edit"})
    page = edit.get_data(as_text=True)
    assert edit.status_code == 200
    assert "a.png" in page and "b.txt" in page and 'name="remove_attachment"' in page
    # Back to the preview without choosing any file again; the text was changed meanwhile.
    again, _ = uploader.preview([], fields={**fields, "description": fields["description"] + "（已补充）"})
    page = again.get_data(as_text=True)
    assert again.status_code == 200 and "a.png" in page and "b.txt" in page and "（已补充）" in page
    assert count_rows(installed, HeldUpload) == 2
    receipt = uploader.confirm(uploader.send({**fields, "description": fields["description"] + "（已补充）"}))
    stored = uploader.stored(receipt)
    assert sorted(s.name for s in stored) == ["a.png", "b.txt"]
    assert [s.data for s in stored if s.kind == "txt"] == ["打卡记录".encode()]
    assert count_rows(installed, HeldUpload) == 0 and count_rows(installed, HeldUploadChunk) == 0


def test_a_held_file_can_be_removed_on_the_edit_page(uploader, reporter):
    preview, fields = uploader.preview([("a.txt", b"one"), ("b.txt", b"two")])
    edit_page = reporter.post("/tip", data={**fields, "action": "edit"}).get_data(as_text=True)
    held_ids = [f.id for f in evidence.HeldFiles.from_session(None).files]  # none in a fresh state
    assert held_ids == []
    import re

    first_id = re.search(r'name="remove_attachment" value="([^"]+)"', edit_page).group(1)
    again, _ = uploader.preview([], fields={**fields, "remove_attachment": first_id})
    assert "a.txt" not in again.get_data(as_text=True) and "b.txt" in again.get_data(as_text=True)
    stored = uploader.stored(uploader.confirm(uploader.send(fields)))
    assert [s.name for s in stored] == ["b.txt"]


def test_refused_file_brings_the_form_back_with_text_and_other_names(uploader):
    description = "每天要拍照留痕，这段文字必须原样回来。"
    preview, _ = uploader.preview([("good.txt", b"ok"), ("fake.jpg", b.pdf_with_metadata())],
                                  description=description)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "fake.jpg" in page and "与扩展名不符" in page
    assert "good.txt" in page  # the other file is held and named
    assert description in textarea(page, "description")


def test_oversize_file_gets_a_clear_message_and_text_stays(uploader, installed):
    big = b"a" * (20 * MiB + 1)
    preview, _ = uploader.preview([("大文件.txt", big), ("small.txt", b"small")], description="超大文件的说明文字")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "大文件.txt" in page and "超过20 MB" in page
    assert "small.txt" in page and "超大文件的说明文字" in page
    assert count_rows(installed, HeldUpload) == 1


def test_six_files_the_sixth_is_refused(uploader):
    files = [(f"f{i}.txt", f"file {i}".encode()) for i in range(6)]
    preview, _ = uploader.preview(files)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "每次最多上传5个文件" in page and "f5.txt" in page
    assert all(f"f{i}.txt" in page for i in range(5))


def test_several_inputs_work_like_one_multiple_input(uploader, reporter):
    from werkzeug.datastructures import MultiDict

    fields = uploader.reporting.form_fields()
    pairs = [(k, item) for k, v in fields.items() for item in (v if isinstance(v, list) else [v])]
    # Two separate <input type="file" name="attachments"> elements, one file each.
    multi = MultiDict([*pairs, ("action", "preview"), ("attachments", file_part("one.txt", b"1")),
                       ("attachments", file_part("two.txt", b"2"))])
    response = reporter.post("/tip", data=multi, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "one.txt" in page and "two.txt" in page


def test_hostile_and_mismatched_files_are_refused_one_message_each(uploader):
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    files = [
        ("bomb.png", b.png_bomb()),
        ("bomb.docx", b.zip_bomb_docx(150 * MiB)),
        ("many.docx", b.many_entries_docx(3000)),
        ("macro.docx", b.macro_docx()),
        ("page.txt", html),
    ]
    preview, _ = uploader.preview(files, description="恶意文件不影响文字")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "图片尺寸过大" in page
    assert "压缩炸弹" in page
    assert "文件数量异常" in page
    assert "含有宏" in page
    assert "网页（HTML）" in page
    assert "恶意文件不影响文字" in page
    assert page.count("<li><span class=\"filename\">") >= 5
    assert "<script>alert(1)" not in page


def test_more_mismatches(uploader):
    files = [
        ("page.png", b"<html><body>hi</body></html>"),
        ("setup.docx", b"MZ\x90\x00" + b"\x00" * 200),
        ("photo.jpg", b.png_with_metadata()),
    ]
    preview, _ = uploader.preview(files)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert page.count("与扩展名不符") >= 2 and "程序文件" in page


def test_receipt_only_after_commit_failure_leaves_nothing(uploader, reporter, installed, monkeypatch):
    preview, fields = uploader.preview([("a.txt", b"x" * (3 * MiB))])
    assert preview.status_code == 200
    real = evidence.insert_chunks
    calls = {"n": 0}

    def failing(db, model, rows):
        if model is AttachmentChunk:
            calls["n"] += 1
            if calls["n"] == 2:
                raise OperationalError("INSERT", {}, Exception("disk full"))
        return real(db, model, rows)

    monkeypatch.setattr(evidence, "insert_chunks", failing)
    sent = uploader.send(fields)
    page = sent.get_data(as_text=True)
    assert sent.status_code == 503 and "没有保存成功" in page
    assert 'id="receipt"' not in page
    assert reporter.get("/tip/receipt").status_code == 302
    assert count_rows(installed, Tip) == 0
    assert count_rows(installed, Attachment) == 0 and count_rows(installed, AttachmentChunk) == 0
    # The held file is still there: sending again works and nothing was asked twice.
    monkeypatch.setattr(evidence, "insert_chunks", real)
    receipt = uploader.confirm(uploader.send(fields))
    [stored] = uploader.stored(receipt)
    assert stored.data == b"x" * (3 * MiB)


def test_body_over_the_limit_gets_a_413_page(reporter_app, uploader):
    reporter_app.config["MAX_CONTENT_LENGTH"] = 2 * MiB
    fields = uploader.reporting.form_fields()
    response = uploader.client.post("/tip", data={**fields, "attachments": file_part("x.txt", b"x" * (3 * MiB))},
                                    content_type="multipart/form-data")
    assert response.status_code == 413
    assert "提交的内容太大" in response.get_data(as_text=True)
    assert uploader.client.get("/tip").status_code == 200


def test_malformed_multipart_is_a_clear_400(reporter):
    body = b"--xyz\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"a.txt\"\r\n\r\nabc"
    response = reporter.post("/tip", data=body, content_type="multipart/form-data; boundary=xyz")
    assert response.status_code == 400
    assert "请求无效或页面已失效" in response.get_data(as_text=True) or "已失效" in response.get_data(as_text=True)
    assert reporter.get("/tip").status_code == 200


def test_text_only_tip_still_works_and_form_shows_file_input(reporting, reporter):
    page = reporter.get("/tip").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file" id="attachments" name="attachments" multiple' in page
    assert "昵称" in page and "头像" in page  # the screenshot warning
    assert "20 MB" in page
    assert reporting.submit()


def test_expired_page_names_the_files_to_choose_again(uploader, installed):
    fields = {**uploader.reporting.form_fields(description="过期页面的文字"), "csrf_token": "expired"}
    preview, _ = uploader.preview([("x.txt", b"x")], fields=fields)
    page = preview.get_data(as_text=True)
    assert preview.status_code == 400
    assert "x.txt" in page and "请重新选择" in page and "过期页面的文字" in page
    assert count_rows(installed, HeldUpload) == 0


def test_live_server_answers_413_and_stays_up(reporter_app, live):
    import http.client

    reporter_app.config["MAX_CONTENT_LENGTH"] = 4 * MiB
    port = int(live.reporter_url.rsplit(":", 1)[1])
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"big.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode()
    body = head + b"x" * (6 * MiB) + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/tip", body=body,
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        assert response.status == 413
        assert "提交的内容太大" in response.read().decode("utf-8")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close before reading everything; what matters is that it lives on
    finally:
        conn.close()
    again = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    again.request("GET", "/tip")
    assert again.getresponse().status == 200
    again.close()


def test_files_are_kept_when_the_text_is_invalid(uploader):
    preview, fields = uploader.preview([("证据.pdf", b.pdf_with_metadata())], description="")
    page = preview.get_data(as_text=True)
    assert preview.status_code == 400 and "请写下发生了什么" in page
    assert "证据.pdf" in page and 'id="held-attachments"' in page
    again, _ = uploader.preview([], fields={**fields, "description": "补上文字后再预览"})
    assert again.status_code == 200 and "证据.pdf" in again.get_data(as_text=True)
    [stored] = uploader.stored(uploader.confirm(uploader.send({**fields, "description": "补上文字后再预览"})))
    assert stored.kind == "pdf" and b.AUTHOR.encode() not in stored.data
