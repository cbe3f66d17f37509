"""Warnings about details in a reporter's own text that could identify them.

Heuristics, not guarantees: they catch the common forms (resident ID numbers with a valid checksum,
mainland mobile numbers, e-mail addresses, licence plates, names of villages and work groups) so the
reporter can decide before sending. Nothing here blocks a submission.
"""

import re
import unicodedata
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_RESIDENT_ID = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z]"
    r"[ ·.]?[A-HJ-NP-Z0-9]{4,5}[A-HJ-NP-Z0-9挂学警港澳]"
)
# Chinese has no word boundaries: take up to four characters before a small-unit suffix, then trim
# leading function words ("我们马家村" → "马家村") and ignore generic terms ("农村", "工作组").
_SMALL_UNIT = re.compile(r"[\u4e00-\u9fff]{1,4}?(?:村民小组|居委会|村委会|社区|村|组)")
_LEADING_FUNCTION_CHARS = "我们你他她的在是了个和与及到从把被这那每各本全该对给向于就都也还要让由"
_GENERIC_UNITS = {
    "农村", "乡村", "村组", "工作组", "小组", "领导小组", "专班组", "督导组", "检查组", "调研组", "社区",
    "城乡社区", "村里", "进村", "入村", "驻村", "包村", "村民小组", "村委会", "居委会", "本组", "分组",
}


def _valid_resident_id(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == number[17].upper()


@dataclass(frozen=True)
class Finding:
    kind: str
    label: object
    text: str


_LABELS = {
    "resident_id": _l("身份证号码"),
    "mobile": _l("手机号码"),
    "email": _l("电子邮箱"),
    "plate": _l("车牌号码"),
    "small_unit": _l("很小的单位名称（村、组、社区、站所）"),
}


def find_identifying_details(text: str) -> list[Finding]:
    folded = unicodedata.normalize("NFKC", text or "")
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()

    def add(kind: str, match: str) -> None:
        if (kind, match) not in seen:
            seen.add((kind, match))
            findings.append(Finding(kind, _LABELS[kind], match))

    for m in _RESIDENT_ID.finditer(folded):
        if _valid_resident_id(m.group()):
            add("resident_id", m.group())
    for m in _MOBILE.finditer(folded):
        add("mobile", m.group())
    for m in _EMAIL.finditer(folded):
        add("email", m.group())
    for m in _PLATE.finditer(folded):
        add("plate", m.group())
    for m in _SMALL_UNIT.finditer(folded):
        name = m.group().lstrip(_LEADING_FUNCTION_CHARS)
        if len(name) >= 3 and name not in _GENERIC_UNITS:
            add("small_unit", name)
    return findings
