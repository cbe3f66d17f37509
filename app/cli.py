"""The `tipline` command: set-up and operations (scripting contract of DESIGN.md)."""

import json
import sys
from pathlib import Path

import click

from app.config import data_dir_from_env, database_url, ensure_secret_key
from app.db import session_scope
from app.inspectors.services import AccountError
from app.install import services as install


def _data_dir() -> Path:
    path = data_dir_from_env()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _url(data_dir: Path) -> str:
    return database_url(data_dir)


def read_stdin_lines(count: int) -> list[str]:
    """Passwords come from standard input, one per line, never from arguments (they show in ps)."""
    lines = []
    for _ in range(count):
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError(f"expected {count} line(s) on standard input")
        lines.append(line.rstrip("\r\n"))
    return lines


def _prepare(data_dir: Path) -> str:
    ensure_secret_key(data_dir)
    url = _url(data_dir)
    install.migrate(url)
    return url


@click.group()
def main() -> None:
    """Tipline: an anonymous tip line for fingertip formalism."""


@main.command()
@click.option("--admin", "admin_name", required=True, help="user name of the first administrator")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def init(admin_name: str, as_json: bool) -> None:
    """Create the schema, the admin (password on stdin) and the office `default`."""
    data_dir = _data_dir()
    (password,) = read_stdin_lines(1)
    url = _prepare(data_dir)
    try:
        with session_scope(url) as db:
            result = install.initialize(db, admin_name, password, data_dir=data_dir)
            out = {
                "admin": result.admin.inspector.username,
                "totp_secret": result.admin.totp_secret,
                "recovery_key": result.recovery_key,
                "office": result.office.code,
                "data_dir": str(data_dir),
            }
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    install.forget_setup_token(data_dir)
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(f"admin: {out['admin']}\nTOTP secret: {out['totp_secret']}\n"
                   f"office: {out['office']}\nrecovery key (store it offline, shown once): {out['recovery_key']}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--reporter-port", default=8080, show_default=True, type=int)
@click.option("--inspector-port", default=8081, show_default=True, type=int)
def serve(host: str, reporter_port: int, inspector_port: int) -> None:
    """Serve the reporter site and the inspector site (first run: prints the set-up link)."""
    from app import create_inspector_app, create_reporter_app
    from app.serving import build_servers, serve_forever

    data_dir = _data_dir()
    url = _prepare(data_dir)
    with session_scope(url) as db:
        token = install.prepare_first_run(db, data_dir)
    reporter = create_reporter_app({"DATA_DIR": str(data_dir)})
    inspector = create_inspector_app({"DATA_DIR": str(data_dir)})
    servers = build_servers(reporter, inspector, host, reporter_port, inspector_port)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"reporter site:  http://{shown_host}:{reporter_port}/")
    click.echo(f"inspector site: http://{shown_host}:{inspector_port}/")
    if token:
        click.echo(f"first run: open http://{shown_host}:{inspector_port}/setup/{token} to create the "
                   "administrator (one-time link; `tipline init` does the same without a browser)")
    sys.stdout.flush()
    serve_forever(servers)


@main.command()
@click.option("--count", required=True, type=click.IntRange(1, 1_000_000))
@click.option("--office", "office_code", default="default", show_default=True)
@click.option("--with-receipts", is_flag=True, help="derive real receipts (35 ms each) and print them")
@click.option("--seed", "random_seed", type=int, default=None, help="make the synthetic data repeatable")
def seed(count: int, office_code: str, with_receipts: bool, random_seed: int | None) -> None:
    """Add COUNT realistic synthetic tips, sealed like real ones (for demos and benchmarks)."""
    from app.seeding import seed_tips

    data_dir = _data_dir()
    url = _prepare(data_dir)
    with session_scope(url) as db:
        install.ensure_settings(db)
    try:
        receipts = seed_tips(url, office_code, count, with_receipts=with_receipts, random_seed=random_seed)
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    for receipt in receipts:
        click.echo(receipt)
    click.echo(f"seeded {count} tips into office {office_code}", err=True)
