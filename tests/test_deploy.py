"""deploy/ keeps its promises: read the files (nginx, torrc, systemd, gunicorn) and check them.

Where the real tool is installed (nginx, tor, systemd-analyze) the files are also given to it; those
checks skip otherwise: the tools are not test dependencies.
"""

import os
import re
import runpy
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
SECRET = "deploy-test-" + "y" * 40

REPORTER_FILES = [DEPLOY / "nginx" / "reporter.conf", DEPLOY / "gunicorn" / "reporter.conf.py",
                  DEPLOY / "tor" / "torrc.reporter", DEPLOY / "systemd" / "tipline-reporter.service",
                  DEPLOY / "env" / "reporter.env.example", ROOT / "app" / "gunicorn_config.py",
                  ROOT / "app" / "gunicorn_logging.py"]
# What would put a client's address or device into a log line or a header.
ADDRESS_VARIABLES = ["$remote_addr", "$binary_remote_addr", "$realip_remote_addr", "$proxy_add_x_forwarded_for",
                     "$http_x_forwarded_for", "$http_x_real_ip", "$http_forwarded", "$http_user_agent",
                     "set_real_ip_from", "real_ip_header", "%(h)s", "%(a)s", "{x-forwarded-for}i",
                     "{x-real-ip}i", "{user-agent}i"]


def _all_deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


# --- a small nginx parser: directives and blocks, comments dropped ------------------------------


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{};]|[^\s{};]+')


def _nginx(path: Path) -> list:
    text = "\n".join(line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
                     for line in path.read_text().splitlines())
    tokens = _TOKEN.findall(text)

    def block(i: int) -> tuple[list, int]:
        items, words = [], []
        while i < len(tokens):
            token = tokens[i]
            if token == ";":
                items.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                children, i = block(i + 1)
                items.append((words[0], words[1:], children))
                words = []
            elif token == "}":
                assert not words, f"unterminated directive {words} in {path}"
                return items, i
            else:
                words.append(token.strip("'\"") if token[0] in "'\"" else token)
            i += 1
        assert not words, f"unterminated directive {words} in {path}"
        return items, i

    items, _ = block(0)
    return items


def _directives(items: list, name: str) -> list:
    return [(args, children) for directive, args, children in items if directive == name]


def _walk(items: list):
    for directive, args, children in items:
        yield directive, args, children
        if children:
            yield from _walk(children)


def _servers(path: Path) -> list[list]:
    return [children for _, children in _directives(_nginx(path), "server")]


def _max_content_length() -> int:
    from app.config import load_config

    return load_config({"DATA_DIR": "/nonexistent", "SECRET_KEY": SECRET})["MAX_CONTENT_LENGTH"]


def _nginx_size(value: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].lower() in units else int(value)


# --- no address anywhere -------------------------------------------------------------------------


def test_no_address_variable_or_format_in_any_reporter_file():
    for path in REPORTER_FILES:
        text = path.read_text()
        for needle in ADDRESS_VARIABLES:
            assert needle not in text, f"{needle} in {path.relative_to(ROOT)}"


def test_no_remote_addr_in_any_deploy_file():
    for path in _all_deploy_files():
        text = path.read_text()
        for needle in ("$remote_addr", "$binary_remote_addr", "$proxy_add_x_forwarded_for", "%(h)s"):
            assert needle not in text, f"{needle} in {path.relative_to(ROOT)}"


# --- nginx: reporter ---------------------------------------------------------------------------


def test_reporter_nginx_logs_nothing_per_request_and_strips_address_headers():
    servers = _servers(DEPLOY / "nginx" / "reporter.conf")
    assert len(servers) >= 2
    for server in servers:
        assert [args for args, _ in _directives(server, "access_log")] == [["off"]]
        error_logs = _directives(server, "error_log")
        assert error_logs and all(args[-1] == "crit" for args, _ in error_logs)
        for directive, args, _ in _walk(server):
            assert directive not in ("log_format", "access_log") or args == ["off"]
        for _, location in _directives(server, "location"):
            if not _directives(location, "proxy_pass"):
                continue
            headers = {args[0].lower(): args[1] for args, _ in _directives(location, "proxy_set_header")}
            for header in ("x-forwarded-for", "x-real-ip", "forwarded", "user-agent"):
                assert headers.get(header) == "", f"{header} is not removed before proxying"
            assert [args for args, _ in _directives(location, "proxy_request_buffering")] == [["on"]]
            assert [args for args, _ in _directives(location, "proxy_max_temp_file_size")] == [["0"]]
            assert _directives(location, "proxy_pass")[0][0][0].startswith("http://tipline_reporter")


def test_reporter_nginx_accepts_what_the_app_accepts_buffered_on_tmpfs():
    limit = _max_content_length()
    assert limit == 110 * 1024 * 1024
    uploading = [s for s in _servers(DEPLOY / "nginx" / "reporter.conf") if _directives(s, "location")]
    assert len(uploading) == 2  # the TLS site and the onion site
    for server in uploading:
        (size,), _ = _directives(server, "client_max_body_size")[0]
        assert _nginx_size(size) == limit
        (path, *_), _ = _directives(server, "client_body_temp_path")[0]
        assert path.startswith("/run/tipline-nginx/")
    upstreams = _directives(_nginx(DEPLOY / "nginx" / "reporter.conf"), "upstream")
    assert [args for args, _ in _directives(upstreams[0][1], "server")] == [["127.0.0.1:8080"]]


def test_hsts_only_on_tls_servers_and_no_csp_from_nginx():
    for name in ("reporter.conf", "inspector.conf"):
        path = DEPLOY / "nginx" / name
        for server in _servers(path):
            tls = any("ssl" in args for args, _ in _directives(server, "listen"))
            headers = [args[0].lower() for args, _ in _directives(server, "add_header")]
            assert ("strict-transport-security" in headers) == tls, (name, tls, headers)
            assert "content-security-policy" not in headers


# --- nginx: inspector ----------------------------------------------------------------------------


def test_inspector_nginx_is_internal_only_with_an_address_free_access_log():
    path = DEPLOY / "nginx" / "inspector.conf"
    top = _nginx(path)
    formats = {args[0]: " ".join(args[1:]) for args, _ in _directives(top, "log_format")}
    (server,) = _servers(path)
    for args, _ in _directives(server, "listen"):
        host = args[0].rsplit(":", 1)[0]
        assert host not in ("", "0.0.0.0", "[::]", "*") and "ssl" in args, args  # noqa: S104
    rules = [(d, args) for d, args, _ in server if d in ("allow", "deny")]
    assert rules and rules[-1] == ("deny", ["all"]) and any(d == "allow" for d, _ in rules)
    assert all(args != ["all"] for d, args in rules if d == "allow")
    (log_args, _), = _directives(server, "access_log")
    assert log_args[1] in formats
    for forbidden in ("$remote_addr", "$http_", "$request ", "$request_uri", "$args", "$query_string",
                      "$remote_user"):
        assert forbidden not in formats[log_args[1]] + " ", forbidden
    for needed in ("$request_method", "$uri", "$status", "$body_bytes_sent", "$request_time"):
        assert needed in formats[log_args[1]]
    (location,) = [c for _, c in _directives(server, "location")]
    assert [args for args, _ in _directives(location, "proxy_max_temp_file_size")] == [["0"]]


# --- tor --------------------------------------------------------------------------------------------


def _torrc() -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for line in (DEPLOY / "tor" / "torrc.reporter").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            options.setdefault(key, []).append(value.strip())
    return options


def test_onion_service_points_to_loopback_and_stays_anonymous():
    options = _torrc()
    assert options["HiddenServiceDir"] and options.get("HiddenServiceVersion", ["3"]) == ["3"]
    (port,) = options["HiddenServicePort"]
    virtual, target = port.split()
    assert virtual == "80" and target.startswith("127.0.0.1:"), target
    onion_listeners = [args[0] for server in _servers(DEPLOY / "nginx" / "reporter.conf")
                       for args, _ in _directives(server, "listen")]
    assert target in onion_listeners + ["127.0.0.1:8080"], "the onion must reach nginx's onion server or gunicorn"
    assert "HiddenServiceNonAnonymousMode" not in options and "HiddenServiceSingleHopMode" not in options
    assert options.get("SocksPort") == ["0"]


# --- systemd -----------------------------------------------------------------------------------


def _unit(name: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def _console_scripts() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def _wsgi_names() -> set[str]:
    """The entry points app.wsgi serves (it builds each lazily, on first access)."""
    import app.wsgi

    return set(app.wsgi._FACTORIES)


@pytest.mark.parametrize("site", ["reporter", "inspector"])
def test_site_units_run_gunicorn_with_the_config_and_entry_point_and_are_hardened(site):
    unit = _unit(f"tipline-{site}.service")
    (exec_start,) = unit["ExecStart"]
    program, *args = exec_start.split()
    assert Path(program).name == "gunicorn" and (VENV_BIN / "gunicorn").exists()
    config = args[args.index("-c") + 1]
    assert config.endswith(f"deploy/gunicorn/{site}.conf.py")
    assert (ROOT / "deploy" / "gunicorn" / f"{site}.conf.py").exists()
    entry = args[-1]
    assert entry == f"app.wsgi:{site}" and entry.split(":")[1] in _wsgi_names()
    assert unit["User"] == ["tipline"]
    assert unit["EnvironmentFile"] == ["/etc/tipline/tipline.env", f"/etc/tipline/{site}.env"]
    _assert_hardened(unit)


@pytest.mark.parametrize("job", ["purge", "backup"])
def test_daily_jobs_run_tipline_commands_from_timers(job):
    unit = _unit(f"tipline-{job}.service")
    assert unit["Type"] == ["oneshot"] and unit["User"] == ["tipline"]
    command = " ".join(unit["ExecStart"])
    match = re.search(r"/bin/(\w+) (\w+)", command)
    assert match and match.group(1) in _console_scripts() and match.group(2) == job
    assert (VENV_BIN / match.group(1)).exists()
    _assert_hardened(unit)
    timer = _unit(f"tipline-{job}.timer")
    assert timer["OnCalendar"] and timer["Persistent"] == ["true"]
    assert timer.get("Unit", [f"tipline-{job}.service"]) == [f"tipline-{job}.service"]
    assert timer["WantedBy"] == ["timers.target"]


def _assert_hardened(unit: dict[str, list[str]]) -> None:
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes", "MemoryDenyWriteExecute": "yes", "UMask": "0077"}.items():
        assert unit.get(key) == [value], key
    assert "/var/lib/tipline" in " ".join(unit["ReadWritePaths"]).split()
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert unit["CapabilityBoundingSet"] == [""]
    env = (DEPLOY / "env" / "tipline.env.example").read_text()
    assert "TIPLINE_DATA_DIR=/var/lib/tipline\n" in env


def test_systemd_analyze_accepts_the_units(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    for source in (DEPLOY / "systemd").iterdir():
        text = source.read_text().replace("/opt/tipline/.venv/bin", str(VENV_BIN))
        (tmp_path / source.name).write_text(text.replace("/opt/tipline/deploy", str(DEPLOY)))
    result = subprocess.run([tool, "verify", *sorted(str(p) for p in tmp_path.iterdir())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- gunicorn configurations --------------------------------------------------------------------


@pytest.mark.parametrize("site", ["reporter", "inspector"])
def test_gunicorn_config_imports_and_says_what_it_should(site, monkeypatch):
    for name in list(os.environ):
        if name.startswith("TIPLINE_"):
            monkeypatch.delenv(name)
    settings = runpy.run_path(str(DEPLOY / "gunicorn" / f"{site}.conf.py"))
    from gunicorn.config import Config
    from gunicorn.util import load_class

    config = Config()
    for key, value in settings.items():
        if key in config.settings:
            config.set(key, value)
    assert config.wsgi_app == f"app.wsgi:{site}"
    assert config.address == [("127.0.0.1", 8080 if site == "reporter" else 8081)]
    assert config.forwarded_allow_ips == [] and config.secure_scheme_headers == {}
    assert config.forwarder_headers == [] and config.proxy_protocol == "off"
    assert config.worker_class_str == "sync" and config.limit_request_fields <= 100
    assert config.max_requests > 0 and config.max_requests_jitter > 0 and config.timeout >= 60
    assert (config.accesslog is None) == (site == "reporter")
    assert load_class(settings["logger_class"]).__name__ == f"{site.capitalize()}Logger"


@pytest.mark.parametrize("site", ["reporter", "inspector"])
def test_gunicorn_check_config_loads_the_app(site, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIPLINE_")}
    env.update(TIPLINE_DATA_DIR=str(tmp_path), TIPLINE_SECRET_KEY=SECRET, HOME=str(tmp_path))
    result = subprocess.run([str(VENV_BIN / "gunicorn"), "--check-config", "-c",
                             str(DEPLOY / "gunicorn" / f"{site}.conf.py")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the real tools, where installed -------------------------------------------------------------


def test_nginx_accepts_both_sites(tmp_path):
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if nginx is None:
        pytest.skip("nginx is not installed")
    run = tmp_path / "run"
    run.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    includes = []
    for name in ("reporter.conf", "inspector.conf"):
        text = (DEPLOY / "nginx" / name).read_text()
        for old, new in (("/etc/letsencrypt/live/tips.example.org/fullchain.pem", tmp_path / "cert.pem"),
                         ("/etc/letsencrypt/live/tips.example.org/privkey.pem", tmp_path / "key.pem"),
                         ("/etc/tipline/tls/inspector.crt", tmp_path / "cert.pem"),
                         ("/etc/tipline/tls/inspector.key", tmp_path / "key.pem"),
                         ("/run/tipline-nginx", run), ("/var/log/nginx", tmp_path)):
            text = text.replace(old, str(new))
        (tmp_path / name).write_text(text)
        includes.append(f"include {tmp_path / name};")
    temp_paths = " ".join(f"{kind}_temp_path {run / kind};" for kind in ("proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"error_log {tmp_path / 'error.log'} crit; pid {tmp_path / 'nginx.pid'}; events {{}}\n"
        f"http {{ access_log off; client_body_temp_path {run / 'body'}; {temp_paths}\n"
        + "\n".join(includes) + "\n}\n")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                             "-e", str(tmp_path / "error.log")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tor_accepts_the_onion_service(tmp_path):
    tor = shutil.which("tor")
    if tor is None:
        pytest.skip("tor is not installed")
    service = tmp_path / "hs"
    service.mkdir(mode=0o700)
    text = (DEPLOY / "tor" / "torrc.reporter").read_text().replace("/var/lib/tor/tipline_reporter/", f"{service}/")
    (tmp_path / "torrc").write_text(text + f"\nDataDirectory {tmp_path / 'data'}\n")
    result = subprocess.run([tor, "--verify-config", "-f", str(tmp_path / "torrc")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_points_to_the_deployment_guide():
    readme = (ROOT / "README.md").read_text()
    assert "## Production" in readme and "deploy/README.md" in readme.split("## Production", 1)[1]
