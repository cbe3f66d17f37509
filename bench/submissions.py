"""Submissions per second through gunicorn (2 workers, 127.0.0.1, 16 concurrent clients), against the
ceiling the receipt KDF alone allows on the same cores, measured in the same run.

    .venv/bin/python -m bench.submissions [--tips 480] [--clients 16]

Each submission is the real POST that stores a tip (form fields, CSRF token, the send action) and is
answered with the redirect to the receipt only after the commit. Flood protection is off
(TIPLINE_FLOOD_PROTECTION=off, the documented switch for loopback load tests).
"""

import argparse
import http.client
import re
import resource
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
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""
        self.connection.request("GET", "/tip")
        response = self.connection.getresponse()
        page = response.read().decode()
        self.cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        self.token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def submit(self) -> float:
        body = urllib.parse.urlencode({**FIELDS, "csrf_token": self.token, "action": "send",
                                       "submission_nonce": uuid.uuid4().hex}).encode()
        start = time.perf_counter()
        self.connection.request("POST", "/tip", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie})
        response = self.connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        if response.status != 303:
            raise RuntimeError(f"submission answered {response.status}")
        return elapsed


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run(tips: int, clients: int) -> dict:
    single, ceiling_before = receipt_kdf_ceiling()
    data_dir = new_data_dir()
    try:
        tipline(data_dir, "init", "--admin", "admin", "--json", stdin=ADMIN_PASSWORD + "\n")
        # gunicorn's CPU (master and workers) reaches RUSAGE_CHILDREN once it has exited and been
        # waited for; this process's own CPU is the load generator's.
        server_cpu_before, client_cpu_before = _cpu(resource.RUSAGE_CHILDREN), _cpu(resource.RUSAGE_SELF)
        port = free_port()
        server = gunicorn("app.wsgi:reporter", port, data_dir, workers=2,
                          extra_env={"TIPLINE_FLOOD_PROTECTION": "off"})
        try:
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
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - start
        finally:
            server.stop()
        server_cpu = _cpu(resource.RUSAGE_CHILDREN) - server_cpu_before
        client_cpu = _cpu(resource.RUSAGE_SELF) - client_cpu_before
    finally:
        cleanup(data_dir)
    _single_after, ceiling_after = receipt_kdf_ceiling()
    ceiling = (ceiling_before + ceiling_after) / 2
    return {"tips": tips, "clients": clients, "throughput": tips / elapsed, "ceiling": ceiling,
            "kdf_ms": single * 1000, "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "cores": cores(),
            # per submission, warm-up and start-up included (a slight over-estimate)
            "server_cpu_ms": server_cpu / (tips + 2) * 1000, "client_cpu_ms": client_cpu / (tips + 2) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=480)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    r = run(args.tips, args.clients)
    ratio = r["throughput"] / r["ceiling"]
    report("submissions/s (gunicorn 2 workers, 16 clients)", f"{r['throughput']:.1f}/s = {ratio:.0%} of ceiling",
           f"ceiling {r['ceiling']:.1f}/s (KDF {r['kdf_ms']:.1f} ms, {r['cores']} cores)", ratio >= 0.85)
    report("  server CPU per submission", f"{r['server_cpu_ms']:.1f} ms = {r['server_cpu_ms'] / r['kdf_ms']:.2f} x KDF",
           f"load generator {r['client_cpu_ms']:.1f} ms on the same cores", None)
    report("submission latency p50 / p99", f"{r['p50_ms']:.0f} ms / {r['p99_ms']:.0f} ms", "p99 < 400 ms",
           r["p99_ms"] < 400)


if __name__ == "__main__":
    main()
