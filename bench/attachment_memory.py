"""Peak memory of the reporter server while it takes a 20 MiB attachment (DESIGN.md: "a 20 MiB upload
never sits whole in memory").

Starts `tipline serve` on 127.0.0.1 in a subprocess with a fresh data directory, uploads each file
through the real form (multipart, streamed from disk: preview, which spools, cleans and holds the
file, then send, which re-encrypts it under the tip's key), and prints the server's peak RSS increase
per step next to the 100 MiB ceiling and as a ratio to the file size.

    .venv/bin/python bench/attachment_memory.py [--size-mib 20]

Peak RSS is VmHWM after resetting it through /proc/<pid>/clear_refs (falls back to sampling VmRSS).
"""

import argparse
import hashlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

CEILING_MIB = 100
MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


class PeakMeter:
    """Peak RSS of a process during a block: VmHWM after a reset, or the highest sampled VmRSS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> "PeakMeter":
        self.before = status(self.pid)["VmRSS"]
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self.hwm = True
        except OSError:
            self.hwm = False
        self.sampled = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.sampled = max(self.sampled, status(self.pid)["VmRSS"])
            time.sleep(0.005)

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()
        after = status(self.pid)
        peak = max(self.sampled, after["VmHWM"] if self.hwm else 0)
        self.increase = max(peak - self.before, 0)


class Reporter:
    """A cookie-keeping client for the reporter form (JavaScript off, like the tests)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("tl_r="):
                self.cookie = value.split(";", 1)[0]
        text = response.read().decode("utf-8", "replace")
        conn.close()
        return response.status, text

    def form(self) -> dict[str, str]:
        status_code, page = self.request("GET", "/tip")
        assert status_code == 200, status_code
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        nonce = re.search(r'name="submission_nonce" type="hidden" value="([^"]*)"', page).group(1)
        return {"csrf_token": token, "submission_nonce": nonce, "office": "default",
                "burden_types": "checkin_ranking", "description": "内存测试：上传一个大附件。"}

    def post_multipart(self, fields: dict[str, str], files: list[tuple[str, Path, str]]) -> tuple[int, str]:
        boundary = uuid.uuid4().hex
        head_parts, sizes = [], 0
        for name, value in fields.items():
            part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
            head_parts.append(part)
        file_heads = []
        for name, path, content_type in files:
            file_heads.append((f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; "
                               f"filename=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n").encode())
            sizes += path.stat().st_size + 2
        tail = f"--{boundary}--\r\n".encode()
        length = sum(map(len, head_parts)) + sum(map(len, file_heads)) + sizes + len(tail)

        def body():
            yield from head_parts
            for head, (_name, path, _ct) in zip(file_heads, files, strict=True):
                yield head
                with path.open("rb") as handle:
                    while piece := handle.read(256 * 1024):
                        yield piece
                yield b"\r\n"
            yield tail

        return self.request("POST", "/tip", body=body(), headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)})


def make_text(path: Path, size: int) -> None:
    line = "每天早上八点前必须在网格通APP打卡，积分每周排名，排名靠后要写检讨。\n".encode()
    with path.open("wb") as handle:
        written = 0
        while written + len(line) <= size:
            handle.write(line)
            written += len(line)
        handle.write(b"." * (size - written))  # whole characters only: the file must stay valid UTF-8


def make_pdf(path: Path, size: int) -> None:
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    # One big incompressible stream (like a scanned page), stored as it is.
    filler = hashlib.shake_256(b"tipline bench pdf").digest(size - 4096)
    pdf.Root.Filler = pdf.make_indirect(pikepdf.Stream(pdf, filler))
    pdf.docinfo["/Author"] = "bench"
    pdf.save(path, compress_streams=False)


def make_photo(path: Path, size: int) -> None:
    """A noisy 12-megapixel phone photo (4032×3024), or a small one for the warm-up. Images are
    decoded to pixels to be re-encoded, so their cost follows the pixel count, not the file size."""
    from PIL import Image

    width, height = (4032, 3024) if size > MiB else (640, 480)
    bands = [Image.effect_noise((width, height), 60 + 20 * i) for i in range(3)]
    Image.merge("RGB", bands).save(path, "JPEG", quality=92)


def run(size_mib: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tipline-bench-"))
    data_dir = workdir / "data"
    reporter_port, inspector_port = free_port(), free_port()
    env = {**os.environ, "TIPLINE_DATA_DIR": str(data_dir), "TIPLINE_FLOOD_PROTECTION": "off",
           "PYTHONUNBUFFERED": "1"}
    tipline = REPO / ".venv" / "bin" / "tipline"
    command = [str(tipline)] if tipline.exists() else [sys.executable, "-c", "from app.cli import main; main()"]
    server = subprocess.Popen([*command, "serve", "--host", "127.0.0.1", "--reporter-port", str(reporter_port),
                               "--inspector-port", str(inspector_port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = Reporter(reporter_port)
        for _ in range(300):
            try:
                client.request("GET", "/")
                break
            except OSError:
                time.sleep(0.1)
        size = size_mib * MiB
        files = {"text": (workdir / "big.txt", "big.txt", "text/plain", make_text),
                 "pdf": (workdir / "big.pdf", "big.pdf", "application/pdf", make_pdf),
                 "photo": (workdir / "photo.jpg", "photo.jpg", "image/jpeg", make_photo)}
        for path, _name, _ct, maker in files.values():
            maker(path, size)
        # Warm up: imports (Pillow, pikepdf) and first-request caches are not per-upload costs.
        for key, (_path, name, ct, maker) in files.items():
            small = workdir / f"small-{name}"
            maker(small, 256 * 1024)
            fields = client.form()
            status_code, page = client.post_multipart({**fields, "action": "preview"}, [(name, small, ct)])
            if status_code != 200:
                Path("/tmp/bench-page.html").write_text(page)
            assert status_code == 200, (key, status_code)
            client.request("POST", "/tip", body=None)
        print(f"tipline serve pid {server.pid}; RSS before uploads "
              f"{status(server.pid)['VmRSS'] / MiB:.1f} MiB; ceiling {CEILING_MIB} MiB per upload")
        worst = 0.0
        for key, (path, name, ct, _maker) in files.items():
            client.cookie = ""
            fields = client.form()
            file_size = path.stat().st_size
            with PeakMeter(server.pid) as preview:
                status_code, page = client.post_multipart({**fields, "action": "preview"}, [(name, path, ct)])
            assert status_code == 200, (key, status_code, re.sub(r"\s+", " ", page)[:800])
            send_fields = {**fields, "action": "send"}
            with PeakMeter(server.pid) as send:
                status_code, _page = client.post_multipart(send_fields, [])
            assert status_code == 303, (key, status_code)
            for step, meter in (("preview (spool + clean + hold)", preview),
                                ("send (receipt KDF + re-encrypt + store)", send)):
                increase = meter.increase / MiB
                worst = max(worst, increase)
                print(f"{key:5} {file_size / MiB:5.1f} MiB  {step:40} peak RSS +{increase:6.1f} MiB  "
                      f"(ceiling {CEILING_MIB} MiB)  ratio to file {meter.increase / file_size:.2f}")
        # The send step includes the receipt's Argon2id (19 MiB by design), whatever the attachments.
        print("(photo: 12 MP decoded is 36 MiB of pixels; the pixel limit ATTACHMENT_MAX_PIXELS bounds it)")
        verdict = "OK" if worst <= CEILING_MIB else "OVER THE CEILING"
        print(f"worst peak RSS increase {worst:.1f} MiB vs ceiling {CEILING_MIB} MiB: {verdict}")
        return 0 if worst <= CEILING_MIB else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=20)
    return run(parser.parse_args().size_mib)


if __name__ == "__main__":
    raise SystemExit(main())
