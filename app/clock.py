"""The only place the application reads the clock.

Reporter-side records get `today()` — a calendar date in the line's time zone, never a time of day.
Inspector-side bookkeeping (sessions, lockouts, the audit log) may use `now()`.
"""

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

TIMEZONE = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(TIMEZONE).date()


def now() -> float:
    """Seconds since the epoch, for expiry and backoff arithmetic."""
    return time.time()
