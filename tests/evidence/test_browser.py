"""Real Chromium, JavaScript off: a photo with GPS goes through the form and comes out clean."""

import re

import pytest

from tests.evidence import builders as b

pytestmark = pytest.mark.browser


def test_photo_with_gps_through_the_form(browser_page, live, uploader, tmp_path):
    page = browser_page
    photo = tmp_path / "现场照片.jpg"
    photo.write_bytes(b.jpeg_with_metadata(orientation=6))
    page.goto(live.reporter_url + "/tip")
    page.check("input[name=burden_types][value=photo_trace]")
    page.fill("#description", "每天要在风险点拍带定位的照片上传留痕。")
    page.set_input_files("#attachments", str(photo))
    page.click("button[value=preview]")
    listing = page.inner_text("#attachment-preview")
    assert "现场照片.jpg" in listing
    assert re.search(r"已去除：GPS位置、拍摄设备、拍摄时间、作者", listing), listing
    # Edit and come back: the file is still there without choosing it again.
    page.click("button[value=edit]")
    assert "现场照片.jpg" in page.inner_text("#held-attachments")
    page.click("button[value=preview]")
    assert "现场照片.jpg" in page.inner_text("#attachment-preview")
    page.click("button[value=send]")
    receipt_text = page.inner_text("#receipt")
    assert re.fullmatch(r"\d{4}( \d{4}){4}", receipt_text.strip()), receipt_text
    assert "1个附件" in page.content()
    receipt = receipt_text.replace(" ", "")
    page.fill("#last_group", receipt[-4:])
    page.click("text=我已抄好")
    assert "提交完成" in page.content()
    [stored] = uploader.stored(receipt)
    for marker in b.ALL_MARKERS:
        assert marker.encode() not in stored.data
    assert "gps" in stored.removed
