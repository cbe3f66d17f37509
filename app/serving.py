"""`tipline serve`: both sites from one command, on two ports, without logging who asked.

The reporter site logs no request at all (a line with a time of day next to a tip's arrival is a
timestamp); the inspector site logs method, path and status, never an address or User-Agent.
"""

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app.logscrub import for_site
from app.security import HEADERS

log = logging.getLogger("tipline.serve")


# Requests being answered, both sites: a stop lets them finish (for a while) before what runs at
# exit. Request threads stay daemons, so that a client that never finishes cannot hold the exit,
# and an idle kept-alive connection is not a request.
_requests = threading.Condition()
_in_flight = 0


class _AnonymousHandler(WSGIRequestHandler):
    site = "reporter"
    # Werkzeug would say "Werkzeug/3.1.9 Python/3.11.7" in every Server header: no versions.
    server_version = "tipline"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version

    def run_wsgi(self) -> None:
        global _in_flight
        with _requests:
            _in_flight += 1
        try:
            super().run_wsgi()
        finally:
            with _requests:
                _in_flight -= 1
                _requests.notify_all()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own answer to a request it could not parse (no app ran): the site's security
        headers all the same, a status line even for an HTTP/0.9-looking request, and a fixed body
        that does not echo the request line back."""
        short = self.responses[code][0] if code in self.responses else "Error"
        self.log_error("code %d, message %s", code, message or short)
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # headers need a status line
        self.send_response(code, short)
        self.send_header("Connection", "close")
        body = b""
        if code >= 200 and code not in (204, 205, 304):
            body = f"{code} {short}\n".encode("ascii")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def address_string(self) -> str:  # never let the client address reach any log line
        return "-"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.site == "reporter":
            return
        # A request line that did not parse leaves path and command unset.
        path = (getattr(self, "path", "") or "").split("?", 1)[0]
        log.info("inspector %s %s %s", getattr(self, "command", "-"), path, code)

    def log(self, type: str, message: str, *args) -> None:  # noqa: A002 (werkzeug's signature)
        if type == "error":  # e.g. "Bad request syntax ('<the request line>')": scrubbed like gunicorn's
            log.error("%s: %s", self.site, for_site(self.site)(message % args))


class _ReporterHandler(_AnonymousHandler):
    site = "reporter"


class _InspectorHandler(_AnonymousHandler):
    site = "inspector"


def _quiet_errors(server: BaseWSGIServer, site: str) -> BaseWSGIServer:
    """socketserver's handle_error prints "...from request from ('<address>', <port>)" and a
    traceback to stderr; log the exception without the address instead."""

    def handle_error(_request, _client_address) -> None:
        log.error("%s: error while handling a request", site, exc_info=True)

    server.handle_error = handle_error  # type: ignore[method-assign,assignment]
    return server


def build_servers(reporter: Flask, inspector: Flask, host: str, reporter_port: int,
                  inspector_port: int) -> tuple[BaseWSGIServer, BaseWSGIServer]:
    return (
        _quiet_errors(make_server(host, reporter_port, reporter, threaded=True,
                                  request_handler=_ReporterHandler), "reporter"),
        _quiet_errors(make_server(host, inspector_port, inspector, threaded=True,
                                  request_handler=_InspectorHandler), "inspector"),
    )


STOP_SECONDS = 30  # how long a stop waits for the requests being answered


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """`kill` or systemd stops `tipline serve` as Ctrl-C does, so that what runs at exit runs."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def ignore_stops() -> None:
    """While what runs at exit runs: a second SIGTERM or Ctrl-C must not cut it short."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)


_STOPS = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def stops_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while threads start; they arrive when the block ends.

    A thread inherits the mask, so the threads started here never take a stop, and the main
    thread does (Python runs handlers in the main thread, but the kernel gives a process-wide
    signal to any thread that does not block it, and Python then interrupts the main thread
    wherever it is). `tipline serve` starts every thread of its own inside such a block."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def serve_forever(servers: tuple[BaseWSGIServer, ...]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    try:
        with stops_held():
            for thread in threads:
                thread.start()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        # A stop can still interrupt start() if a thread started elsewhere took it: shutdown()
        # would wait forever for a server whose thread never began; its socket is closed instead.
        for server, thread in zip(servers, threads, strict=True):
            if thread.ident is not None:
                server.shutdown()
            else:
                server.server_close()
        with _requests:
            _requests.wait_for(lambda: _in_flight == 0, timeout=STOP_SECONDS)
