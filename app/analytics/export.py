"""CSV files of the dashboard's aggregates: UTF-8 with a BOM (Excel then reads Chinese correctly),
and safe to open in a spreadsheet (a cell that would start a formula is prefixed with a quote)."""

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.analytics.charts import format_number
from app.analytics.services import Dashboard, Median, Row

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """OWASP's CSV-injection rule: a cell starting with = + - @ tab or CR gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(header: Iterable[object], rows: Iterable[Iterable[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return (BOM + out.getvalue()).encode("utf-8")


def _spellings(row: Row) -> str:
    return "；".join(f"{raw or _('（未填）')}（{count}）" for raw, count in row.spellings)


def _median(median: Median) -> str:
    return "" if median.days is None else format_number(median.days)


def _counts(rows: list[Row], key_title, label_title):
    return [key_title, label_title, _("线索数")], [[r.key, r.label, r.count] for r in rows]


def _named(rows: list[Row]):
    header = [_("名称（最常见写法）"), _("归一化名称"), _("线索数"), _("每周小时合计（封顶后）"),
              _("填写了小时数的线索"), _("超过上限被封顶的线索"), _("各种写法（次数）")]
    body = [[r.label, r.key, r.count, format_number(r.hours), r.hours_tips, r.capped, _spellings(r)] for r in rows]
    return header, body


def _summary(d: Dashboard):
    f = d.filters
    rows = [
        [_("收到日期从"), f.date_from.isoformat() if f.date_from else ""],
        [_("收到日期到"), f.date_to.isoformat() if f.date_to else ""],
        [_("受理单位"), f.office_code or _("全部")],
        [_("线索总数"), d.total],
        [_("无法解密的线索"), d.unopened],
        [_("每周小时合计（封顶后）"), format_number(d.hours.total)],
        [_("填写了小时数的线索"), d.hours.tips],
        [_("每周超过 %(cap)s 小时、按 %(cap)s 小时计的线索", cap=format_number(d.hours.cap)), d.hours.capped],
        [_("小时数无效、未计入的线索"), d.hours.invalid],
        [_("首次回复用时中位数（天）"), _median(d.first_reply)],
        [_("有回复的线索"), d.first_reply.tips],
        [_("办结用时中位数（天）"), _median(d.close)],
        [_("已办结的线索"), d.close.tips],
    ]
    return [_("指标"), _("数值")], rows


@dataclass(frozen=True)
class Export:
    title: object
    build: Callable[[Dashboard], tuple[list, list]]


EXPORTS: dict[str, Export] = {
    "summary": Export(_l("概况"), _summary),
    "burden": Export(_l("按负担类型"), lambda d: _counts(d.burden, _("代码"), _("负担类型"))),
    "platforms": Export(_l("按平台（线索数）"), lambda d: _named(d.platforms)),
    "platform_hours": Export(_l("按平台（每周小时）"), lambda d: _named(d.platform_hours)),
    "levels": Export(_l("按要求单位层级"), lambda d: _counts(d.levels, _("代码"), _("层级"))),
    "bodies": Export(_l("按要求单位（线索数）"), lambda d: _named(d.bodies)),
    "body_hours": Export(_l("按要求单位（每周小时）"), lambda d: _named(d.body_hours)),
    "regions": Export(_l("按省份"), lambda d: _counts(d.regions, _("代码"), _("省份"))),
    "statuses": Export(_l("按状态"), lambda d: _counts(d.statuses, _("代码"), _("状态"))),
    "months": Export(_l("按月收到"), lambda d: ([_("月份"), _("线索数")], [[r.key, r.count] for r in d.months])),
}


def export(dashboard: Dashboard, name: str) -> bytes:
    header, rows = EXPORTS[name].build(dashboard)
    return to_csv(header, rows)


def filename(name: str, dashboard: Dashboard) -> str:
    """An ASCII file name that says what is inside: aggregate, date range, office."""
    f = dashboard.filters
    parts = ["tipline", name, f.date_from.isoformat() if f.date_from else "start",
             f.date_to.isoformat() if f.date_to else "now"]
    if f.office_code:
        parts.append(re.sub(r"[^A-Za-z0-9_-]", "_", f.office_code)[:40])
    return "-".join(parts) + ".csv"
