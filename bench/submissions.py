"""Submissions per second through gunicorn (2 workers, 127.0.0.1, 16 concurrent clients), against the
ceiling the receipt KDF alone allows on the same cores, measured in the same run.

    .venv/bin/python -m bench.submissions [--tips 480] [--clients 16]

Each submission is the real POST that stores a tip (form fields, CSRF token, the send action) and is
answered with the redirect to the receipt only after the commit. Flood protection is off
(TIPLINE_FLOOD_PROTECTION=off, the documented switch for loopback load tests).

The same load is then run against the floor (bench/submission_floor.py: the receipt KDF, one
tip-sized INSERT and a durable commit, nothing else), whose share of the ceiling says how much of
the gap to it any tip line could close on these cores (--no-floor skips it).
"""

import argparse
import http.client
import os
import re
import socket
import threading
import time
import urllib.parse
import uuid

from bench.common import (
    ADMIN_PASSWORD,
    cleanup,
    cores,
    free_port,
    gunicorn,
    hidden_field,
    new_data_dir,
    percentile,
    receipt_kdf_ceiling,
    report,
    tipline,
)

FIELDS = {
    "office": "default", "burden_types": "checkin_ranking", "platform": "网格通APP", "imposer_level": "county",
    "imposer_name": "县委宣传部", "frequency": "daily", "hours_per_week": "6", "region": "河南省周口市",
    "description": "每天早上八点前必须在网格通APP打卡，积分每周排名，排名靠后要写检讨。" * 3,
}


class Client:
    """One reporter's session: the form page is fetched once (cookie and CSRF token), then each
    submission is the same real POST, written as prepared bytes on a new connection (the sync
    worker closes it after answering). The load generator shares the cores with the server, so it
    should spend as little of them as it can."""

    def __init__(self, port: int) -> None:
        self.port = port
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("GET", "/tip")
        response = connection.getresponse()
        page = response.read().decode()
        connection.close()
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        token = hidden_field(page, "csrf_token")
        self.head = (f"POST /tip HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
                     f"Content-Type: application/x-www-form-urlencoded\r\nCookie: {cookie}\r\n").encode()
        self.fields = urllib.parse.urlencode({**FIELDS, "csrf_token": token, "action": "send"}).encode()

    def submit(self) -> float:
        body = self.fields + b"&submission_nonce=" + uuid.uuid4().hex.encode()
        request = self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", self.port), timeout=120) as sock:
            sock.sendall(request)
            answer = b""
            # Read the head and the Content-Length bytes of body, then close at once, as a proxy
            # does: gunicorn's sync worker waits for the client's close before its next request.
            while chunk := sock.recv(65536):
                answer += chunk
                head, found, body = answer.partition(b"\r\n\r\n")
                if found:
                    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    if length and len(body) >= int(length.group(1)):
                        break
        elapsed = time.perf_counter() - start
        if not answer.startswith(b"HTTP/1.1 303 "):
            raise RuntimeError(f"submission answered {answer[:40]!r}")
        return elapsed


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (Linux /proc; 0 for one that has gone)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _gunicorn_pids(master: int) -> list[int]:
    """The master and its workers (every process whose parent it is)."""
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def _drive(server, port: int, tips: int, clients: int) -> dict:
    """`tips` submissions from `clients` concurrent reporters: throughput, latencies, and the CPU
    the server (gunicorn's master and workers) and this load generator spent on them."""
    pool = [Client(port) for _ in range(clients)]
    for client in pool[:2]:
        client.submit()  # warm both workers
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [tips]

    def worker(client: Client) -> None:
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            took = client.submit()
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=worker, args=(c,)) for c in pool]
    # CPU over the timed run only: gunicorn's master and workers, and this load generator.
    pids = _gunicorn_pids(server.process.pid)
    server_cpu_before, client_cpu_before = _cpu_seconds(pids), time.process_time()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {"throughput": tips / elapsed, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "server_cpu_ms": (_cpu_seconds(pids) - server_cpu_before) / tips * 1000,
            "client_cpu_ms": (time.process_time() - client_cpu_before) / tips * 1000}


def _serve_and_drive(app: str, data_dir, tips: int, clients: int) -> dict:
    port = free_port()
    server = gunicorn(app, port, data_dir, workers=2, extra_env={"TIPLINE_FLOOD_PROTECTION": "off"})
    try:
        return _drive(server, port, tips, clients)
    finally:
        server.stop()


def run(tips: int, clients: int, floor: bool = True) -> dict:
    """The app's figures, the floor's (bench/submission_floor.py) on the same load if asked, and the
    KDF ceiling measured before and after both."""
    single, ceiling_before = receipt_kdf_ceiling()
    data_dir = new_data_dir()
    try:
        tipline(data_dir, "init", "--admin", "admin", "--json", stdin=ADMIN_PASSWORD + "\n")
        result = _serve_and_drive("app.wsgi:reporter", data_dir, tips, clients)
        if floor:
            result["floor"] = _serve_and_drive("bench.submission_floor:app", data_dir, tips, clients)
    finally:
        cleanup(data_dir)
    _single_after, ceiling_after = receipt_kdf_ceiling()
    return {**result, "tips": tips, "clients": clients, "ceiling": (ceiling_before + ceiling_after) / 2,
            "kdf_ms": single * 1000, "cores": cores()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=480)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--no-floor", dest="floor", action="store_false",
                        help="skip the floor run (bench/submission_floor.py)")
    args = parser.parse_args()
    r = run(args.tips, args.clients, args.floor)
    ratio = r["throughput"] / r["ceiling"]
    report("submissions/s (gunicorn 2 workers, 16 clients)", f"{r['throughput']:.1f}/s = {ratio:.0%} of ceiling",
           f"ceiling {r['ceiling']:.1f}/s (KDF {r['kdf_ms']:.1f} ms, {r['cores']} cores)", ratio >= 0.85)
    report("  server CPU per submission", f"{r['server_cpu_ms']:.1f} ms = {r['server_cpu_ms'] / r['kdf_ms']:.2f} x KDF",
           f"load generator {r['client_cpu_ms']:.1f} ms on the same cores", None)
    report("submission latency p50 / p99", f"{r['p50_ms']:.0f} ms / {r['p99_ms']:.0f} ms", "p99 < 400 ms",
           r["p99_ms"] < 400)
    if "floor" in r:
        f = r["floor"]
        report("  floor: KDF + INSERT + durable commit only",
               f"{f['throughput']:.1f}/s = {f['throughput'] / r['ceiling']:.0%} of ceiling",
               f"the app reaches {r['throughput'] / f['throughput']:.0%} of it", None)
        report("  floor's server CPU per submission", f"{f['server_cpu_ms']:.1f} ms = "
               f"{f['server_cpu_ms'] / r['kdf_ms']:.2f} x KDF", "", None)


if __name__ == "__main__":
    main()
