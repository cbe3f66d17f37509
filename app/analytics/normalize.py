"""Names as reporters type them, reduced to keys that count the same thing once.

Pure functions, no Flask and no database: "XX学习APP", "xx学习 app" and "ＸＸ学习ＡＰＰ" all become
"xx学习". The raw spellings stay visible on the dashboard; only the grouping uses the key.
"""

import unicodedata
from collections import Counter

BLANK = ""  # the key of a field left empty (shown as （未填）)

# What reporters add to a platform's name without meaning another platform. Longest first, so
# that "微信小程序" goes before "小程序" would leave "微信" behind.
PLATFORM_SUFFIXES = (
    "微信小程序", "微信公众号", "手机客户端", "小程序", "公众号", "服务号", "订阅号", "客户端",
    "移动端", "手机版", "平台", "系统", "软件", "app", "apk",
)
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _is_noise(char: str) -> bool:
    # Punctuation (P*), spaces (Z*), control and format characters (C*) and symbols (S*: ＋, ™, emoji).
    return unicodedata.category(char)[0] in "PZCS"


def simplify(raw: str | None) -> str:
    """NFKC (full width → half width), casefold, and drop spaces, punctuation and symbols."""
    # NFKC again after casefolding, as Unicode's caseless matching does: folding can leave
    # characters that compatibility normalisation would still change.
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw or "").casefold())
    return "".join(char for char in text if not _is_noise(char))


def _strip_suffix(name: str) -> str:
    for suffix in PLATFORM_SUFFIXES:
        if not name.endswith(suffix) or len(name) == len(suffix):
            continue  # keep the name when stripping would leave nothing ("APP" stays "app")
        rest = name[: -len(suffix)]
        if suffix.isascii() and rest[-1] in _ASCII_ALNUM:
            continue  # a Latin word ending in the letters "app" ("whatsapp") is not a suffix
        return rest
    return name


def _fallback_key(raw: str) -> str:
    """A name made only of symbols or punctuation ("🙂", "——") is still a name, not a blank."""
    return "".join(unicodedata.normalize("NFKC", raw).casefold().split())


def platform_key(raw: str | None) -> str:
    """The grouping key of a platform, app or work-group name; BLANK for an empty field."""
    if raw is None or not raw.strip():
        return BLANK
    name = simplify(raw)
    if not name:
        return _fallback_key(raw)
    while True:
        shorter = _strip_suffix(name)
        if shorter == name:
            return name
        name = shorter  # "平安乡村小程序平台" → "平安乡村小程序" → "平安乡村"


def body_key(raw: str | None) -> str:
    """The grouping key of an issuing body's name (width, case, spaces, punctuation; no suffixes:
    "县委组织部" and "县委 组织部" are one body, but "…系统" is part of a body's name)."""
    if raw is None or not raw.strip():
        return BLANK
    return simplify(raw) or _fallback_key(raw)


def most_frequent_spelling(spellings: Counter[str]) -> str:
    """The label of a group: its most frequent raw spelling (ties: the first in code-point order,
    so that the label does not depend on the order the tips were read in)."""
    if not spellings:
        return ""
    return min(spellings.items(), key=lambda item: (-item[1], item[0]))[0]


def ranked_spellings(spellings: Counter[str]) -> list[tuple[str, int]]:
    return sorted(spellings.items(), key=lambda item: (-item[1], item[0]))


# ---------------------------------------------------------------------------------------------
# Regions: the province-level division (省、自治区、直辖市、特别行政区) a free-text region names.

PROVINCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("北京市", ("北京",)), ("天津市", ("天津",)), ("上海市", ("上海",)), ("重庆市", ("重庆",)),
    ("河北省", ("河北",)), ("山西省", ("山西",)), ("辽宁省", ("辽宁",)), ("吉林省", ("吉林",)),
    ("黑龙江省", ("黑龙江",)), ("江苏省", ("江苏",)), ("浙江省", ("浙江",)), ("安徽省", ("安徽",)),
    ("福建省", ("福建",)), ("江西省", ("江西",)), ("山东省", ("山东",)), ("河南省", ("河南",)),
    ("湖北省", ("湖北",)), ("湖南省", ("湖南",)), ("广东省", ("广东",)), ("海南省", ("海南",)),
    ("四川省", ("四川",)), ("贵州省", ("贵州",)), ("云南省", ("云南",)), ("陕西省", ("陕西",)),
    ("甘肃省", ("甘肃",)), ("青海省", ("青海",)), ("台湾省", ("台湾",)),
    ("内蒙古自治区", ("内蒙古",)), ("广西壮族自治区", ("广西",)), ("西藏自治区", ("西藏",)),
    ("宁夏回族自治区", ("宁夏",)), ("新疆维吾尔自治区", ("新疆",)),
    ("香港特别行政区", ("香港",)), ("澳门特别行政区", ("澳门",)),
)
UNKNOWN_REGION = "?"  # a region was written but names no province-level division
_PROVINCE_NAMES = sorted(((name, full) for full, shorts in PROVINCES for name in (full, *shorts)),
                         key=lambda pair: -len(pair[0]))


def province_of(region: str | None) -> str:
    """The first province-level name found in a free-text region, as its full official name.

    Kept simple on purpose: the earliest match in the text wins ("河南省周口市" → 河南省,
    "四川凉山" → 四川省); a city without its province ("周口市") is UNKNOWN_REGION, and an empty
    field is BLANK. Short names may in rare cases hit inside another word; the raw regions stay in
    the tips for anyone who needs more."""
    if region is None or not region.strip():
        return BLANK
    text = "".join(unicodedata.normalize("NFKC", region).split())
    best: tuple[int, int, str] | None = None
    for name, full in _PROVINCE_NAMES:
        index = text.find(name)
        if index >= 0 and (best is None or (index, -len(name)) < (best[0], best[1])):
            best = (index, -len(name), full)
    return best[2] if best else UNKNOWN_REGION

