"""A 20 MiB upload never sits whole in memory (bench/attachment_memory.py measures the real server)."""

import tracemalloc
import uuid
from pathlib import Path

import pytest

from tests.evidence import builders as b

MiB = 1024 * 1024
CEILING = 100 * MiB
pytestmark = pytest.mark.slow


def multipart_file(path: Path, fields: dict, name: str, content: Path, content_type: str) -> tuple[str, int]:
    """Write the request body to disk, so that the test client streams it instead of building it."""
    boundary = uuid.uuid4().hex
    with path.open("wb") as out:
        for key, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{item}\r\n".encode())
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"{name}\"\r\n"
                  f"Content-Type: {content_type}\r\n\r\n".encode())
        with content.open("rb") as source:
            while piece := source.read(MiB):
                out.write(piece)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", path.stat().st_size


def peak_during(action) -> tuple[object, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = action()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.parametrize("kind", ["txt", "pdf"])
def test_twenty_mebibyte_upload_stays_under_the_ceiling(kind, uploader, reporter, tmp_path):
    content = tmp_path / f"big.{kind}"
    if kind == "txt":
        line = "乡镇工作群每天要求截图打卡。\n".encode()
        content.write_bytes(line * (20 * MiB // len(line)))
    else:
        content.write_bytes(b.pdf_with_metadata(padding=20 * MiB - 8192))
    size = content.stat().st_size
    assert size > 19 * MiB
    fields = {**uploader.reporting.form_fields(), "action": "preview"}
    content_type, length = multipart_file(tmp_path / "body", fields, content.name, content,
                                          "text/plain" if kind == "txt" else "application/pdf")

    def preview():
        with (tmp_path / "body").open("rb") as body:
            return reporter.post("/tip", input_stream=body, content_type=content_type, content_length=length)

    response, preview_peak = peak_during(preview)
    assert response.status_code == 200, response.get_data(as_text=True)[-3000:]
    sent, send_peak = peak_during(lambda: uploader.send(fields))
    receipt = uploader.confirm(sent)
    print(f"\n{kind} {size / MiB:.1f} MiB: traced peak preview {preview_peak / MiB:.1f} MiB, "
          f"send {send_peak / MiB:.1f} MiB (ceiling {CEILING / MiB:.0f} MiB)")
    assert preview_peak < CEILING and send_peak < CEILING
    if kind == "txt":
        # Text streams end to end: far less than the file itself is ever held.
        assert preview_peak < size / 2 and send_peak < size / 2
    [stored] = uploader.stored(receipt)
    assert stored.size >= size - MiB
