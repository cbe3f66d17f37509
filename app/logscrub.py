"""Second line of defence for log lines: no client address, and on the reporter site no request data.

The first line is not logging such things at all (no reporter access log, address-free formats).
These helpers catch what a server or library puts into a message anyway, e.g. gunicorn's
"Invalid request from ip=…: Invalid HTTP request line: '…'" or werkzeug's "Bad request syntax ('…')".

- `scrub_addresses`: every IPv4 and IPv6 address (with zone, bracketed or IPv4-mapped) becomes
  `<addr>`, and "from ip=…" fragments are dropped.
- `scrub_inspector`: the above, and the raw client bytes that gunicorn quotes into its "Invalid
  request" lines (a request line, a header name) are withheld.
- `scrub_reporter`: the above, and all request data that servers quote into their messages is withheld
  (quoted strings, the URI after "Error handling request", the path in Flask's "Exception on …").
"""

import ipaddress
import logging
import re
from collections.abc import Callable

ADDRESS = "<addr>"
WITHHELD = "<withheld>"

_IPV4 = re.compile(r"(?<!\d)(?:\d{1,3}\.){3}\d{1,3}(?!\d)")
# Anything made of hex digits, colons and dots with at least two colons is a candidate; only what
# `ipaddress` accepts is replaced (so "12:30:45" stays).
_IPV6_CANDIDATE = re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z_.-]+)?")
_IP_FRAGMENT = re.compile(r"\s*(?:\bfrom\s+)?\b(?:ip|addr|client|peer)=[^\s,;]*?(?=[:,;]?(?:\s|$))",
                          re.IGNORECASE)
_QUOTED = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*\"""")
_ERROR_HANDLING = re.compile(r"^(Error handling request)\b.*$", re.MULTILINE)
_FLASK_EXCEPTION = re.compile(r"\bException on \S+ \[(\w+)\]")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _ipv6(match: re.Match[str]) -> str:
    token = match.group(0)
    for start in (0, 1):  # a leading ":" may belong to the text before it ("error:2001:db8::1")
        if start and not token.startswith(":"):
            break
        for end in (len(token), len(token.rstrip(":."))):
            if _is_ipv6(token[start:end]):
                return token[:start] + ADDRESS + token[end:]
    return token


def scrub_addresses(text: str) -> str:
    text = _IP_FRAGMENT.sub("", text)
    text = _IPV6_CANDIDATE.sub(_ipv6, text)
    return _IPV4.sub(ADDRESS, text)


def _withhold_quoted(text: str) -> str:
    return _QUOTED.sub(f"'{WITHHELD}'", text)


def scrub_inspector(text: str) -> str:
    text = scrub_addresses(text)
    return _withhold_quoted(text) if text.startswith("Invalid request") else text


def scrub_reporter(text: str) -> str:
    text = scrub_addresses(text)
    text = _ERROR_HANDLING.sub(r"\1", text)
    text = _FLASK_EXCEPTION.sub(r"Exception on a request [\1]", text)
    return _withhold_quoted(text)


def scrub_traceback(text: str, scrub: Callable[[str], str]) -> str:
    """Addresses go everywhere; the site's rules apply to the exception lines, not to the frames
    (indented lines are file names and source code, which the reporter rules would only garble)."""
    return "\n".join(scrub_addresses(line) if line[:1].isspace() or line.startswith("Traceback")
                     else scrub(line) for line in text.split("\n"))


def for_site(site: str) -> Callable[[str], str]:
    return scrub_reporter if site == "reporter" else scrub_inspector


class ScrubFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack in place, before any handler formats it."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        super().__init__()
        self.scrub = scrub

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a bad format string must not leak its arguments either)
            message = str(record.msg)
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_traceback(record.exc_text, self.scrub)
        if record.stack_info:
            record.stack_info = scrub_addresses(record.stack_info)
        return True
