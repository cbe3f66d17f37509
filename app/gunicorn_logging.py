"""gunicorn loggers for the two sites (`logger_class` in deploy/gunicorn/*.conf.py).

- `ReporterLogger` keeps no access log whatever the configuration says, and its error log has no
  time of day (a request-related line stamped 14:03 next to a tip dated today is a timestamp).
- `InspectorLogger` keeps an access log, but its atoms are cut down to method, path (no query),
  protocol, status, size and duration, so that even a format asking for the client's address, its
  User-Agent, any request header or the full request line gets "-" (or the line without query).
- Both scrub every message of gunicorn's error log (critical … debug), its access log, and the
  application's own log records (routed through one scrubbed handler on the root logger, so Flask
  does not fall back to writing to `wsgi.errors` unfiltered) with `app.logscrub`: no IPv4/IPv6
  address, no "ip=" fragment, and on the reporter site no quoted request data, URI or path.
"""

import logging
import sys
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from app.logscrub import ScrubFilter, for_site

_ROOT_HANDLER_MARK = "_tipline_root"
_ACCESS_ATOMS = ("m", "U", "H", "s", "b", "B", "T", "D", "M", "L", "p")


class TiplineLogger(Logger):
    site = "inspector"

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        scrub = ScrubFilter(for_site(self.site))
        for log in (self.error_log, self.access_log):
            for old in [f for f in log.filters if isinstance(f, ScrubFilter)]:
                log.removeFilter(old)
            log.addFilter(scrub)
        self._route_application_logs(scrub)

    def _route_application_logs(self, scrub: ScrubFilter) -> None:
        """One scrubbed stderr handler on the root logger for the application's records."""
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, _ROOT_HANDLER_MARK, False)]:
            root.removeHandler(handler)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(self.error_fmt.replace("%(message)s", "%(name)s: %(message)s"),
                                               self.datefmt))
        handler.addFilter(scrub)
        setattr(handler, _ROOT_HANDLER_MARK, True)
        root.addHandler(handler)
        if root.level == logging.NOTSET or root.level > logging.WARNING:
            root.setLevel(logging.WARNING)

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> dict[str, Any]:
        full = super().atoms(resp, req, environ, request_time)
        kept = {name: full[name] for name in _ACCESS_ATOMS if name in full}
        kept["r"] = f"{full.get('m')} {full.get('U')} {full.get('H')}"  # request line without query
        return kept


class InspectorLogger(TiplineLogger):
    site = "inspector"


class ReporterLogger(TiplineLogger):
    site = "reporter"
    error_fmt = r"[%(process)d] [%(levelname)s] %(message)s"

    @property
    def access_log_enabled(self) -> bool:
        return False

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        return None
