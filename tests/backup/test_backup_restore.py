"""Backup → restore into a fresh data directory gives back every tip, reply and account."""

import gzip
import io
import json

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app import create_inspector_app
from app.audit import services as audit
from app.backup.services import write_backup
from app.cli import main
from app.db import engine_for, session_scope
from app.inspectors.services import verify_password
from app.reporting import services
from app.reporting.models import Message, Tip
from tests.conftest import ADMIN_PASSWORD, TEST_SECRET


def _cli(data_dir, url, args, input=None):
    env = {"TIPLINE_DATA_DIR": str(data_dir), "TIPLINE_DATABASE_URL": url}
    return CliRunner(env=env).invoke(main, args, input=input)


@pytest.fixture
def populated(reporting, installed):
    receipts = [reporting.submit(description=f"备份测试线索{i}") for i in range(3)]
    with session_scope(installed.url) as db:
        opened = services.open_with_receipt(db, receipts[0])
        services.add_message(db, opened.tip_id, opened.data_key, "核查员的回复", services.AUTHOR_INSPECTOR)
        db.get(Tip, opened.tip_id).status = "verifying"
        audit.record(db, "test.event", target="x")
    return receipts


def test_round_trip_into_a_fresh_directory(populated, installed, tmp_path):
    archive = tmp_path / "tipline.backup"
    result = _cli(installed.data_dir, installed.url, ["backup", str(archive)])
    assert result.exit_code == 0, result.output
    assert archive.stat().st_mode & 0o077 == 0
    raw = gzip.decompress(archive.read_bytes())
    assert "备份测试线索".encode() not in raw and "核查员的回复".encode() not in raw  # ciphertext only
    assert json.loads(raw.splitlines()[0])["format"] == "tipline-backup"

    fresh = tmp_path / "fresh"
    fresh_url = f"sqlite:///{fresh / 'tipline.sqlite3'}"
    restored = _cli(fresh, fresh_url, ["restore", str(archive)])
    assert restored.exit_code == 0, restored.output

    with session_scope(fresh_url) as db:
        assert db.scalar(select(func.count()).select_from(Tip)) == 3
        # the receipts still open their tips, replies included
        view = services.read_for_reporter(db, services.open_with_receipt(db, populated[0]))
        assert view.status == "verifying" and view.messages[0].text == "核查员的回复"
        assert view.content.description == "备份测试线索0"
        # the admin's password still unwraps the admin's key
        assert verify_password(db, "admin", ADMIN_PASSWORD) is not None
        assert audit.verify(db).ok

    # and the admin can log in on the restored install and read the tips
    app = create_inspector_app({"DATA_DIR": str(fresh), "DATABASE_URL": fresh_url, "SECRET_KEY": TEST_SECRET})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    from tests.conftest import csrf_token

    response = client.post("/login", data={"csrf_token": csrf_token(page), "username": "admin",
                                           "password": ADMIN_PASSWORD, "totp": pyotp.TOTP(installed.totp_secret).now()})
    assert response.status_code in (302, 303)
    queue = client.get("/").get_data(as_text=True)
    assert "网格通APP" in queue or "备份测试线索" in queue or "新线索" in queue


def test_restore_refuses_a_non_empty_directory(populated, installed, tmp_path):
    archive = tmp_path / "a.backup"
    _cli(installed.data_dir, installed.url, ["backup", str(archive)])
    again = _cli(installed.data_dir, installed.url, ["restore", str(archive)])
    assert again.exit_code != 0 and "not empty" in again.output
    with session_scope(installed.url) as db:
        assert db.scalar(select(func.count()).select_from(Tip)) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_gzip"])
def test_a_damaged_archive_is_refused_and_leaves_nothing_half_restored(populated, installed, tmp_path, damage):
    archive = tmp_path / "a.backup"
    _cli(installed.data_dir, installed.url, ["backup", str(archive)])
    raw = gzip.decompress(archive.read_bytes())
    if damage == "truncate":
        archive.write_bytes(gzip.compress(raw[: len(raw) // 2].rsplit(b"\n", 1)[0] + b"\n"))
    elif damage == "garbage":
        archive.write_bytes(gzip.compress(raw + b"{not json\n"))
    else:
        archive.write_bytes(b"definitely not a backup")
    fresh = tmp_path / "fresh"
    fresh_url = f"sqlite:///{fresh / 'tipline.sqlite3'}"
    result = _cli(fresh, fresh_url, ["restore", str(archive)])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    engine = engine_for(fresh_url)
    from sqlalchemy import inspect

    if "tips" in inspect(engine).get_table_names():
        with session_scope(fresh_url) as db:
            assert db.scalar(select(func.count()).select_from(Tip)) == 0
            assert db.scalar(select(func.count()).select_from(Message)) == 0


def test_a_backup_reads_one_moment_while_tips_keep_coming(populated, installed, reporting):
    class TipArrivesMeanwhile(io.BytesIO):
        """The archive's first bytes are written once the backup has begun: a tip comes in then."""

        def write(self, data) -> int:
            if not arrived:
                arrived.append(reporting.submit(description="备份进行中提交的线索"))
            return super().write(data)

    arrived: list[str] = []
    out = TipArrivesMeanwhile()
    report = write_backup(engine_for(installed.url), out)
    assert arrived
    with session_scope(installed.url) as db:
        assert db.scalar(select(func.count()).select_from(Tip)) == 4
    assert report.rows["tips"] == 3  # as the backup began, in every table
    tips = [json.loads(line) for line in gzip.decompress(out.getvalue()).splitlines()]
    assert tips[-1]["rows"]["tips"] == 3
