"""The `tipline` command: set-up and operations (scripting contract of DESIGN.md)."""

import json
import logging
import os
import sys
import threading
from pathlib import Path

import click

from app.config import data_dir_from_env, database_url, ensure_secret_key
from app.db import engine_for, keep_pages_shuffled, session_scope
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
    # Before the first tip, and after a crash that skipped it: a reserve in a random order and a
    # free-list page that lists nothing handed out (then every minute, app/upkeep.py).
    keep_pages_shuffled(engine_for(url), scrub=True)
    return url


@click.group()
def main() -> None:
    """Tipline: an anonymous tip line for fingertip formalism."""
    # Everything the command writes (database, WAL, secrets, backups) is readable by its owner only.
    os.umask(0o077)


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
    from app import create_inspector_app, create_reporter_app, upkeep
    from app.flood import services as flood
    from app.serving import (
        build_servers,
        ignore_stops,
        serve_forever,
        stop_on_sigterm,
        stops_held,
    )

    data_dir = _data_dir()
    url = _prepare(data_dir)
    with session_scope(url) as db:
        token = install.prepare_first_run(db, data_dir)
    reporter = create_reporter_app({"DATA_DIR": str(data_dir)})
    inspector = create_inspector_app({"DATA_DIR": str(data_dir)})
    stop_on_sigterm()
    servers = None
    stops: list[threading.Event] = []
    try:
        servers = build_servers(reporter, inspector, host, reporter_port, inspector_port)
        shown_host = f"[{host}]" if ":" in host else host
        click.echo(f"reporter site:  http://{shown_host}:{reporter_port}/")
        click.echo(f"inspector site: http://{shown_host}:{inspector_port}/")
        if token:
            click.echo(f"first run: open http://{shown_host}:{inspector_port}/setup/{token} to create the "
                       "administrator (one-time link; `tipline init` does the same without a browser)")
        if flood.switched_off(reporter.config.get("FLOOD_PROTECTION", "on")):
            click.echo("WARNING: flood protection is OFF (TIPLINE_FLOOD_PROTECTION=off): proof of work and "
                       "rate limits are disabled. Use this only for load tests on loopback.", err=True)
        sys.stdout.flush()
        with stops_held():  # a stop must reach the main thread, not one of these (app/serving.py)
            stops.append(upkeep.run_every(24 * 3600, lambda: run_purge(url), "tipline-daily"))
            stops.append(upkeep.run_every(upkeep.INTERVAL_SECONDS, lambda: upkeep.forget_recent(url),
                                          "tipline-upkeep", first_delay=upkeep.INTERVAL_SECONDS))
        serve_forever(servers)
    except KeyboardInterrupt:
        pass  # stopped before serving began
    finally:
        ignore_stops()
        for stop in stops:
            stop.set()
        # Only once the ports were ours: a second serve that finds them taken must not clean up
        # under the first one.
        if servers is not None:
            try:
                upkeep.forget_at_exit(url)
            except Exception:  # noqa: BLE001 (stopping must not fail on it; the next start runs it)
                logging.getLogger("tipline.serve").exception("forgetting flood counts at exit failed")


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


# ---------------------------------------------------------------------------------------------
# Administration from the shell. Secrets come on standard input, one per line; every action is
# recorded in the audit log like its web counterpart.


def _admin_session(db, admin_name: str, password: str):
    from app.admin import services as admin

    try:
        return admin.admin_from_password(db, admin_name, password)
    except admin.AdminError as error:
        raise click.ClickException(str(error)) from None


def _office(db, code: str):
    from app.offices.services import get_office_by_code

    office = get_office_by_code(db, code)
    if office is None:
        raise click.ClickException(f"no office with code {code!r}")
    return office


def _admin_error(error: Exception) -> click.ClickException:
    return click.ClickException(str(error))


@main.group()
def inspector() -> None:
    """Inspector accounts."""


@inspector.command("add")
@click.argument("name")
@click.option("--office", "office_codes", multiple=True, required=True, help="office code (repeatable)")
@click.option("--admin", "admin_name", required=True, help="an administrator who holds the office keys")
@click.option("--is-admin", is_flag=True, help="make the new account an administrator")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def inspector_add(name: str, office_codes: tuple[str, ...], admin_name: str, is_admin: bool, as_json: bool) -> None:
    """Add inspector NAME with access to --office (stdin: admin password, then the new password)."""
    from app.admin import services as admin

    admin_password, password = read_stdin_lines(2)
    url = _prepare(_data_dir())
    try:
        with session_scope(url) as db:
            actor, held = _admin_session(db, admin_name, admin_password)
            for code in office_codes:
                _office(db, code)
            added = admin.add_inspector(db, actor, held, name, password, list(office_codes),
                                        is_admin=is_admin, via="cli")
            out = {"inspector": added.inspector.username, "totp_secret": added.totp_secret,
                   "office": office_codes[0], "offices": list(office_codes), "admin": is_admin}
    except admin.AdminError as error:
        raise _admin_error(error) from None
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(f"inspector: {out['inspector']}\nTOTP secret (shown once): {out['totp_secret']}\n"
                   f"offices: {', '.join(office_codes)}")


@main.group()
def office() -> None:
    """Receiving offices and their keys."""


@office.command("add")
@click.argument("code")
@click.option("--name", required=True, help="the name reporters see")
@click.option("--admin", "admin_name", required=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def office_add(code: str, name: str, admin_name: str, as_json: bool) -> None:
    """Add office CODE (stdin: admin password). Prints its offline recovery key once."""
    from app.admin import services as admin

    (admin_password,) = read_stdin_lines(1)
    url = _prepare(_data_dir())
    try:
        with session_scope(url) as db:
            actor, _held = _admin_session(db, admin_name, admin_password)
            added = admin.add_office(db, actor, code, name, via="cli")
            out = {"office": added.office.code, "name": added.office.name, "recovery_key": added.recovery_key}
    except admin.AdminError as error:
        raise _admin_error(error) from None
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(f"office: {out['office']} ({out['name']})\n"
                   f"recovery key (store it offline, shown once): {out['recovery_key']}")


@office.command("rotate-key")
@click.argument("code")
@click.option("--admin", "admin_name", required=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def office_rotate_key(code: str, admin_name: str, as_json: bool) -> None:
    """New key pair for new tips of CODE (stdin: admin password); old tips still open."""
    from app.admin import services as admin

    (admin_password,) = read_stdin_lines(1)
    url = _prepare(_data_dir())
    try:
        with session_scope(url) as db:
            actor, _held = _admin_session(db, admin_name, admin_password)
            rotated = admin.rotate_office_key(db, actor, _office(db, code), via="cli")
            out = {"office": code, "key_id": rotated.office_key.id, "granted": rotated.granted}
    except admin.AdminError as error:
        raise _admin_error(error) from None
    click.echo(json.dumps(out) if as_json else
               f"office {code}: new key {out['key_id']}, granted to {out['granted']} inspector(s)")


@office.command("recover")
@click.argument("code")
@click.option("--admin", "admin_name", required=True)
def office_recover(code: str, admin_name: str) -> None:
    """Grant every key of CODE to ADMIN from the recovery key (stdin: admin password, recovery key)."""
    from app.admin import services as admin

    admin_password, recovery_key = read_stdin_lines(2)
    url = _prepare(_data_dir())
    try:
        with session_scope(url) as db:
            actor, _held = _admin_session(db, admin_name, admin_password)
            opened = admin.recover_office(db, actor, _office(db, code), recovery_key, via="cli")
    except admin.AdminError as error:
        raise _admin_error(error) from None
    click.echo(f"office {code}: {len(opened)} key generation(s) granted to {admin_name}")


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Exit 0 and print OK if the chain is intact; otherwise name the first bad row and exit 1."""
    from app.audit import services as audit_log

    url = _prepare(_data_dir())
    with session_scope(url) as db:
        result = audit_log.verify(db)
    if not result.ok:
        click.echo(result.describe(), err=True)
        raise SystemExit(1)
    click.echo(result.describe())


@main.command()
@click.option("--dry-run", is_flag=True, help="only count what is due")
def purge(dry_run: bool) -> None:
    """Crypto-shred closed tips past their office's retention period (also runs daily under serve)."""
    from app import clock
    from app.retention.services import tips_due

    data_dir = _data_dir()
    url = _prepare(data_dir)
    if dry_run:
        with session_scope(url) as db:
            click.echo(f"due for deletion: {len(tips_due(db, clock.today()))}")
        return
    report = run_purge(url)
    click.echo(f"keys destroyed: {report.keys_destroyed}, tips deleted: {report.tips_deleted}")


def run_purge(url: str):
    """One retention run, audit-logged (counts only)."""
    from app import clock
    from app.audit import services as audit
    from app.retention.services import purge as purge_tips
    from app.sessions import purge_expired
    from app.upkeep import forget_recent

    with session_scope(url) as db:
        purge_expired(db)
    with session_scope(url) as db:
        report = purge_tips(db, clock.today())
        if report.keys_destroyed or report.tips_deleted:
            audit.record(db, "retention.purge", target="tips",
                         detail={"keys_destroyed": report.keys_destroyed, "tips_deleted": report.tips_deleted})
    # Whether or not a tip was due: old flood counts and spent tokens, the free-list page, then
    # the WAL, as every minute (app/upkeep.py); the purge may have emptied the WAL already.
    forget_recent(url, scrub=True)
    return report


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(file: Path) -> None:
    """Write a consistent archive of the database (ciphertext only, safe to store) to FILE."""
    from app.backup.services import BackupError, backup_to_file
    from app.db import engine_for

    data_dir = _data_dir()
    try:
        report = backup_to_file(engine_for(_url(data_dir)), file)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backup written: {file} (schema {report.revision}, {sum(report.rows.values())} rows)")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(file: Path) -> None:
    """Restore FILE into an empty data directory (same passwords, receipts and recovery keys work)."""
    from app.backup.services import BackupError
    from app.backup.services import restore as restore_archive
    from app.db import engine_for

    data_dir = _data_dir()
    ensure_secret_key(data_dir)
    url = _url(data_dir)
    try:
        report = restore_archive(engine_for(url), url, file)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored {sum(report.rows.values())} rows from {file} into {data_dir}")
