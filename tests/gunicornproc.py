"""Real gunicorn processes with the production configurations (deploy/gunicorn/*.conf.py), on
127.0.0.1 and free ports, for tests/test_gunicorn.py and tests/test_multihost.py.

Output goes to files (never a pipe that could fill up and stall the server). Every process is started
in its own session and stopped by its own id: SIGTERM, then SIGKILL to its process group.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
CONFIGS = ROOT / "deploy" / "gunicorn"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class GunicornSite:
    site: str
    port: int
    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    stopped: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return (self.stdout_path.read_text(errors="replace") + "\n"
                + self.stderr_path.read_text(errors="replace"))

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn {self.site} exited with {self.process.returncode}:\n"
                                     f"{self.output()[-4000:]}")
            if _listening(self.port):
                return
            time.sleep(0.1)
        raise AssertionError(f"gunicorn {self.site} did not listen within {START_TIMEOUT:.0f} s:\n"
                             f"{self.output()[-4000:]}")

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        try:  # workers left behind by a master that died or hung
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.process.poll() is None:
            self.process.wait(STOP_TIMEOUT)


def start_site(site: str, workdir: Path, env: dict[str, str], *, workers: int = 1, name: str | None = None,
               loglevel: str = "debug", wsgi_app: str | None = None) -> GunicornSite:
    """Start `gunicorn -c deploy/gunicorn/<site>.conf.py app.wsgi:<site>` (does not wait).
    `wsgi_app` replaces the entry point (a module in `workdir`, gunicorn's working directory)."""
    name = name or site
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = {key: value for key, value in os.environ.items()
                if not key.startswith(("TIPLINE_", "GUNICORN_", "FORWARDED_ALLOW_IPS"))}
    full_env.update(env)
    full_env.update({
        f"TIPLINE_{site.upper()}_BIND": f"127.0.0.1:{port}",
        f"TIPLINE_{site.upper()}_WORKERS": str(workers),
        "TIPLINE_GUNICORN_LOGLEVEL": loglevel,
        "HOME": str(workdir),
        "PYTHONUNBUFFERED": "1",
    })
    stdout_path, stderr_path = workdir / f"{name}.stdout", workdir / f"{name}.stderr"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(CONFIGS / f"{site}.conf.py"), wsgi_app or f"app.wsgi:{site}"],
            cwd=workdir, env=full_env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True)
    return GunicornSite(site, port, process, stdout_path, stderr_path)


def wait_all(sites: list[GunicornSite]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    for site in sites:
        site.wait_ready(deadline)
