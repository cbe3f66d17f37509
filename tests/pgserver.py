"""A throw-away PostgreSQL server on 127.0.0.1 for the test suite (Debian's packages, no system
cluster needed): initdb into a temporary directory, start on a free port, stop at the end.

Each test gets its own database, cloned from a template that is migrated once.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER = "tipline"


def find_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("postgres")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="tipline-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.template = None

    def _run(self, *args: str) -> None:
        subprocess.run(_as_server_user([str(self.bindir / args[0]), *args[1:]]), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")

    def start(self) -> "PostgresServer":
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(sql)

    def make_template(self) -> None:
        """Create and migrate the template every test database is cloned from."""
        from app.install.services import migrate

        self.template = "tipline_template"
        self._admin(f"CREATE DATABASE {self.template}")
        migrate(self.url(self.template))
        from app.db import dispose_engine

        dispose_engine(self.url(self.template))

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        for attempt in range(20):
            try:
                self._admin(f"CREATE DATABASE {name} TEMPLATE {self.template}")
                return name
            except Exception:  # noqa: BLE001 (the template is briefly busy right after use)
                if attempt == 19:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def drop_database(self, name: str) -> None:
        import gc

        from app.db import dispose_engine

        # Connections that a test left unreachable (in some reference cycle) are reset by the
        # collector whenever it next runs. Collect them now, while their database still exists:
        # after the forced drop their reset fails and SQLAlchemy logs a traceback from inside the
        # collector, and on CPython 3.11 formatting that traceback (ast.parse, for the carets) in
        # the middle of another ast.parse, such as Werkzeug compiling a route, raises
        # "SystemError: AST constructor recursion depth mismatch" in an unrelated later test.
        gc.collect()
        dispose_engine(self.url(name))
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
