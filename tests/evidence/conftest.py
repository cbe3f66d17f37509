"""Helpers for the attachment tests: upload like a browser, read back like the services do."""

import io
import re
from dataclasses import dataclass

import pytest

from app.db import session_scope
from tests.conftest import _RECEIPT, csrf_token

CONTENT_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "txt": "text/plain",
}


def file_part(name: str, data: bytes, content_type: str | None = None):
    ext = name.rsplit(".", 1)[-1].lower()
    return (io.BytesIO(data), name, content_type or CONTENT_TYPES.get(ext, "application/octet-stream"))


@dataclass
class Stored:
    name: str
    kind: str
    size: int
    removed: list[str]
    data: bytes
    message_id: str | None


class Uploader:
    """The tip form with files, JavaScript off: preview (files cleaned and held) → send → receipt."""

    def __init__(self, reporting, client, installed) -> None:
        self.reporting = reporting
        self.client = client
        self.installed = installed

    def preview(self, files: list[tuple[str, bytes]] | None = None, fields: dict | None = None, **overrides):
        fields = fields or self.reporting.form_fields(**overrides)
        data = {**fields, "action": "preview", "attachments": [file_part(n, d) for n, d in files or []]}
        return self.client.post("/tip", data=data, content_type="multipart/form-data"), fields

    def send(self, fields: dict):
        return self.client.post("/tip", data={**fields, "action": "send"}, content_type="multipart/form-data")

    def confirm(self, sent) -> str:
        assert sent.status_code == 303, sent.get_data(as_text=True)[:3000]
        page = self.client.get(sent.headers["Location"]).get_data(as_text=True)
        match = _RECEIPT.search(page)
        assert match, "no receipt on the receipt page"
        receipt = match.group(1).replace(" ", "")
        done = self.client.post("/tip/receipt", data={"csrf_token": csrf_token(page), "last_group": receipt[-4:]})
        assert done.status_code == 303
        return receipt

    def submit(self, files: list[tuple[str, bytes]], **overrides) -> str:
        preview, fields = self.preview(files, **overrides)
        assert preview.status_code == 200, preview.get_data(as_text=True)[:3000]
        return self.confirm(self.send(fields))

    def stored(self, receipt: str) -> list[Stored]:
        """Every attachment of the tip, decrypted through the services with the reporter's key."""
        from app.evidence import services as evidence
        from app.evidence.models import Attachment
        from app.reporting import services

        with session_scope(self.installed.url) as db:
            opened = services.open_with_receipt(db, receipt)
            assert opened is not None
            out = []
            for info in evidence.list_attachments(db, opened.tip_id, opened.data_key):
                attachment = db.get(Attachment, info.id)
                data = b"".join(evidence.plaintext(db, attachment, opened.data_key))
                assert len(data) == info.size
                out.append(Stored(info.name, info.kind, info.size, info.removed, data, info.message_id))
            return out


@pytest.fixture
def uploader(reporting, reporter, installed) -> Uploader:
    return Uploader(reporting, reporter, installed)


def count_rows(installed, model) -> int:
    from sqlalchemy import func, select

    with session_scope(installed.url) as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


def textarea(page: str, name: str) -> str:
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\s*(.*?)</textarea>', page, re.S)
    assert match, f"no textarea {name}"
    return match.group(1)
