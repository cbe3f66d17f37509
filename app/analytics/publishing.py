"""The transparency page's data: one closed month's aggregates, suppressed, then stored in the clear.

The server cannot decrypt tips on its own, so an administrator publishes a month from the
dashboard; only what the public page shows is stored (`published_months`), and it is suppressed
BEFORE it is stored:

- every count under 5 (0 included) becomes "<5";
- complementary suppression: in a row whose total is shown (the statuses add up to the tips
  received; burden types are shown next to that total too), if exactly one cell is "<5", the
  smallest other cell is suppressed as well, so that the hidden one cannot be had by subtraction;
  and more cells are hidden, smallest first, until the hidden cells add up to at least 5 (two
  hidden zeros would otherwise be read off as "total minus the rest = 0");
- the median days to first reply is published only when at least 5 tips were answered;
- per month, either the all-offices figures or per-office figures are published, never both:
  publishing one replaces the other, so that "all minus office A" cannot reveal office B's small
  cells.

Nothing per tip is ever stored or shown: no names, regions, free text or ids. Tips received in
the month count with the status they have when the month is published; publishing again later
replaces the snapshot with the current statuses.
"""

import json
import statistics
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock
from app.analytics import services
from app.analytics.charts import format_number
from app.analytics.models import PublishedMonth
from app.audit import services as audit
from app.offices.models import Office
from app.reporting.models import Tip
from app.reporting.taxonomy import BURDEN_CODES, STATUSES

SUPPRESS_BELOW = 5
SUPPRESSED = "<5"
ALL = "all"
CELLS_VERSION = 1
PUBLISH = "analytics.publish"
PUBLISHABLE_MONTHS = 36

Cell = int | str


class PublishError(Exception):
    """A month that cannot be published; str() is a message safe to show."""


# ---------------------------------------------------------------------------------------------
# Months


def parse_month(text: str | None) -> date | None:
    """"2024-05" → 2024-05-01; anything else → None."""
    text = (text or "").strip()
    if len(text) != 7 or not text.isascii() or text[4] != "-" or not (text[:4] + text[5:]).isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[5:]), 1)
    except ValueError:
        return None


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def is_closed(first: date, today: date) -> bool:
    """A month is closed once it has ended: its last day is before today."""
    return next_month(first) <= today


def closed_months(today: date, count: int = PUBLISHABLE_MONTHS) -> list[str]:
    """The latest `count` closed months, newest first."""
    first = date(today.year, today.month, 1)
    months = []
    for _ in range(count):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
        months.append(services.month_key(first))
    return months


# ---------------------------------------------------------------------------------------------
# Aggregates and suppression


@dataclass
class MonthFigures:
    """A month's raw figures: only ever held in memory, to be suppressed."""

    received: int
    burden: dict[str, int]
    statuses: dict[str, int]
    replied: int
    first_reply_median: float | None


def month_figures(db: Session, keys: services.OfficeKeys, first: date, office_id: int | None) -> MonthFigures:
    """The month's tips of one office (or of all), all of which the session must be able to open:
    a published figure that silently left tips out would be wrong."""
    last = date.fromordinal(next_month(first).toordinal() - 1)
    query = select(func.count()).select_from(Tip).where(Tip.received_on >= first, Tip.received_on <= last)
    if office_id is not None:
        query = query.where(Tip.office_id == office_id)
    everything = db.scalar(query) or 0
    tips = services.scoped_tips(db, keys, services.Filters(first, last, office_id))
    contents = {tip.id: tip.content for tip in tips}
    if len(tips) != everything:
        raise PublishError(_l("这个月有您无法打开的线索（您没有相应单位或旧密钥，或内容已删除），"
                              "发布的数字会不完整，因此不能发布。"))
    burden = dict.fromkeys(BURDEN_CODES, 0)
    for content in contents.values():
        for code in services.burden_codes(content):
            if code in burden:
                burden[code] += 1
    statuses = dict.fromkeys(STATUSES, 0)
    for tip in tips:
        statuses[tip.status] = statuses.get(tip.status, 0) + 1
    days = services.reply_days(tips, services.first_replies(db, tips))
    return MonthFigures(received=len(tips), burden=burden, statuses=statuses, replied=len(days),
                        first_reply_median=float(statistics.median(days)) if days else None)


def suppress(count: int) -> Cell:
    return count if count >= SUPPRESS_BELOW else SUPPRESSED


def suppress_row(counts: dict[str, int], total_shown: bool) -> dict[str, Cell]:
    """Small cells become "<5". With a shown total, more cells are hidden (smallest first) until
    no "<5" stands alone and the hidden cells add up to at least 5, so that subtracting the
    shown cells from the total recovers neither one small cell nor a small sum."""
    cells: dict[str, Cell] = {key: suppress(value) for key, value in counts.items()}
    if not total_shown:
        return cells
    order = list(counts)
    hidden = [key for key in order if cells[key] == SUPPRESSED]
    shown = sorted((key for key in order if cells[key] != SUPPRESSED), key=lambda k: (counts[k], order.index(k)))
    while hidden and shown and (len(hidden) == 1 or sum(counts[k] for k in hidden) < SUPPRESS_BELOW):
        smallest = shown.pop(0)
        cells[smallest] = SUPPRESSED
        hidden.append(smallest)
    return cells


def suppressed_cells(figures: MonthFigures) -> dict[str, Any]:
    """What gets stored and shown: JSON-ready, every count already suppressed."""
    received = suppress(figures.received)
    total_shown = received != SUPPRESSED
    statuses = suppress_row(figures.statuses, total_shown)
    return {
        "version": CELLS_VERSION,
        "received": received,
        "burden": suppress_row(figures.burden, total_shown),
        "statuses": statuses,
        # the headline is the status cell itself, so the two can never disagree
        "rectified": statuses.get("rectified", SUPPRESSED),
        "first_reply_median_days": (figures.first_reply_median
                                    if figures.replied >= SUPPRESS_BELOW else None),
    }


# ---------------------------------------------------------------------------------------------
# Publishing


@dataclass
class Preview:
    month: str
    office: Office | None
    cells: dict[str, Any]

    @property
    def view(self) -> "PublishedView":
        """Exactly what the public page will show."""
        return view_of_cells(self.month, ALL if self.office is None else str(self.office.id),
                             self.office.name if self.office else None, clock.today(), self.cells)


def preview(db: Session, keys: services.OfficeKeys, month: str, office: Office | None) -> Preview:
    first = parse_month(month)
    if first is None:
        raise PublishError(_l("月份格式不正确。"))
    if not is_closed(first, clock.today()):
        raise PublishError(_l("只能发布已经结束的月份。"))
    figures = month_figures(db, keys, first, office.id if office else None)
    return Preview(month=services.month_key(first), office=office, cells=suppressed_cells(figures))


def publish(db: Session, keys: services.OfficeKeys, month: str, office: Office | None,
            actor_id: int) -> tuple[PublishedMonth, int]:
    """Store the month's suppressed cells, replacing whatever was published for that month
    before (the same scope, and the other kind of scope: see the module's docstring).
    Returns the row and how many other-scope rows it replaced."""
    shown = preview(db, keys, month, office)
    scope = ALL if office is None else str(office.id)
    same = others = 0
    for existing in db.scalars(select(PublishedMonth).where(PublishedMonth.month == shown.month)):
        if existing.scope == scope:
            same += 1
        elif (existing.scope == ALL) != (scope == ALL):
            others += 1
        else:
            continue  # another single office of the same month stays
        db.delete(existing)
    db.flush()  # before the insert: (month, scope) is unique
    row = PublishedMonth(month=shown.month, scope=scope, office_id=office.id if office else None,
                         cells=json.dumps(shown.cells, ensure_ascii=False, sort_keys=True),
                         published_on=clock.today())
    db.add(row)
    db.flush()
    audit.record(db, PUBLISH, actor_id=actor_id, target=shown.month,
                 detail={"month": shown.month, "office": office.code if office else ALL,
                         "replaced": bool(same), "replaced_other_scope": others})
    return row, others


# ---------------------------------------------------------------------------------------------
# Reading what was published (the public page and the dashboard's list)


def _clean(value: Any) -> Cell:
    """Belt and braces on the way out: a stored number under 5 is still never shown."""
    if isinstance(value, bool) or not isinstance(value, int):
        return SUPPRESSED
    return suppress(value)


def _clean_median(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return None
    return float(value)


@dataclass
class PublishedView:
    month: str
    scope: str
    office_name: str | None        # None: all offices
    published_on: date
    received: Cell
    burden: dict[str, Cell]
    statuses: dict[str, Cell]
    rectified: Cell
    first_reply_median_days: float | None

    @property
    def year_month(self) -> tuple[int, int]:
        return int(self.month[:4]), int(self.month[5:7])

    @property
    def median_text(self) -> str | None:
        days = self.first_reply_median_days
        return None if days is None else format_number(days)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def view_of_cells(month: str, scope: str, office_name: str | None, published_on: date,
                  cells: dict[str, Any]) -> PublishedView:
    burden, statuses = _mapping(cells.get("burden")), _mapping(cells.get("statuses"))
    return PublishedView(
        month=month, scope=scope, office_name=office_name, published_on=published_on,
        received=_clean(cells.get("received")),
        burden={code: _clean(burden.get(code)) for code in BURDEN_CODES},
        statuses={status: _clean(statuses.get(status)) for status in STATUSES},
        rectified=_clean(cells.get("rectified")),
        first_reply_median_days=_clean_median(cells.get("first_reply_median_days")),
    )


def _view(row: PublishedMonth, office_names: dict[int, str]) -> PublishedView | None:
    try:
        cells = json.loads(row.cells)
    except ValueError:
        return None
    if not isinstance(cells, dict):
        return None
    office_name = office_names.get(row.office_id) if row.office_id is not None else None
    return view_of_cells(row.month, row.scope, office_name, row.published_on, cells)


def published(db: Session, today: date | None = None) -> list[PublishedView]:
    """Published months, newest first, closed months only; all offices before single offices."""
    today = today or clock.today()
    names = {o.id: o.name for o in db.scalars(select(Office))}
    views = []
    for row in db.scalars(select(PublishedMonth).order_by(PublishedMonth.month.desc())):
        first = parse_month(row.month)
        if first is None or not is_closed(first, today):
            continue
        view = _view(row, names)
        if view is not None:
            views.append(view)
    views.sort(key=lambda v: (v.scope != ALL, v.office_name or ""))
    views.sort(key=lambda v: v.month, reverse=True)  # stable: newest month, then all, then by name
    return views
