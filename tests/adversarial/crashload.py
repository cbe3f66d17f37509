"""Load and crashes for tests/adversarial/test_crash_consistency.py.

`Submitter` threads send tips through the reporter site exactly as a browser with JavaScript off
would (GET /tip → POST preview with the files → POST send → the receipt page), over plain HTTP with
http.client and a one-cookie jar. Every attempt is written down *before* it is sent — its marker,
the exact content, the exact files — and its receipt only once the receipt page has actually arrived.

`CrashableSite` is the reporter site under real gunicorn with the production configuration
(deploy/gunicorn/reporter.conf.py) on one fixed 127.0.0.1 port, so that it can be killed with SIGKILL
(master and workers: the whole process group) and started again on the same port and data.
"""

import http.client
import io
import os
import random
import re
import secrets
import signal
import socket
import string
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from PIL import Image

from tests.conftest import _RECEIPT, csrf_token, hidden_value
from tests.gunicornproc import CONFIGS, GUNICORN, GunicornSite

COOKIE = "tl_r"  # the reporter site's session cookie (app/__init__.py)
HTTP_TIMEOUT = 30.0  # a request that takes this long is a hang, not load
RECEIPT_RETRY_SECONDS = 60.0  # how long a client keeps reloading the receipt page while the site is down
RETRY_PAUSE = 0.1

BURDEN_CODES = ["app_install", "checkin_ranking", "study_hours", "photo_trace", "work_groups",
                "duplicate_reporting", "account_metrics", "inspection_ledger", "meetings_documents", "other"]
LEVELS = ["", "central", "province", "city", "county", "township", "department", "unknown"]
FREQUENCIES = ["", "daily", "weekly", "monthly", "ad_hoc"]
PLATFORMS = ["网格通APP", "政务钉钉", "学习强国", "某某发布公众号", "工作群（第23个）", "浙政钉", ""]
REGIONS = ["河南省周口市", "湖南省邵阳市隆回县", "四川省", "", "广西壮族自治区百色市"]
IMPOSERS = ["县委宣传部", "乡党委办公室", "", "市网信办"]
PHRASES = ["每天早上八点前必须打卡", "积分每周排名，排名靠后要写检讨", "同一份数据要报给四个平台",
           "晚上十点群里派活，第二天上午要交", "每条推送都要点赞转发并截图", "拍照留痕，一天十张",
           "a & b < c > d \"quoted\" 'single'", "emoji 📱✅", "全角ＡＢＣ１２３"]


# --- what a client sent ------------------------------------------------------------------------


@dataclass(frozen=True)
class SentFile:
    name: str  # as uploaded; chosen so that the app keeps it unchanged (no time, no unsafe character)
    data: bytes  # as uploaded, and exactly what the cleaned file must be (see make_png, make_text)
    kind: str  # "png" or "txt"


@dataclass
class Attempt:
    """One tip a client tried to send. `content` has TipContent's fields, as the app must store them."""

    marker: str
    content: dict
    files: list[SentFile]
    client: int
    outcome: str = "started"  # started → … → receipt | lost | refused
    receipt: str | None = None
    receipt_generation: int | None = None
    recovered: bool = False  # the send's answer was lost; the receipt came from reloading the receipt page


@dataclass
class Anomaly:
    """An answer that no crash explains (a 4xx/5xx, a page without what it must show, a hang)."""

    client: int
    stage: str
    detail: str


class Transient(Exception):
    """The connection failed: the site is being killed or is down. The client starts over."""


class Unexpected(Exception):
    def __init__(self, stage: str, detail: str) -> None:
        super().__init__(f"{stage}: {detail}")
        self.stage, self.detail = stage, detail


@dataclass
class LoadState:
    """Shared between the submitters and the test (appends are under `lock`)."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0  # which gunicorn start is (or was last) serving
    attempts: list[Attempt] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    connection_errors: int = 0

    def receipts(self) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if a.receipt is not None]

    def receipts_in(self, generation: int) -> int:
        with self.lock:
            return sum(1 for a in self.attempts if a.receipt is not None and a.receipt_generation == generation)


# --- files whose cleaned form is known exactly -------------------------------------------------


def make_png(rng: random.Random) -> bytes:
    """A small PNG of random pixels with no metadata, encoded the way the app re-encodes PNGs
    (Pillow, compress_level 6, no info): its cleaned form is byte for byte itself."""
    width, height = rng.randint(3, 24), rng.randint(3, 24)
    mode = rng.choice(["RGB", "RGBA", "L"])
    image = Image.frombytes(mode, (width, height), rng.randbytes(width * height * len(mode)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    data = buffer.getvalue()
    # What app/evidence/cleaning.py does to it: decode, drop info, save PNG at level 6.
    again = Image.open(io.BytesIO(data))
    again.load()
    again.info = {}
    check = io.BytesIO()
    again.save(check, format="PNG", compress_level=6)
    assert check.getvalue() == data, "this Pillow does not re-encode a plain PNG identically"
    return data


def make_text(rng: random.Random) -> bytes:
    """UTF-8 without BOM, no NUL, not HTML-looking: the cleaner re-encodes it to the same bytes.
    Sizes cross the 64 KiB chunk boundary now and then, so that files have several chunks."""
    size = rng.choice([rng.randint(1, 300), rng.randint(1, 300), rng.randint(60_000, 140_000)])
    words = [rng.choice(PHRASES), "".join(rng.choices(string.ascii_letters + " \n", k=40)), "打卡记录"]
    text = ""
    while len(text.encode()) < size:
        text += rng.choice(words) + rng.choice(["\n", "，", " "])
    return ("记录 " + text).encode("utf-8")


def _stem(rng: random.Random) -> str:
    # Letters only: digits could look like a date or a long number, which the app takes out of names.
    return "".join(rng.choices(string.ascii_lowercase, k=10))


def make_files(rng: random.Random) -> list[SentFile]:
    count = rng.choice([0, 0, 1, 2, 3])
    files = []
    for _ in range(count):
        if rng.random() < 0.5:
            files.append(SentFile(f"截图_{_stem(rng)}.png", make_png(rng), "png"))
        else:
            files.append(SentFile(f"记录_{_stem(rng)}.txt", make_text(rng), "txt"))
    return files


def make_content(rng: random.Random, marker: str) -> tuple[dict, list[tuple[str, str]]]:
    """The form's fields (as posted) and the TipContent the app must store for them."""
    burden = rng.sample(BURDEN_CODES, rng.randint(1, 3))
    hours_choice = rng.choice(["", "0", "7.5", "12", "40.5", "168"])
    description = (f"标记 {marker}\r\n" + "\r\n".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 4)))
                   + "\r\n  末尾有空格  ")
    content = {
        "burden_types": burden,
        "platform": rng.choice(PLATFORMS),
        "imposer_level": rng.choice(LEVELS),
        "imposer_name": rng.choice(IMPOSERS),
        "frequency": rng.choice(FREQUENCIES),
        "hours_per_week": float(hours_choice) if hours_choice else None,
        "region": rng.choice(REGIONS),
        "description": description,
    }
    fields = [("office", "default")] + [("burden_types", code) for code in burden] + [
        ("platform", content["platform"]), ("imposer_level", content["imposer_level"]),
        ("imposer_name", content["imposer_name"]), ("frequency", content["frequency"]),
        ("hours_per_week", hours_choice), ("region", content["region"]), ("description", description),
        ("website", "")]
    return content, fields


# --- HTTP ---------------------------------------------------------------------------------------


def multipart(fields: list[tuple[str, str]], files: list[SentFile]) -> tuple[bytes, str]:
    boundary = "----crashload" + secrets.token_hex(12)
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + value.encode("utf-8") + b"\r\n")
    for f in files:
        content_type = "image/png" if f.kind == "png" else "text/plain"
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; '
                     f'filename="{f.name}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
                     + f.data + b"\r\n")
    if not files:  # a browser sends the empty file input too
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename=""\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n\r\n'.encode())
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Answer:
    status: int
    location: str
    text: str


class Browser:
    """One reporter's browser: a cookie jar of one cookie, no automatic redirects."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie: str | None = None

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Answer:
        headers = {"Connection": "close", "Accept-Language": "zh-CN"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.cookie:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            for header in response.msg.get_all("Set-Cookie") or []:
                jar = SimpleCookie()
                jar.load(header)
                if COOKIE in jar:
                    morsel = jar[COOKIE]
                    expired = morsel["max-age"] == "0" or "1970" in morsel["expires"]
                    self.cookie = None if expired or not morsel.value else morsel.value
            return Answer(response.status, response.getheader("Location") or "", data.decode("utf-8", "replace"))
        except TimeoutError as error:
            raise Unexpected(f"{method} {path}", f"no answer within {HTTP_TIMEOUT:.0f} s") from error
        except (OSError, http.client.HTTPException) as error:
            raise Transient(str(error)) from error
        finally:
            connection.close()


def _expect(answer: Answer, status: int, stage: str) -> None:
    if answer.status != status:
        snippet = re.sub(r"\s+", " ", answer.text)[:600]
        raise Unexpected(stage, f"HTTP {answer.status} (wanted {status}) {answer.location} {snippet}")


class Submitter(threading.Thread):
    def __init__(self, state: LoadState, index: int, seed: int) -> None:
        super().__init__(name=f"submitter-{index}", daemon=True)
        self.state, self.index = state, index
        self.rng = random.Random(seed)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.state.stop.is_set():
                try:
                    self.attempt()
                except Transient:
                    with self.state.lock:
                        self.state.connection_errors += 1
                    time.sleep(RETRY_PAUSE)
                except Unexpected as error:
                    with self.state.lock:
                        self.state.anomalies.append(Anomaly(self.index, error.stage, error.detail))
                    time.sleep(RETRY_PAUSE)
        except BaseException as error:  # noqa: BLE001 (reported by the test, never swallowed)
            self.error = error

    def attempt(self) -> None:
        browser = Browser(self.state.port)
        page = browser.request("GET", "/tip")
        _expect(page, 200, "GET /tip")
        marker = secrets.token_hex(12)
        content, fields = make_content(self.rng, marker)
        files = make_files(self.rng)
        fields += [("csrf_token", csrf_token(page.text)),
                   ("submission_nonce", hidden_value(page.text, "submission_nonce"))]
        attempt = Attempt(marker=marker, content=content, files=files, client=self.index)
        with self.state.lock:
            self.state.attempts.append(attempt)  # written down before anything is sent
        body, content_type = multipart(fields + [("action", "preview")], files)
        preview = browser.request("POST", "/tip", body, content_type)
        _expect(preview, 200, "POST preview")
        for f in files:
            if f.name not in preview.text:
                raise Unexpected("POST preview", f"held file {f.name} not listed on the preview")
        attempt.outcome = "previewed"
        body, content_type = multipart(fields + [("action", "send")], [])
        try:
            sent = browser.request("POST", "/tip", body, content_type)
        except Transient:
            # The answer was lost. The reporter reloads the receipt page (same cookie): a receipt
            # shown now must open a stored tip like any other.
            attempt.outcome = "send-interrupted"
            self.receipt_page(browser, attempt, recovered=True)
            return
        if sent.status != 303 or not sent.location.endswith("/tip/receipt"):
            attempt.outcome = "refused"
            _expect(sent, 303, "POST send")
            raise Unexpected("POST send", f"redirected to {sent.location!r}")
        attempt.outcome = "sent"
        self.receipt_page(browser, attempt, recovered=False)

    def receipt_page(self, browser: Browser, attempt: Attempt, *, recovered: bool) -> None:
        deadline = time.monotonic() + RECEIPT_RETRY_SECONDS
        while True:
            with self.state.lock:
                generation = self.state.generation
            try:
                page = browser.request("GET", "/tip/receipt")
                break
            except Transient:
                with self.state.lock:
                    self.state.connection_errors += 1
                if time.monotonic() > deadline or self.state.stop.is_set():  # stopping: the site may be gone
                    attempt.outcome = "lost"
                    return
                time.sleep(RETRY_PAUSE)
        if recovered and page.status in (302, 303) and "/followup" in page.location:
            attempt.outcome = "lost"  # nothing pending in the session: the tip may or may not exist
            return
        _expect(page, 200, "GET /tip/receipt")
        match = _RECEIPT.search(page.text)
        if not match:
            raise Unexpected("GET /tip/receipt", "no element with id=receipt")
        receipt = match.group(1).replace(" ", "")
        if not re.fullmatch(r"\d{20}", receipt):
            raise Unexpected("GET /tip/receipt", f"malformed receipt {match.group(1)!r}")
        with self.state.lock:
            attempt.receipt = receipt
            attempt.receipt_generation = generation
            attempt.recovered = recovered
            attempt.outcome = "receipt"
        # Confirm it was written down (clears the session). Best effort: a kill here changes nothing.
        try:
            done = browser.request("POST", "/tip/receipt", urlencode(
                {"csrf_token": csrf_token(page.text), "last_group": receipt[-4:]}).encode(),
                "application/x-www-form-urlencoded")
        except Transient:
            return
        _expect(done, 303, "POST /tip/receipt")


# --- the site, killable --------------------------------------------------------------------------


def _group_alive(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies left for their reaper don't count)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields_after_name = stat.rsplit(")", 1)[1].split()
        state, group = fields_after_name[0], int(fields_after_name[2])
        if group == pgid and state not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


class CrashableSite:
    """The reporter site under gunicorn (production config, `workers` sync workers) on one fixed port."""

    def __init__(self, workdir: Path, env: dict[str, str], *, workers: int = 2) -> None:
        self.workdir = workdir
        self.env = env
        self.workers = workers
        self.port = _free_port()
        self.generation = 0
        self.current: GunicornSite | None = None
        self.groups: list[int] = []  # every process group started
        self.unconfirmed: set[int] = set()  # groups not yet seen entirely gone
        self.outputs: list[Path] = []

    def start(self) -> GunicornSite:
        assert self.current is None or self.current.stopped
        self.generation += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPLINE_", "GUNICORN_", "FORWARDED_ALLOW_IPS"))}
        env.update(self.env)
        env.update({"TIPLINE_REPORTER_BIND": f"127.0.0.1:{self.port}",
                    "TIPLINE_REPORTER_WORKERS": str(self.workers),
                    "TIPLINE_GUNICORN_LOGLEVEL": "info", "HOME": str(self.workdir), "PYTHONUNBUFFERED": "1"})
        stdout_path = self.workdir / f"reporter-{self.generation}.stdout"
        stderr_path = self.workdir / f"reporter-{self.generation}.stderr"
        self.outputs += [stdout_path, stderr_path]
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            process = subprocess.Popen(
                [str(GUNICORN), "-c", str(CONFIGS / "reporter.conf.py"), "app.wsgi:reporter"],
                cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True)
        self.groups.append(process.pid)
        self.unconfirmed.add(process.pid)
        self.current = GunicornSite("reporter", self.port, process, stdout_path, stderr_path)
        self.current.wait_ready(time.monotonic() + 60)
        return self.current

    def workers_booted(self) -> int:
        return self.current.output().count("Booting worker") if self.current else 0

    def kill(self) -> None:
        """SIGKILL to the whole process group at once: master and workers die mid-whatever."""
        site = self.current
        assert site is not None and not site.stopped
        pgid = site.process.pid
        os.killpg(pgid, signal.SIGKILL)
        site.process.wait(15)
        site.stopped = True
        deadline = time.monotonic() + 10
        while _group_alive(pgid):
            if time.monotonic() > deadline:
                raise AssertionError(f"processes of the killed gunicorn still run: {_group_alive(pgid)}")
            time.sleep(0.05)
        self.unconfirmed.discard(pgid)

    def stop(self) -> None:
        """Graceful stop (SIGTERM, then whatever is left is killed) of the current gunicorn."""
        if self.current is not None:
            self.current.stop()

    def sweep(self) -> list[int]:
        """Stop the current gunicorn, then SIGKILL whatever is left in a group this site started and
        has not yet seen gone (groups seen gone are never signalled again: their id may be reused).
        Returns the processes that were still running after the graceful stop."""
        if self.current is not None:
            self.current.stop()
        left = []
        for pgid in sorted(self.unconfirmed):
            deadline = time.monotonic() + 5
            while (alive := _group_alive(pgid)) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive:
                left += alive
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            else:
                self.unconfirmed.discard(pgid)
        return left

    def output(self) -> str:
        return "\n".join(f"== {p.name}\n" + p.read_text(errors="replace") for p in self.outputs if p.exists())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
