"""Shared pieces of the benchmarks: servers on loopback, percentiles, and ceilings measured in the
same run on the same cores (the machine is shared and noisy, so figures are ratios and medians)."""

import multiprocessing
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SECRET = "bench-secret-" + "b" * 40
ADMIN_PASSWORD = "bench admin password"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _kdf_worker(count: int, queue) -> None:
    import crypto

    salt = crypto.new_receipt_salt()
    start = time.perf_counter()
    for _ in range(count):
        crypto.derive_receipt_keys(crypto.new_receipt(), salt)
    queue.put(time.perf_counter() - start)


def receipt_kdf_ceiling(per_core: int = 40) -> tuple[float, float]:
    """(single-core seconds per receipt KDF, receipts/s when every core runs only the KDF)."""
    import crypto

    salt = crypto.new_receipt_salt()
    single = median_time(lambda: crypto.derive_receipt_keys(crypto.new_receipt(), salt), 15)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    n = cores()
    start = time.perf_counter()
    workers = [context.Process(target=_kdf_worker, args=(per_core, queue)) for _ in range(n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    return single, n * per_core / elapsed


def new_data_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tipline-bench-"))


def tipline(data_dir: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> str:
    full_env = {**os.environ, "TIPLINE_DATA_DIR": str(data_dir), **(env or {})}
    full_env.pop("TIPLINE_DATABASE_URL", None) if "TIPLINE_DATABASE_URL" not in (env or {}) else None
    result = subprocess.run([str(VENV_BIN / "tipline"), *args], input=stdin, capture_output=True, text=True,
                            env=full_env, check=True)
    return result.stdout


class Server:
    """A gunicorn (or tipline serve) process on loopback, stopped on exit."""

    def __init__(self, args: list[str], env: dict, ready_url: str) -> None:
        self.process = subprocess.Popen(args, env={**os.environ, **env}, cwd=REPO,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(ready_url, timeout=2)  # noqa: S310 (loopback)
                return
            except OSError:
                if self.process.poll() is not None:
                    message = self.process.stderr.read().decode() if self.process.stderr else "died"
                    raise RuntimeError(message) from None
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def gunicorn(app: str, port: int, data_dir: Path, workers: int, extra_env: dict | None = None) -> Server:
    env = {"TIPLINE_DATA_DIR": str(data_dir), "TIPLINE_SECRET_KEY": SECRET, **(extra_env or {})}
    args = [str(VENV_BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            "--worker-class", "sync", "--backlog", "256", "--timeout", "120", "--log-level", "warning", app]
    return Server(args, env, f"http://127.0.0.1:{port}/")


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def hidden_field(page: str, name: str) -> str:
    """The value of a form's hidden field (the CSRF token, the submission nonce) in a served page."""
    found = re.search(rf'name="{re.escape(name)}" type="hidden" value="([^"]*)"', page)
    if found is None:
        raise RuntimeError(f"no hidden field {name!r} in the page")
    return found.group(1)


def report(name: str, figure: str, ceiling: str, verdict: bool | None) -> None:
    mark = "" if verdict is None else ("PASS" if verdict else "FAIL")
    print(f"{name:<44} {figure:<34} {ceiling:<44} {mark}", flush=True)
