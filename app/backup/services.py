"""`tipline backup` / `tipline restore`: a consistent, database-neutral archive of every row.

Everything stored is ciphertext, wrapped keys, public keys or routing facts, so the archive is as
safe to keep as the database itself. It is gzip-compressed JSON lines: a header, then per table a
line naming its columns followed by one line per row (bytes as base64, dates as ISO strings).
Transient tables (sessions, flood counters and spent tokens) are left out.
Read inside one snapshot (SQLite: one read transaction in WAL mode; PostgreSQL: REPEATABLE READ).
"""

import base64
import gzip
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Date,
    LargeBinary,
    Table,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine

from app.install.services import alembic_config
from app.models import Base

FORMAT = "tipline-backup"
VERSION = 1
TRANSIENT_TABLES = {"sessions", "rate_buckets", "spent_tokens"}
_BATCH = 500


class BackupError(Exception):
    pass


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in TRANSIENT_TABLES]


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode(value: Any, column) -> Any:
    if isinstance(value, dict):
        if "b" in value:
            return base64.b64decode(value["b"])
        if "d" in value:
            return date.fromisoformat(value["d"])
    if value is not None and isinstance(column.type, LargeBinary) and isinstance(value, str):
        raise BackupError(f"column {column} expected bytes")
    if value is not None and isinstance(column.type, Date) and isinstance(value, str):
        return date.fromisoformat(value)
    return value


@dataclass(frozen=True)
class BackupReport:
    revision: str
    rows: dict[str, int]


def _revision(connection: Connection) -> str:
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None:
        raise BackupError("the database has no schema")
    return revision


def _snapshot(engine: Engine) -> Connection:
    """A connection that reads every table as of one moment, taken now, whatever commits meanwhile.

    pysqlite sends no BEGIN before a SELECT, so each statement would read its own moment (a tip
    committed between the `tips` and `attachments` tables would leave its files without their
    tip, and the archive unrestorable): the BEGIN is sent here. PostgreSQL takes a REPEATABLE READ
    snapshot at the first statement, so one runs at once."""
    if engine.dialect.name == "postgresql":
        connection = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        connection.begin()
    else:
        connection = engine.connect()
        connection.begin()
        connection.exec_driver_sql("BEGIN")
    connection.execute(text("SELECT count(*) FROM alembic_version"))  # the snapshot starts here
    return connection


def write_backup(engine: Engine, out: IO[bytes]) -> BackupReport:
    rows: dict[str, int] = {}
    with _snapshot(engine) as connection, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as archive:
        revision = _revision(connection)

        def line(obj: Any) -> None:
            archive.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")

        line({"format": FORMAT, "version": VERSION, "revision": revision,
              "tables": [t.name for t in _tables()]})
        for table in _tables():
            columns = [c.name for c in table.columns]
            line({"table": table.name, "columns": columns})
            count = 0
            result = connection.execution_options(yield_per=_BATCH).execute(
                select(table).order_by(*table.primary_key.columns))
            for row in result:
                line([_encode(v) for v in row])
                count += 1
            rows[table.name] = count
        line({"end": True, "rows": rows})
    return BackupReport(revision=revision, rows=rows)


def backup_to_file(engine: Engine, path: Path) -> BackupReport:
    tmp = path.with_name(path.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        report = write_backup(engine, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)  # a partial archive never takes the final name
    return report


def _lines(path: Path) -> Iterator[Any]:
    try:
        with gzip.open(path, "rb") as archive:
            for raw in archive:
                yield json.loads(raw)
    except (OSError, EOFError, ValueError) as error:
        raise BackupError(f"not a readable backup archive: {error}") from None


def _deferred_columns(table: Table) -> set[str]:
    """Foreign keys that may point forward (cycles, self-references): inserted as NULL, set after."""
    deferred = set()
    for fk in table.foreign_keys:
        if fk.use_alter or (fk.constraint is not None and fk.constraint.use_alter) or fk.column.table is table:
            deferred.add(fk.parent.name)
    return deferred


def _database_is_empty(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    if not names:
        return True
    with engine.connect() as connection:
        return all(connection.execute(select(func.count()).select_from(Base.metadata.tables[n])).scalar() == 0
                   for n in names if n in Base.metadata.tables)


def restore(engine: Engine, database_url: str, path: Path) -> BackupReport:
    """Load an archive into an empty database (schema created at the archive's revision, then
    upgraded to the current one)."""
    if not _database_is_empty(engine):
        raise BackupError("the target database is not empty; restore needs an empty data directory")
    lines = _lines(path)
    header = next(lines, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise BackupError("not a Tipline backup archive")
    config = alembic_config(database_url)
    command.upgrade(config, header["revision"])
    tables = Base.metadata.tables
    counts: dict[str, int] = {}
    pending_updates: list[tuple[Table, dict[str, Any], dict[str, Any]]] = []
    ended = False
    with engine.begin() as connection:
        table: Table | None = None
        columns: list[str] = []
        deferred: set[str] = set()
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            if batch and table is not None:
                connection.execute(insert(table), batch)
                batch.clear()

        for item in lines:
            if isinstance(item, dict) and "table" in item:
                flush()
                if item["table"] not in tables:
                    raise BackupError(f"unknown table {item['table']!r}")
                table, columns = tables[item["table"]], item["columns"]
                # Rows a migration seeds (the revision counter) are replaced by the archived ones.
                connection.execute(table.delete())
                deferred = _deferred_columns(table)
                counts[table.name] = 0
            elif isinstance(item, dict) and item.get("end"):
                ended = True
                if item.get("rows") != counts:
                    raise BackupError("the archive is incomplete (row counts differ)")
            elif isinstance(item, list) and table is not None:
                row = {name: _decode(value, table.c[name]) for name, value in zip(columns, item, strict=True)}
                later = {name: row[name] for name in deferred if row.get(name) is not None}
                if later:
                    pending_updates.append((table, {c.name: row[c.name] for c in table.primary_key.columns}, later))
                    row.update({name: None for name in later})
                batch.append(row)
                counts[table.name] += 1
                if len(batch) >= _BATCH:
                    flush()
            else:
                raise BackupError("malformed archive line")
        flush()
        if not ended:
            raise BackupError("the archive is truncated")
        for table_, key, values in pending_updates:
            condition = [table_.c[name] == value for name, value in key.items()]
            connection.execute(update(table_).where(*condition).values(**values))
        if engine.dialect.name == "postgresql":
            _reset_sequences(connection)
    command.upgrade(config, "head")
    return BackupReport(revision=header["revision"], rows=counts)


def _reset_sequences(connection: Connection) -> None:
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True or (column.autoincrement == "auto" and column.type.python_type is int):
                sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                              {"t": table.name, "c": column.name}).scalar()
                if sequence:
                    connection.execute(text(f"SELECT setval('{sequence}', COALESCE((SELECT MAX({column.name}) FROM {table.name}), 0) + 1, false)"))  # noqa: S608 (names from our own metadata)
