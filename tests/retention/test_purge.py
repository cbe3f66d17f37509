"""Retention: exactly the closed tips past their office's period are shredded, keys first."""

import os
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import func, select, text

from app import clock
from app.audit import services as audit
from app.db import session_scope
from app.offices.models import Office
from app.reporting import services
from app.reporting.models import Message, Tip
from app.retention import services as retention


def _make(reporting, installed, description, status=None, closed_days_ago=None, reply=True):
    receipt = reporting.submit(description=description)
    with session_scope(installed.url) as db:
        opened = services.open_with_receipt(db, receipt)
        if reply:
            services.add_message(db, opened.tip_id, opened.data_key, f"回复：{description}", services.AUTHOR_INSPECTOR)
        tip = db.get(Tip, opened.tip_id)
        if status:
            tip.status = status
            tip.closed_on = clock.today() - timedelta(days=closed_days_ago)
    return receipt, opened.tip_id


def _ids(installed):
    with session_scope(installed.url) as db:
        return set(db.scalars(select(Tip.id)))


def test_purge_deletes_exactly_what_is_due(reporting, installed):
    due, due_id = _make(reporting, installed, "到期的", "rectified", 181)
    boundary, boundary_id = _make(reporting, installed, "刚好到期", "dismissed", 180)
    soon, soon_id = _make(reporting, installed, "快到期", "duplicate", 170)
    open_, open_id = _make(reporting, installed, "未结案")
    verifying, verifying_id = _make(reporting, installed, "核查中很久", "verifying", 400)
    with session_scope(installed.url) as db:
        report = retention.purge(db, clock.today())
    assert report.keys_destroyed == 2 and report.tips_deleted == 2
    assert _ids(installed) == {soon_id, open_id, verifying_id}
    with session_scope(installed.url) as db:
        assert db.scalar(select(func.count()).select_from(Message).where(Message.tip_id.in_([due_id, boundary_id]))) == 0
        assert services.open_with_receipt(db, due) is None
        assert services.open_with_receipt(db, boundary) is None
        for receipt in (soon, open_, verifying):
            view = services.read_for_reporter(db, services.open_with_receipt(db, receipt))
            assert view.messages  # the others are intact and readable


def test_per_office_retention(reporting, installed):
    _receipt, tip_id = _make(reporting, installed, "长保留", "rectified", 200)
    with session_scope(installed.url) as db:
        db.scalars(select(Office)).one().retention_days = 365
    with session_scope(installed.url) as db:
        assert retention.purge(db, clock.today()).tips_deleted == 0
    assert tip_id in _ids(installed)
    with session_scope(installed.url) as db:
        assert retention.purge(db, clock.today() + timedelta(days=166)).tips_deleted == 1


def test_keys_are_destroyed_first_and_an_interrupted_purge_finishes(reporting, installed):
    receipt, tip_id = _make(reporting, installed, "先毁钥匙", "rectified", 300)
    with session_scope(installed.url) as db:
        assert retention.destroy_keys(db, retention.tips_due(db, clock.today())) == 1
    # "crash" here: the row is still there, but nothing can open it any more
    with session_scope(installed.url) as db:
        tip = db.get(Tip, tip_id)
        assert tip.key_for_office == b"" and tip.key_for_reporter == b""
        assert services.open_with_receipt(db, receipt) is None
    with session_scope(installed.url) as db:
        assert retention.purge(db, clock.today()).tips_deleted == 1
    assert tip_id not in _ids(installed)


def test_duplicate_links_to_a_purged_tip_are_cleared(reporting, installed):
    _r1, original = _make(reporting, installed, "原线索", "rectified", 300)
    _r2, copy = _make(reporting, installed, "重复线索", "duplicate", 1)
    with session_scope(installed.url) as db:
        db.get(Tip, copy).duplicate_of_id = original
    with session_scope(installed.url) as db:
        retention.purge(db, clock.today())
    with session_scope(installed.url) as db:
        assert db.get(Tip, copy).duplicate_of_id is None


def test_warnings_fourteen_days_ahead(reporting, installed):
    _r, warned = _make(reporting, installed, "两周内删除", "rectified", 170, reply=False)
    _r, later = _make(reporting, installed, "还早", "rectified", 100, reply=False)
    _r, open_id = _make(reporting, installed, "未结案", reply=False)
    with session_scope(installed.url) as db:
        office_ids = [o.id for o in db.scalars(select(Office))]
        warnings = retention.warning_ids(db, clock.today(), office_ids)
    assert set(warnings) == {warned}
    assert warnings[warned] == clock.today() + timedelta(days=10)


def test_reporter_sees_when_the_tip_will_be_deleted(reporting, reporter, installed):
    receipt, _tip = _make(reporting, installed, "结案了", "rectified", 30, reply=False)
    reporting.open(receipt)
    page = reporter.get("/followup/tip").get_data(as_text=True)
    expected = (clock.today() + timedelta(days=150)).isoformat()
    assert f"将于 {expected} 永久删除" in page
    receipt2, _ = _make(reporting, installed, "没结案", reply=False)
    reporting.open(receipt2)
    assert "结案 180 天后" in reporter.get("/followup/tip").get_data(as_text=True)


def test_shredded_ciphertext_is_gone_from_the_data_directory(reporting, installed, database_backend):
    # Byte-level erasure is SQLite's secure_delete (plus a WAL truncation). PostgreSQL keeps old row
    # versions until vacuum (which the purge runs) and does not zero freed space: there the
    # guarantee is the destroyed keys, checked by the tests above; here the rows must be gone.
    _r, tip_id = _make(reporting, installed, "要彻底删除的内容" * 50, "rectified", 400)
    with session_scope(installed.url) as db:
        ciphertext = db.get(Tip, tip_id).content
        sealed = db.get(Tip, tip_id).key_for_office
    with session_scope(installed.url) as db:
        assert retention.purge(db, clock.today()).tips_deleted == 1
    assert tip_id not in _ids(installed)
    if database_backend != "sqlite":
        return
    with session_scope(installed.url) as db:
        assert db.execute(text("PRAGMA secure_delete")).scalar() == 1
    for path in installed.data_dir.iterdir():
        if path.is_file():
            content = path.read_bytes()
            assert ciphertext[20:84] not in content, path.name
            assert sealed[20:84] not in content, path.name


def test_daily_purge_leaves_no_old_page_image_in_the_wal(reporting, installed, database_backend):
    # The WAL is reused between checkpoints rather than truncated at each (app/db.py), so the daily
    # run empties it whether or not a tip was due: a row deleted today must be gone from the files.
    from app.cli import run_purge
    from app.sessions import ServerSession

    reporting.submit(description="今天的线索")
    secret = os.urandom(600)
    with session_scope(installed.url) as db:
        db.add(ServerSession(id="d" * 64, site="reporter", data=secret, purge_after=clock.today()))
    with session_scope(installed.url) as db:
        db.delete(db.get(ServerSession, "d" * 64))
    if database_backend == "sqlite":
        assert any(secret[100:164] in p.read_bytes() for p in installed.data_dir.iterdir() if p.is_file())
    report = run_purge(installed.url)
    assert (report.keys_destroyed, report.tips_deleted) == (0, 0)
    with session_scope(installed.url) as db:
        assert db.get(ServerSession, "d" * 64) is None
        assert db.scalar(select(func.count()).select_from(Tip)) == 1
    if database_backend != "sqlite":
        return  # PostgreSQL: no WAL file in the data directory; the row is gone, checked above
    wal = installed.data_dir / "tipline.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    for path in installed.data_dir.iterdir():
        if path.is_file():
            assert secret[100:164] not in path.read_bytes(), path.name


def test_cli_purge_is_audit_logged(reporting, installed, monkeypatch):
    from app.cli import main

    _make(reporting, installed, "命令行删除", "dismissed", 365, reply=False)
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(installed.data_dir))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", installed.url)
    dry = CliRunner().invoke(main, ["purge", "--dry-run"])
    assert dry.exit_code == 0 and "due for deletion: 1" in dry.output
    result = CliRunner().invoke(main, ["purge"])
    assert result.exit_code == 0 and "tips deleted: 1" in result.output, result.output
    with session_scope(installed.url) as db:
        entries = audit.page(db, page_number=1, per_page=50)
        assert any(e.action == "retention.purge" for e in entries)
        assert audit.verify(db).ok


def test_inspector_sees_the_coming_deletion_in_the_queue_and_on_the_tip(reporting, installed, inspector):
    _r, warned = _make(reporting, installed, "两周内删除", "rectified", 170, reply=False)
    _r, later = _make(reporting, installed, "还早", "rectified", 100, reply=False)
    inspector.login()
    queue = inspector.client.get("/").get_data(as_text=True)
    expected = (clock.today() + timedelta(days=10)).isoformat()
    assert f"{expected} 删除" in queue
    assert queue.count("deletion-soon") == 1
    page = inspector.client.get(f"/tips/{warned}").get_data(as_text=True)
    assert 'id="deletion-warning"' in page and expected in page
    later_page = inspector.client.get(f"/tips/{later}").get_data(as_text=True)
    assert (clock.today() + timedelta(days=80)).isoformat() in later_page
