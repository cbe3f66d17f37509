"""Configuration: defaults → TIPLINE_* environment → explicit overrides (tests).

Secrets are never built in: they come from the environment or from files that `tipline init`
(or the first `tipline serve`) generated into the data directory. A missing secret fails at start.
"""

import os
import secrets
from pathlib import Path
from typing import Any

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


class ConfigError(RuntimeError):
    pass


DEFAULTS: dict[str, Any] = {
    "DATA_DIR": "instance",
    "DATABASE_URL": None,
    "SESSION_IDLE_MINUTES": 30,
    "INSPECTOR_SESSION_ABSOLUTE_HOURS": 8,
    "DESCRIPTION_MAX_CHARS": 20000,
    # None: room for ATTACHMENT_MAX_FILES files of ATTACHMENT_MAX_MB each plus the form's text.
    "MAX_CONTENT_LENGTH": None,
    "COOKIE_SECURE": False,
    "WTF_CSRF_TIME_LIMIT": 4 * 3600,
    # Flood protection (app/flood): "off" only for load tests on loopback; serve warns at start.
    "FLOOD_PROTECTION": "on",
    "POW_SUBMISSION_THRESHOLD": "10 per minute",
    "POW_FAILED_RECEIPT_THRESHOLD": "10 per minute",
    "SUBMISSION_RATE_LIMIT": "120 per minute",
    "RECEIPT_RATE_LIMIT": "120 per minute",
    # Attachments (issue 4): per tip or message, per file, and for all files together.
    "ATTACHMENT_MAX_FILES": 5,
    "ATTACHMENT_MAX_MB": 20,
    "ATTACHMENT_QUOTA_MB": 2048,
    # From this share of the quota on, files are refused (text tips still go through).
    "ATTACHMENT_QUOTA_NEARLY_FULL_PERCENT": 95,
    # Hostile files: decoded image size, and what an Office file (a zip) may expand to.
    "ATTACHMENT_MAX_PIXELS": 40_000_000,
    "ATTACHMENT_ZIP_MAX_ENTRIES": 1000,
    "ATTACHMENT_ZIP_MAX_MB": 100,
    "ATTACHMENT_ZIP_MAX_RATIO": 200,
}

# Room for the form's text fields (MAX_FORM_MEMORY_SIZE) and multipart overhead, besides the files.
FORM_ALLOWANCE = 10 * 1024 * 1024

_ENV_INT = {"SESSION_IDLE_MINUTES", "INSPECTOR_SESSION_ABSOLUTE_HOURS", "DESCRIPTION_MAX_CHARS",
            "MAX_CONTENT_LENGTH", "ATTACHMENT_MAX_FILES", "ATTACHMENT_MAX_MB", "ATTACHMENT_QUOTA_MB",
            "ATTACHMENT_QUOTA_NEARLY_FULL_PERCENT", "ATTACHMENT_MAX_PIXELS", "ATTACHMENT_ZIP_MAX_ENTRIES",
            "ATTACHMENT_ZIP_MAX_MB", "ATTACHMENT_ZIP_MAX_RATIO"}
_ENV_BOOL = {"COOKIE_SECURE"}


def data_dir_from_env() -> Path:
    return Path(os.environ.get("TIPLINE_DATA_DIR", DEFAULTS["DATA_DIR"])).resolve()


def database_url(data_dir: Path, url: str | None = None) -> str:
    url = url or os.environ.get("TIPLINE_DATABASE_URL")
    return url or f"sqlite:///{data_dir / 'tipline.sqlite3'}"


def ensure_secret_key(data_dir: Path) -> None:
    """Generate the Flask secret into the data directory once (used by init and serve only)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / SECRET_KEY_FILE
    if not path.exists() and not os.environ.get("TIPLINE_SECRET_KEY"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))


def _read_secret_key(data_dir: Path) -> str:
    value = os.environ.get("TIPLINE_SECRET_KEY")
    if value:
        return value
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        raise ConfigError(
            f"no secret key: set TIPLINE_SECRET_KEY or run `tipline init` (looked for {path})"
        )
    return path.read_text().strip()


def _from_env() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in DEFAULTS:
        raw = os.environ.get(f"TIPLINE_{name}")
        if raw is None:
            continue
        if name in _ENV_INT:
            values[name] = int(raw)
        elif name in _ENV_BOOL:
            values[name] = raw.lower() in {"1", "true", "yes", "on"}
        else:
            values[name] = raw
    return values


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    config = dict(DEFAULTS)
    config.update(_from_env())
    config.update(overrides or {})
    data_dir = Path(config["DATA_DIR"]).resolve()
    config["DATA_DIR"] = str(data_dir)
    config["DATABASE_URL"] = database_url(data_dir, config.get("DATABASE_URL"))
    if not config.get("MAX_CONTENT_LENGTH"):
        files = int(config["ATTACHMENT_MAX_FILES"]) * int(config["ATTACHMENT_MAX_MB"]) * 1024 * 1024
        config["MAX_CONTENT_LENGTH"] = files + FORM_ALLOWANCE
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _read_secret_key(data_dir)
    if len(config["SECRET_KEY"]) < 32:
        raise ConfigError("the secret key must be at least 32 characters")
    return config
