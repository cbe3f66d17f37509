"""Burden analytics: counts, hours and timings over the tips an inspector's session can open.

Burden type, platform, issuing body, hours and region are encrypted, so every aggregate over them
is computed here from the session's decrypted index (app/triage/index.py) while the session holds the office keys; nothing computed
is stored (the transparency snapshot in app/analytics/publishing.py is the one exception, and it
is suppressed first). Status, dates and messages' dates are clear columns and come from SQL.
Functions take the session and the keys; nothing here commits.
"""

import math
import statistics
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import crypto
from app import clock
from app.analytics import normalize
from app.audit import services as audit
from app.offices.models import Office
from app.reporting.models import Message, Tip
from app.reporting.services import AUTHOR_INSPECTOR, TipContent
from app.reporting.taxonomy import (
    BURDEN_BY_CODE,
    BURDEN_TYPES,
    CLOSED_STATUSES,
    IMPOSER_LEVELS,
    STATUS_LABELS,
    STATUSES,
)
from app.triage.index import IndexedTip, tips_for, without_cyclic_gc

OfficeKeys = dict[int, crypto.PrivateKey]

# A week has 168 hours and the form refuses more; a digital burden above 60 hours a week is
# implausible enough to be flagged and counted as 60 in every total (never silently summed).
HOURS_CAP = 60.0
DUPLICATE_WINDOW_DAYS = 30   # "likely duplicates" were received within this many days
RELATED_LIMIT = 10           # rows per list on a tip's detail page
MAX_TREND_MONTHS = 240
DATE_TEXT_MAX = 10

ANALYTICS_VIEW = "analytics.view"
RELATED_VIEW = "tip.related"
UNKNOWN_BURDEN = "?"


# ---------------------------------------------------------------------------------------------
# Filters


@dataclass(frozen=True)
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    office_id: int | None = None
    office_code: str = ""

    def query_args(self) -> dict[str, str]:
        """The filters as URL arguments (for links to exports and back)."""
        args = {"date_from": self.date_from.isoformat() if self.date_from else "",
                "date_to": self.date_to.isoformat() if self.date_to else "",
                "office": self.office_code}
        return {k: v for k, v in args.items() if v}

    def audit_detail(self) -> dict[str, Any]:
        return {"from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "office": self.office_code or None}


def _parse_date(text: str) -> date | None:
    if len(text) > DATE_TEXT_MAX:
        raise ValueError(text)
    return date.fromisoformat(text) if text else None


def parse_filters(args: Mapping[str, str], offices: Sequence[Office]) -> tuple[Filters, list[str]]:
    """Filters from the query string. Bad input gives messages to show (and no filters), never
    an exception: a malformed date, an office the session holds no key for, from after to."""
    errors: list[str] = []
    values: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        try:
            values[name] = _parse_date(str(args.get(name, "") or "").strip())
        except ValueError:
            values[name] = None
            errors.append(_("日期格式不正确，请按 2024-05-01 的格式填写。"))
    if values["date_from"] and values["date_to"] and values["date_from"] > values["date_to"]:
        errors.append(_("开始日期晚于结束日期。"))
    code = str(args.get("office", "") or "").strip()
    office = next((o for o in offices if o.code == code), None) if code else None
    if code and office is None:
        errors.append(_("没有这个受理单位，或您没有它的密钥。"))
    if errors:
        return Filters(), list(dict.fromkeys(errors))
    return Filters(values["date_from"], values["date_to"], office.id if office else None,
                   office.code if office else ""), []


# ---------------------------------------------------------------------------------------------
# Result shapes


@dataclass
class Row:
    """One line of an aggregate: a group, its tip count and (where it applies) its hours."""

    key: str
    label: str
    count: int = 0
    spellings: list[tuple[str, int]] = field(default_factory=list)
    hours: float = 0.0       # reported hours per week, each tip capped at HOURS_CAP
    hours_tips: int = 0      # tips of the group that gave hours
    capped: int = 0          # of those, above HOURS_CAP


@dataclass
class Median:
    days: float | None
    tips: int                # how many tips it is taken over


@dataclass
class HoursSummary:
    total: float = 0.0       # capped
    tips: int = 0            # tips that gave a usable number
    capped: int = 0          # above HOURS_CAP, counted as HOURS_CAP
    invalid: int = 0         # negative or not a number: left out and said so
    cap: float = HOURS_CAP


@dataclass
class Dashboard:
    filters: Filters
    total: int                       # tips in scope (clear columns)
    opened: int                      # of those, whose content could be decrypted
    burden: list[Row]
    platforms: list[Row]             # ranked by tips
    platform_hours: list[Row]        # ranked by hours
    levels: list[Row]
    bodies: list[Row]                # ranked by tips
    body_hours: list[Row]            # ranked by hours
    regions: list[Row]
    statuses: list[Row]
    months: list[Row]
    first_reply: Median
    close: Median
    hours: HoursSummary
    months_truncated: bool = False

    @property
    def unopened(self) -> int:
        return self.total - self.opened


# ---------------------------------------------------------------------------------------------
# Building blocks (also used by publishing and the related-tips list)


def scoped_tips(db: Session, keys: OfficeKeys, filters: Filters) -> list[IndexedTip]:
    """The tips the session holds a key for, narrowed by the filters: summaries from the session's
    decrypted index (app/triage/index.py), so later views cost no decryption at all."""
    if not keys:
        return []
    if filters.office_id is None and filters.date_from is None and filters.date_to is None:
        return tips_for(db, keys)
    return [
        tip for tip in tips_for(db, keys)
        if (filters.office_id is None or tip.office_id == filters.office_id)
        and (filters.date_from is None or tip.received_on >= filters.date_from)
        and (filters.date_to is None or tip.received_on <= filters.date_to)
    ]


def _scoped(query, keys: OfficeKeys, filters: Filters):
    """`query` narrowed to the session's office keys and the filters (clear columns only)."""
    query = query.where(Tip.office_key_id.in_(list(keys)))
    if filters.office_id is not None:
        query = query.where(Tip.office_id == filters.office_id)
    if filters.date_from is not None:
        query = query.where(Tip.received_on >= filters.date_from)
    if filters.date_to is not None:
        query = query.where(Tip.received_on <= filters.date_to)
    return query


def scoped_total(db: Session, keys: OfficeKeys, filters: Filters) -> int:
    """How many tips of the session's office keys the filters cover, opened or not (clear columns)."""
    if not keys:
        return 0
    return db.scalar(_scoped(select(func.count()).select_from(Tip), keys, filters)) or 0


def first_replies(db: Session, tips: Sequence[Any]) -> dict[str, date]:
    """Tip id → date of the first inspector message, for those tips that have one (one grouped
    query over the replies; messages carry dates only)."""
    wanted = {tip.id for tip in tips}
    if not wanted:
        return {}
    rows = db.execute(select(Message.tip_id, func.min(Message.written_on))
                      .where(Message.author == AUTHOR_INSPECTOR).group_by(Message.tip_id))
    return {tip_id: day for tip_id, day in rows if tip_id in wanted}


def median_days(values: Iterable[int]) -> Median:
    days = list(values)
    return Median(float(statistics.median(days)) if days else None, len(days))


def reply_days(tips: Sequence[Any], replies: Mapping[str, date]) -> list[int]:
    # A first reply dated before the tip (a clock fix, a restore) counts as the same day.
    return [max(0, (replies[t.id] - t.received_on).days) for t in tips if t.id in replies]


def close_days(tips: Sequence[Any]) -> list[int]:
    return [max(0, (t.closed_on - t.received_on).days) for t in tips
            if t.closed_on is not None and t.status in CLOSED_STATUSES]


def usable_hours(value: Any) -> tuple[float | None, bool]:
    """(hours to count, flagged). None for no answer or an unusable one; flagged above the cap."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None, False
    try:
        hours = float(value)
    except OverflowError:  # an integer past float's range: no one works that long
        return None, False
    if not math.isfinite(hours) or hours < 0:
        return None, False
    if hours > HOURS_CAP:
        return HOURS_CAP, True
    return hours, False


def _is_invalid_hours(value: Any) -> bool:
    return value is not None and usable_hours(value)[0] is None


def burden_codes(content: TipContent) -> list[str]:
    """The tip's burden types, each once; codes outside the taxonomy count as UNKNOWN_BURDEN."""
    codes = content.burden_types if isinstance(content.burden_types, list) else []
    return list(dict.fromkeys(c if isinstance(c, str) and c in BURDEN_BY_CODE else UNKNOWN_BURDEN
                              for c in codes))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def level_label(level: str) -> str:
    labels = dict(IMPOSER_LEVELS)
    return str(labels[level]) if level in labels else _("（未填）")


_LEVELS = dict(IMPOSER_LEVELS)


def body_group(content: TipContent, body_key=normalize.body_key) -> tuple[str, str]:
    """(group key, level) of the issuing body: level and normalised name together. `body_key`
    normalises the name (the dashboard passes a memoised one)."""
    level = _text(content.imposer_level)
    level = level if level in _LEVELS else ""
    return f"{level}|{body_key(_text(content.imposer_name))}", level


def _blank_label() -> str:
    return _("（未填）")


def _region_label(key: str) -> str:
    if key == normalize.BLANK:
        return _blank_label()
    if key == normalize.UNKNOWN_REGION:
        return _("（未能识别省份）")
    return key


# ---------------------------------------------------------------------------------------------
# The dashboard


class _Groups:
    """Counts, hours and raw spellings per group key."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.spellings: dict[str, Counter[str]] = {}

    def add(self, key: str, spelling: str | None = None, hours: float | None = None,
            capped: bool = False, times: int = 1) -> None:
        """Count `times` tips with this key (and spelling, hours)."""
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(key=key, label="")
        row.count += times
        if spelling is not None:
            spellings = self.spellings.get(key)
            if spellings is None:
                spellings = self.spellings[key] = Counter()
            spellings[spelling] += times
        if hours is not None:
            row.hours += hours * times
            row.hours_tips += times
            row.capped += times * int(capped)

    def finish(self, label_of) -> list[Row]:
        for key, row in self.rows.items():
            counter = self.spellings.get(key, Counter())
            row.spellings = normalize.ranked_spellings(counter)
            row.label = label_of(key, normalize.most_frequent_spelling(counter))
            row.hours = round(row.hours, 1)
        return list(self.rows.values())


def _by_count(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (-r.count, -r.hours, r.label, r.key))


def _by_hours(rows: list[Row]) -> list[Row]:
    return sorted((r for r in rows if r.hours_tips), key=lambda r: (-r.hours, -r.count, r.label, r.key))


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_of_index(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_rows(received: Iterable[date] | Mapping[date, int], filters: Filters,
               today: date) -> tuple[list[Row], bool]:
    """Tips received per month, with the months that had none, over the filter's range (or the
    data's, when the filter leaves an end open). At most MAX_TREND_MONTHS, the latest kept.
    `received` is the dates, or a mapping of date → number of tips that day."""
    counts: Counter[int] = Counter()
    if isinstance(received, Mapping):
        for day, n in received.items():
            counts[_month_index(day)] += n
    else:
        counts.update(_month_index(day) for day in received)
    first = _month_index(filters.date_from) if filters.date_from else min(counts, default=None)
    if filters.date_to:
        last: int | None = _month_index(filters.date_to)
    elif first is not None:
        last = max([*counts, _month_index(today)])  # up to this month: quiet months show as 0
    else:
        last = None
    if first is None or last is None or first > last:
        return [], False
    truncated = last - first + 1 > MAX_TREND_MONTHS
    first = max(first, last - MAX_TREND_MONTHS + 1)
    return [Row(key=_month_of_index(i), label=_month_of_index(i), count=counts.get(i, 0))
            for i in range(first, last + 1)], truncated


@dataclass(frozen=True, slots=True, eq=False)
class _Share:
    """What one tip adds to one group: its key, its spelling and its hours. Interned per index
    entry and hashed by identity, so counting 100,000 tips per distinct share is a C-level Counter."""

    key: str
    spelling: str | None
    hours: float | None
    capped: bool


@dataclass(slots=True, eq=False)
class _Facts:
    """What the dashboard needs of one tip, derived from its content once per index entry. Never
    changed once made; not frozen, because a frozen dataclass is built five times slower (100,000
    of them at the first dashboard view)."""

    hours: _Share  # key: "" for usable or no hours, "invalid" for an unusable answer
    burdens: tuple[str, ...]
    platform: _Share
    body: _Share
    level: str
    province: str


def _memo(shared: dict, name: str, function, value: Any) -> Any:
    """function(value), computed once per distinct value for all the tips of an index entry (the
    memo lives in the entry's shared dict and dies with it)."""
    memo = shared.get(name)
    if memo is None:
        memo = shared[name] = {}
    # Decrypted JSON gives str almost always; anything else is keyed with its type, so that
    # 1, 1.0 and True stay apart.
    key = value if type(value) is str else (type(value).__name__, repr(value))
    found = memo.get(key)
    if found is None:
        found = memo[key] = function(value)
    return found


def _share(shared: dict, key: str, spelling: str | None, hours: float | None, capped: bool) -> _Share:
    memo = shared.get("share")
    if memo is None:
        memo = shared["share"] = {}
    found = memo.get((key, spelling, hours, capped))  # hours: None or a float (usable_hours)
    if found is None:
        found = memo[(key, spelling, hours, capped)] = _Share(key, spelling, hours, capped)
    return found


def _memoised_body_key(shared: dict):
    return lambda raw: _memo(shared, "body", normalize.body_key, raw)


def _new_facts(content: TipContent, shared: dict) -> _Facts:
    hours, capped = usable_hours(content.hours_per_week)
    invalid = hours is None and _is_invalid_hours(content.hours_per_week)
    platform = _text(content.platform).strip()
    body_key, level = body_group(content, _memoised_body_key(shared))
    burdens = tuple(burden_codes(content))
    interned_burdens = shared.setdefault("burdens", {}).setdefault(burdens, burdens)
    return _Facts(
        hours=_share(shared, "invalid" if invalid else "", None, hours, capped),
        burdens=interned_burdens,
        platform=_share(shared, _memo(shared, "platform", normalize.platform_key, platform), platform, hours, capped),
        body=_share(shared, body_key, _text(content.imposer_name).strip(), hours, capped),
        level=level,
        province=_memo(shared, "province", normalize.province_of, _text(content.region)),
    )


def _derive(tips: list[IndexedTip]) -> None:
    """Facts for the tips that have none yet (the first dashboard view after a build).

    Each part of a tip's facts depends on one or two of its fields, and those repeat across
    100,000 tips: each part is memoised on the raw values it depends on, in the entry's shared
    dict, so that a tip costs a few dict lookups rather than the ~10 us of _new_facts. Content of
    other types than the form writes (only a hand-made ciphertext could hold it) takes _new_facts."""
    last: dict | None = None
    for tip in tips:
        if isinstance(tip.derived, _Facts):
            continue
        content, shared = tip.content, tip.shared
        if shared is not last:
            last = shared
            by_hours = shared.setdefault("facts:hours", {})
            by_platform = shared.setdefault("facts:platform", {})
            by_body = shared.setdefault("facts:body", {})
            by_burdens = shared.setdefault("facts:burdens", {})
            by_region = shared.setdefault("facts:region", {})
        raw_hours, platform, level, name = (content.hours_per_week, content.platform, content.imposer_level,
                                            content.imposer_name)
        region, burdens = content.region, content.burden_types
        if not (type(platform) is str and type(level) is str and type(name) is str and type(region) is str
                and type(burdens) is list and (raw_hours is None or type(raw_hours) is float)):
            tip.derived = _new_facts(content, shared)
            continue
        try:
            burden_key = tuple(burdens)
            codes = by_burdens.get(burden_key)
        except TypeError:  # a list inside the list
            tip.derived = _new_facts(content, shared)
            continue
        if codes is None:
            codes = tuple(burden_codes(content))
            codes = by_burdens[burden_key] = shared.setdefault("burdens", {}).setdefault(codes, codes)
        hours = by_hours.get(raw_hours)
        if hours is None:
            value, capped = usable_hours(raw_hours)
            invalid = value is None and _is_invalid_hours(raw_hours)
            hours = by_hours[raw_hours] = (_share(shared, "invalid" if invalid else "", None, value, capped),
                                           value, capped)
        hours_share, value, capped = hours
        platform_share = by_platform.get((platform, raw_hours))
        if platform_share is None:
            spelling = platform.strip()
            key = _memo(shared, "platform", normalize.platform_key, spelling)
            platform_share = by_platform[(platform, raw_hours)] = _share(shared, key, spelling, value, capped)
        body = by_body.get((level, name, raw_hours))
        if body is None:
            body_key, body_level = body_group(content, _memoised_body_key(shared))
            body = by_body[(level, name, raw_hours)] = (_share(shared, body_key, name.strip(), value, capped),
                                                        body_level)
        province = by_region.get(region)
        if province is None:
            province = by_region[region] = _memo(shared, "province", normalize.province_of, region)
        tip.derived = _Facts(hours_share, codes, platform_share, body[0], body[1], province)


_deriving = threading.Lock()


def derive_facts(tips: list[IndexedTip]) -> None:
    """Facts for the tips that have none yet. The index runs this on a large new entry in a thread
    of its own, a chunk at a time, once the view that built the entry has been sent
    (app/__init__.py); a dashboard that comes meanwhile waits for the chunk under way here rather
    than doing the same work at the same time.

    At 100,000 tips, 100,000 facts are made, none in a cycle. Not long_lived: a tenth of an index's
    objects is not worth moving the process's young garbage to the oldest generation for (the
    background completion settles once, after its last chunk, what the build moved)."""
    with _deriving, without_cyclic_gc():
        _derive(tips)


# C-level reads of each tip's facts: a generator expression per group would be a Python step per tip.
_DERIVED = attrgetter("derived")
_F_HOURS, _F_BURDENS, _F_PLATFORM, _F_BODY, _F_LEVEL, _F_PROVINCE = (
    attrgetter(name) for name in ("hours", "burdens", "platform", "body", "level", "province"))


def dashboard(db: Session, keys: OfficeKeys, filters: Filters) -> Dashboard:
    """Every aggregate of the dashboard, from the session's decrypted index.

    At 100,000 tips a Python call per tip and group would be most of the cost, so each group is
    counted by one C-level Counter over the tips' interned shares, then fed once per distinct share."""
    tips = scoped_tips(db, keys, filters)
    total = scoped_total(db, keys, filters)
    facts: list[_Facts] = list(map(_DERIVED, tips))
    while None in facts:  # only analytics sets `derived`, and only to _Facts (None again: a shred meanwhile)
        derive_facts(tips)
        facts = list(map(_DERIVED, tips))

    burden, platforms, levels, bodies, regions = _Groups(), _Groups(), _Groups(), _Groups(), _Groups()
    hours_summary = HoursSummary()
    hours_total = 0.0
    for share, n in Counter(map(_F_HOURS, facts)).items():
        if share.hours is not None:
            hours_total += share.hours * n
            hours_summary.tips += n
            hours_summary.capped += n * int(share.capped)
        elif share.key == "invalid":
            hours_summary.invalid += n
    hours_summary.total = round(hours_total, 1)
    for codes, n in Counter(map(_F_BURDENS, facts)).items():
        for code in codes:
            burden.add(code, times=n)
    for group, shares in ((platforms, Counter(map(_F_PLATFORM, facts))), (bodies, Counter(map(_F_BODY, facts)))):
        for share, n in shares.items():
            group.add(share.key, share.spelling, share.hours, share.capped, times=n)
    for level, n in Counter(map(_F_LEVEL, facts)).items():
        levels.add(level, times=n)
    for province, n in Counter(map(_F_PROVINCE, facts)).items():
        regions.add(province, times=n)

    def burden_label(key: str, _spelling: str) -> str:
        return str(BURDEN_BY_CODE[key].label) if key in BURDEN_BY_CODE else _("（未知类型）")

    for b in BURDEN_TYPES:  # every type is shown, also with no tips
        burden.rows.setdefault(b.code, Row(key=b.code, label=""))
    burden_rows = burden.finish(burden_label)
    order = {b.code: i for i, b in enumerate(BURDEN_TYPES)}
    burden_rows.sort(key=lambda r: (-r.count, order.get(r.key, 99)))

    platform_rows = platforms.finish(lambda key, spelling: spelling if key else _blank_label())

    def body_label(key: str, spelling: str) -> str:
        level = key.split("|", 1)[0]
        return f"{level_label(level)} · {spelling if key.split('|', 1)[1] else _blank_label()}"

    body_rows = bodies.finish(body_label)
    level_order = {code: i for i, (code, _label) in enumerate(IMPOSER_LEVELS)}
    level_rows = sorted(levels.finish(lambda key, _s: level_label(key)),
                        key=lambda r: (level_order.get(r.key, 99), r.key))
    region_rows = _by_count(regions.finish(lambda key, _s: _region_label(key)))

    # Clear columns count every tip in scope, opened or not: grouped in the database.
    status_counts = Counter(dict(db.execute(_scoped(select(Tip.status, func.count()), keys, filters)
                                            .group_by(Tip.status)).all()))
    status_rows = [Row(key=s, label=str(STATUS_LABELS[s]), count=status_counts.get(s, 0)) for s in STATUSES]
    status_rows += [Row(key=s, label=s, count=n) for s, n in sorted(status_counts.items()) if s not in STATUSES]
    per_day = dict(db.execute(_scoped(select(Tip.received_on, func.count()), keys, filters)
                              .group_by(Tip.received_on)).all()) if keys else {}
    months, truncated = month_rows(per_day, filters, clock.today())

    return Dashboard(
        filters=filters, total=total, opened=len(tips),
        burden=burden_rows,
        platforms=_by_count(platform_rows), platform_hours=_by_hours(platform_rows),
        levels=level_rows,
        bodies=_by_count(body_rows), body_hours=_by_hours(body_rows),
        regions=region_rows, statuses=status_rows, months=months, months_truncated=truncated,
        first_reply=median_days(reply_days(tips, first_replies(db, tips))),
        close=median_days(close_days(tips)),
        hours=hours_summary,
    )


def record_view(db: Session, actor_id: int, filters: Filters) -> None:
    """Aggregates are read from tip content: who looked, with which filters (never the numbers)."""
    audit.record(db, ANALYTICS_VIEW, actor_id=actor_id, detail=filters.audit_detail())


# ---------------------------------------------------------------------------------------------
# Related tips on a tip's detail page


@dataclass
class RelatedTip:
    tip: IndexedTip
    same_platform: bool
    same_body: bool
    shared_burdens: list[str]
    days_apart: int
    score: float = 0.0


@dataclass
class Related:
    duplicates: list[RelatedTip]
    same_platform: list[RelatedTip]
    same_platform_total: int
    same_body: list[RelatedTip]
    same_body_total: int
    platform_named: bool
    body_named: bool
    window_days: int = DUPLICATE_WINDOW_DAYS

    def shown_ids(self) -> list[str]:
        rows = [*self.duplicates, *self.same_platform, *self.same_body]
        return list(dict.fromkeys(r.tip.id for r in rows))


def _duplicate_score(candidate: RelatedTip, burdens: set[str], other: set[str], same_province: bool) -> float:
    jaccard = len(burdens & other) / len(burdens | other) if burdens | other else 0.0
    closeness = 1 - candidate.days_apart / (DUPLICATE_WINDOW_DAYS + 1)
    return round(2 * jaccard + closeness + 0.5 * candidate.same_body + 0.25 * same_province, 4)


def _newest_first(row: RelatedTip) -> tuple[int, str]:
    return -row.tip.received_on.toordinal(), row.tip.id


def related_tips(db: Session, tip: Tip, content: TipContent, keys: OfficeKeys, *,
                 actor_id: int | None = None) -> Related:
    """Other tips the session can open that name the same normalised platform or the same issuing
    body (level and name), and the likely duplicates among them: same platform, a burden type in
    common, received within DUPLICATE_WINDOW_DAYS. Blank names relate nothing.

    The ids shown are recorded in the audit log, like the queue's (never their content)."""
    platform = normalize.platform_key(_text(content.platform))
    body, _level = body_group(content)
    body_named = not body.endswith("|")
    burdens = set(burden_codes(content))
    province = normalize.province_of(_text(content.region))
    if not platform and not body_named:
        return Related([], [], 0, [], 0, False, False)

    others = [t for t in scoped_tips(db, keys, Filters()) if t.id != tip.id]
    contents = {t.id: t.content for t in others}
    linked = {tip.duplicate_of_id} | {t.id for t in others if t.duplicate_of_id == tip.id}
    duplicates, same_platform, same_body = [], [], []
    for other in others:
        opened = contents.get(other.id)
        if opened is None:
            continue
        other_burdens = set(burden_codes(opened))
        row = RelatedTip(
            tip=other,
            same_platform=bool(platform) and normalize.platform_key(_text(opened.platform)) == platform,
            same_body=body_named and body_group(opened)[0] == body,
            shared_burdens=[c for c in burden_codes(content) if c in other_burdens and c != UNKNOWN_BURDEN],
            days_apart=abs((other.received_on - tip.received_on).days),
        )
        if row.same_platform:
            same_platform.append(row)
        if row.same_body:
            same_body.append(row)
        if (row.same_platform and row.shared_burdens and row.days_apart <= DUPLICATE_WINDOW_DAYS
                and other.id not in linked):
            same_province = province not in (normalize.BLANK, normalize.UNKNOWN_REGION) and \
                normalize.province_of(_text(opened.region)) == province
            row.score = _duplicate_score(row, burdens, other_burdens, same_province)
            duplicates.append(row)

    duplicates.sort(key=lambda r: (-r.score, r.days_apart, r.tip.id))
    same_platform.sort(key=_newest_first)
    same_body.sort(key=_newest_first)
    related = Related(
        duplicates=duplicates[:RELATED_LIMIT],
        same_platform=same_platform[:RELATED_LIMIT], same_platform_total=len(same_platform),
        same_body=same_body[:RELATED_LIMIT], same_body_total=len(same_body),
        platform_named=bool(platform), body_named=body_named,
    )
    shown = related.shown_ids()
    if shown and actor_id is not None:
        audit.record(db, RELATED_VIEW, actor_id=actor_id, target=tip.id, detail={"tips": shown})
    return related
