"""Production gunicorn settings shared by deploy/gunicorn/reporter.conf.py and inspector.conf.py.

Each file is `globals().update(site_settings("reporter"))` (or "inspector"); gunicorn reads the
module's names as its settings. Environment (one EnvironmentFile per systemd unit):

| variable | default |
| --- | --- |
| `TIPLINE_REPORTER_BIND` / `TIPLINE_INSPECTOR_BIND` | `127.0.0.1:8080` / `127.0.0.1:8081` (comma-separated for several) |
| `TIPLINE_REPORTER_WORKERS` / `TIPLINE_INSPECTOR_WORKERS` | 2 × the CPUs this process may run on |
| `TIPLINE_GUNICORN_TIMEOUT` | 120 seconds |
| `TIPLINE_GUNICORN_LOGLEVEL` | `info` |

What is fixed on purpose: no proxy header is trusted (`forwarded_allow_ips` empty, no secure-scheme
or forwarder headers, no PROXY protocol), so a client can never make a header count as its
address; the reporter site has no access log; the inspector's access log is method, path, status,
bytes and duration; gunicorn's per-request debug line is switched off; files are created 0600.
"""

import os
import random
from typing import Any

SITES = ("reporter", "inspector")
DEFAULT_BIND = {"reporter": "127.0.0.1:8080", "inspector": "127.0.0.1:8081"}
ACCESS_LOG_FORMAT = "{site} %(m)s %(U)s %(s)s %(b)s %(M)sms"  # method path status bytes duration

# Sync workers: a submission is CPU-bound (the receipt's Argon2id, HPKE, file cleaning), and a
# buffering proxy in front (deploy/nginx) hands each request over whole, at loopback speed.
# The timeout is for the work, not for the phone: nginx holds a 110 MiB upload until it is
# complete, then the worker spools, cleans (Pillow/pikepdf) and encrypts up to five 20 MiB files.
DEFAULT_TIMEOUT = 120
MAX_REQUESTS = {"reporter": 1000, "inspector": 5000}  # the inspector's tip index is rebuilt per worker
MAX_REQUESTS_JITTER = {"reporter": 200, "inspector": 1000}
# The reporter's URLs are short (/, /tip, /followup, ?lang=en); the inspector's queue keeps its
# filters in the URL (a 100-character region is 900 bytes encoded).
LIMIT_REQUEST_LINE = {"reporter": 2048, "inspector": 4094}
LIMIT_REQUEST_FIELDS = 50
LIMIT_REQUEST_FIELD_SIZE = 8190


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}")
    return value


def _no_request_debug_line(worker: Any, req: Any) -> None:
    """Replaces gunicorn's default pre_request hook, which logs "METHOD /path" at debug level."""


def _warn_if_flood_protection_off(server: Any) -> None:
    from app.flood.services import switched_off

    if switched_off(os.environ.get("TIPLINE_FLOOD_PROTECTION", "on")):
        server.log.warning("flood protection is OFF (TIPLINE_FLOOD_PROTECTION=off): proof of work and "
                           "rate limits are disabled. Use this only for load tests on loopback.")


def _start_upkeep(worker: Any) -> None:
    """Each reporter worker forgets old rate counts and empties SQLite's WAL every minute
    (app/upkeep.py), so that a tip is tied to its minute for no longer. One worker would do, and
    each doing it costs little. The first run comes a few seconds after start, at a random moment:
    a worker recycled by max_requests may live less than a minute under load, and workers started
    together should not all try at once. The inspector site shares the database and needs no
    thread of its own."""
    from app import upkeep

    url = worker.wsgi.config["DATABASE_URL"]
    upkeep.run_every(upkeep.INTERVAL_SECONDS, lambda: upkeep.forget_recent(url), "tipline-upkeep",
                     first_delay=random.uniform(1, 10))  # noqa: S311 (a start time, not a secret)


def _forget_at_exit(server: Any) -> None:
    """In the master, once the reporter workers have stopped: the flood counts (all of them on
    SQLite), then the WAL (app/upkeep.py), so that the last minutes do not wait on disk for the
    next start."""
    try:
        from app import upkeep
        from app.config import data_dir_from_env, database_url

        upkeep.forget_at_exit(database_url(data_dir_from_env()))
    except Exception as error:  # noqa: BLE001 (stopping must not fail on it; the next start runs it)
        server.log.warning("forgetting flood counts and emptying the WAL at exit failed (%s)",
                           type(error).__name__)


def _heartbeat_dir() -> str | None:
    # gunicorn's worker heartbeat file: on tmpfs, so that fchmod never waits for a disk.
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None  # noqa: S108


def site_settings(site: str) -> dict[str, Any]:
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}")
    prefix = f"TIPLINE_{site.upper()}_"
    bind = os.environ.get(prefix + "BIND", "").strip() or DEFAULT_BIND[site]
    loglevel = os.environ.get("TIPLINE_GUNICORN_LOGLEVEL", "info").strip().lower() or "info"
    if loglevel not in {"critical", "error", "warning", "info", "debug"}:
        raise ValueError(f"TIPLINE_GUNICORN_LOGLEVEL: unknown level {loglevel!r}")
    return {
        "wsgi_app": f"app.wsgi:{site}",
        "proc_name": f"tipline-{site}",
        "bind": [part.strip() for part in bind.split(",") if part.strip()],
        "workers": _int_env(prefix + "WORKERS", 2 * _cpus()),
        "worker_class": "sync",
        "timeout": _int_env("TIPLINE_GUNICORN_TIMEOUT", DEFAULT_TIMEOUT),
        "graceful_timeout": _int_env("TIPLINE_GUNICORN_TIMEOUT", DEFAULT_TIMEOUT),
        "max_requests": MAX_REQUESTS[site],
        "max_requests_jitter": MAX_REQUESTS_JITTER[site],
        "limit_request_line": LIMIT_REQUEST_LINE[site],
        "limit_request_fields": LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": LIMIT_REQUEST_FIELD_SIZE,
        # Nothing a client sends is taken as its address or scheme: not from 127.0.0.1 (gunicorn's
        # default, where nginx and tor sit), not over a UNIX socket (always trusted by gunicorn).
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
        "forwarder_headers": "",
        "proxy_protocol": "off",
        "proxy_allow_ips": "",
        # Logging: see app/gunicorn_logging.py.
        "logger_class": f"app.gunicorn_logging.{site.capitalize()}Logger",
        "loglevel": loglevel,
        "errorlog": "-",
        "accesslog": "-" if site == "inspector" else None,
        # The reporter's logger never writes an access line; the format is address-free anyway.
        "access_log_format": ACCESS_LOG_FORMAT.format(site=site),
        "capture_output": False,
        "pre_request": _no_request_debug_line,
        "when_ready": _warn_if_flood_protection_off,
        **({"post_worker_init": _start_upkeep, "on_exit": _forget_at_exit} if site == "reporter" else {}),
        # gunicorn 25+ opens a control socket in $HOME by default: one path for both sites, and an
        # interface nobody here needs.
        "control_socket_disable": True,
        "preload_app": False,  # every worker opens its own database connections
        "umask": 0o077,
        "worker_tmp_dir": _heartbeat_dir(),
    }
