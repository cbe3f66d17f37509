"""`tipline serve` logs nothing that identifies a reporter; the app refuses to start without secrets."""

import logging
import socket
import urllib.parse
import urllib.request

import pytest

from app import create_reporter_app
from app.config import ConfigError


def test_no_address_user_agent_or_request_line_in_serve_logs(live, caplog):
    caplog.set_level(logging.DEBUG)
    request = urllib.request.Request(live.reporter_url + "/tip?marker=1", headers={"User-Agent": "UA-marker-owl"})
    with urllib.request.urlopen(request) as response:  # noqa: S310 (loopback test server)
        assert response.status == 200
    inspector = urllib.request.Request(live.inspector_url + "/", headers={"User-Agent": "UA-marker-owl"})
    try:
        urllib.request.urlopen(inspector)  # noqa: S310
    except urllib.error.HTTPError:
        pass
    text = caplog.text
    assert "127.0.0.1" not in text
    assert "UA-marker-owl" not in text
    assert "/tip" not in text  # the reporter site logs no request at all
    assert "marker=1" not in text


def _send_raw(url: str, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", urllib.parse.urlsplit(url).port), timeout=10) as sock:
        sock.sendall(payload)
        return sock.recv(4096)


# Four words: werkzeug answers 400 and logs "Bad request syntax ('<the whole request line>')".
MALFORMED = b"GET /tip?marker-heron extra HTTP/1.1\r\nUser-Agent: UA-marker-owl\r\n\r\n"


def test_a_malformed_request_to_the_reporter_is_logged_without_its_request_line(live, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    assert b"400" in _send_raw(live.reporter_url, MALFORMED)
    errors = [r.getMessage() for r in caplog.records if r.name == "tipline.serve"]
    assert len(errors) == 1, errors  # still reported, without the request line
    text = caplog.text + "".join(capfd.readouterr())
    assert "marker-heron" not in text and "UA-marker-owl" not in text and "127.0.0.1" not in text


def test_a_malformed_request_to_the_inspector_gets_a_400_and_prints_no_address(live, capfd):
    answer = _send_raw(live.inspector_url, MALFORMED)
    text = "".join(capfd.readouterr())
    assert "127.0.0.1" not in text, text
    assert b"400" in answer


def test_missing_secret_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.delenv("TIPLINE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_reporter_app({"DATA_DIR": str(tmp_path)})


def test_short_secret_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        create_reporter_app({"DATA_DIR": str(tmp_path), "SECRET_KEY": "short"})


def test_a_stop_lets_the_requests_being_answered_finish_first():
    # What `tipline serve` runs at exit (the upkeep's clean-up) must come after a tip in flight
    # has been stored, not while it is.
    import signal
    import threading
    import time

    from flask import Flask

    from app import serving

    slow, started, finished = Flask("slow"), threading.Event(), threading.Event()

    @slow.get("/")
    def answer_slowly():
        started.set()
        time.sleep(1.0)
        finished.set()
        return "stored"

    servers = serving.build_servers(slow, Flask("idle"), "127.0.0.1", 0, 0)
    port = servers[0].server_port
    answers: list[bytes] = []

    def client() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:  # noqa: S310
            answers.append(response.read())

    def stop_once_it_has_begun() -> None:
        started.wait(30)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C, as SIGTERM now is

    threading.Thread(target=client, daemon=True).start()
    threading.Thread(target=stop_once_it_has_begun, daemon=True).start()
    serving.serve_forever(servers)
    assert finished.is_set()
    deadline = time.monotonic() + 10
    while not answers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answers == [b"stored"]


def test_a_stop_while_the_servers_are_starting_stops_them_both(monkeypatch):
    # CI once sent the Ctrl-C of the test above while the main thread was still inside
    # Thread.start(): the KeyboardInterrupt escaped serve_forever and ended the whole test run.
    # Here the stop arrives, every time, while the first server thread is being started.
    import signal
    import threading

    from flask import Flask

    from app import serving

    class StoppedWhileStarting(threading.Thread):
        def start(self) -> None:
            started.append(self)
            super().start()
            if len(started) == 1:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    started: list[threading.Thread] = []
    monkeypatch.setattr(serving.threading, "Thread", StoppedWhileStarting)
    servers = serving.build_servers(Flask("a"), Flask("b"), "127.0.0.1", 0, 0)
    try:
        serving.serve_forever(servers)
    except KeyboardInterrupt:
        pytest.fail("a stop during start-up escaped serve_forever")
    finally:
        for server in servers:
            server.server_close()
    assert len(started) == 2  # both servers had been started, and both were shut down
    for thread in started:
        thread.join(timeout=5)
        assert not thread.is_alive()


_STOP_TAKEN_BY_ANOTHER_THREAD = """
import signal, threading, time
from flask import Flask
from app import serving

idle = threading.Thread(target=time.sleep, args=(60,), daemon=True)  # started before, no mask
idle.start()


class StoppedWhileStarting(threading.Thread):
    def start(self):
        super().start()
        if not hasattr(StoppedWhileStarting, "sent"):
            StoppedWhileStarting.sent = True
            signal.pthread_kill(idle.ident, signal.SIGINT)  # as the kernel may choose for `kill`
            time.sleep(0.5)  # Python interrupts the main thread here, inside the start loop


serving.threading.Thread = StoppedWhileStarting
servers = serving.build_servers(Flask("a"), Flask("b"), "127.0.0.1", 0, 0)
serving.serve_forever(servers)
print("stopped")
"""


def test_a_stop_taken_by_another_thread_during_start_up_does_not_hang():
    # The kernel gives a process-wide SIGINT or SIGTERM to any thread that does not block it, and
    # Python then interrupts the main thread wherever it is: here, before the second server's
    # thread began, which shutdown() would have waited for forever. In a child process, so that
    # a hang is a timeout and not the test run's end.
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", _STOP_TAKEN_BY_ANOTHER_THREAD], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).parent.parent, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "stopped"
