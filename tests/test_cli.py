"""The scripting contract of the `tipline` command."""

import json

from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli import main
from app.db import session_scope
from app.install import services as install
from app.reporting.models import Tip


def test_init_prints_the_contract_json(tmp_path, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    result = CliRunner().invoke(main, ["init", "--admin", "chief", "--json"], input="a long enough password\n")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["admin"] == "chief" and out["office"] == "default"
    assert len(out["totp_secret"]) >= 16 and len(out["recovery_key"].replace("-", "")) == 32
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o077 == 0
    again = CliRunner().invoke(main, ["init", "--admin", "other", "--json"], input="a long enough password\n")
    assert again.exit_code != 0 and "already initialised" in again.output


def test_init_refuses_a_short_password_and_missing_stdin(tmp_path, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    short = CliRunner().invoke(main, ["init", "--admin", "chief", "--json"], input="short\n")
    assert short.exit_code != 0 and "too short" in short.output
    empty = CliRunner().invoke(main, ["init", "--admin", "chief", "--json"], input="")
    assert empty.exit_code != 0


def test_first_serve_makes_an_office_that_takes_tips_before_set_up(tmp_path, monkeypatch, config):
    """`tipline serve` on an empty directory: the office exists at once; `init` later takes it over."""
    data_dir = tmp_path / "fresh"
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    url = f"sqlite:///{data_dir / 'tipline.sqlite3'}"
    data_dir.mkdir()
    install.migrate(url)
    with session_scope(url) as db:
        token = install.prepare_first_run(db, data_dir)
    assert token and (data_dir / "setup-token").exists()
    with session_scope(url) as db:  # a restart prints the same link
        assert install.prepare_first_run(db, data_dir) == token
    from app import create_reporter_app
    from tests.conftest import ReporterActions

    app = create_reporter_app({**config, "DATA_DIR": str(data_dir), "DATABASE_URL": url})
    receipt = ReporterActions(app.test_client()).submit(description="设置之前提交的线索")
    result = CliRunner().invoke(main, ["init", "--admin", "chief", "--json"], input="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert not (data_dir / "setup-token").exists()
    with session_scope(url) as db:
        from app.reporting.services import open_with_receipt

        assert open_with_receipt(db, receipt) is not None
        assert db.scalar(select(func.count()).select_from(Tip)) == 1


def test_seed_adds_tips_sealed_like_real_ones(installed, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(installed.data_dir))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", installed.url)
    result = CliRunner().invoke(main, ["seed", "--count", "30", "--seed", "7"])
    assert result.exit_code == 0, result.output
    with session_scope(installed.url) as db:
        tips = db.scalars(select(Tip)).all()
    assert len(tips) == 30
    assert len({t.lookup_id for t in tips}) == 30
    assert all(b"description" not in t.content for t in tips)
    with_receipts = CliRunner().invoke(main, ["seed", "--count", "2", "--with-receipts"])
    receipts = [line for line in with_receipts.output.splitlines() if line.isdigit()]
    assert len(receipts) == 2
    with session_scope(installed.url) as db:
        from app.reporting.services import open_with_receipt, read_for_reporter

        view = read_for_reporter(db, open_with_receipt(db, receipts[0]))
    assert view.content.description


def test_seed_unknown_office_is_a_clear_error(installed, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(installed.data_dir))
    monkeypatch.setenv("TIPLINE_DATABASE_URL", installed.url)
    result = CliRunner().invoke(main, ["seed", "--count", "1", "--office", "nope"])
    assert result.exit_code != 0 and "no office" in result.output


def test_files_in_the_data_directory_are_private(tmp_path, monkeypatch):
    monkeypatch.setenv("TIPLINE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("TIPLINE_DATABASE_URL", raising=False)
    import os

    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(main, ["init", "--admin", "chief", "--json"], input="a long enough password\n")
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    for path in (tmp_path / "d").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path.name
