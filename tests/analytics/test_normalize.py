"""Name normalisation: pure functions, many cases."""

from collections import Counter

import pytest

from app.analytics import normalize
from app.analytics.normalize import body_key, platform_key, province_of
from app.seeding import PLATFORMS

# Spellings that must count as one platform.
SAME = [
    ("XX学习APP", "xx学习 app", "ＸＸ学习ＡＰＰ", "Xx学习App", "xx学习", "XX 学习", "xx学习APP客户端"),
    ("平安乡村", "平安乡村小程序", "平安乡村微信小程序", "平安乡村 小程序", "「平安乡村」"),
    ("网格通", "网格通APP", "网格通app", "网格通ＡＰＰ", "网格通-APP", "网格通 App"),
    ("智慧党建", "智慧党建客户端", "智慧党建 客户端", "智慧党建平台", "智慧党建系统"),
    ("学习强国", "学习强国APP", "“学习强国”", "学习强国 ", " 学习强国"),
    ("i深圳", "I深圳", "i深圳app", "ｉ深圳"),
    ("融媒体", "融媒体公众号", "融媒体微信公众号", "融媒体订阅号"),
]

# Spellings that must stay apart.
DIFFERENT = [
    ("政务钉钉", "浙政钉"),
    ("乡村振兴信息平台", "防返贫监测系统"),
    ("防返贫监测系统", "全国防止返贫监测信息系统"),
    ("社区工作群", "网格员群"),
    ("whatsapp", "whats"),
    ("云课堂", "云"),
]


@pytest.mark.parametrize("group", SAME, ids=lambda g: g[0])
def test_spellings_of_one_platform_share_a_key(group):
    keys = {platform_key(name) for name in group}
    assert len(keys) == 1, {name: platform_key(name) for name in group}


@pytest.mark.parametrize("a,b", DIFFERENT)
def test_different_platforms_keep_different_keys(a, b):
    assert platform_key(a) != platform_key(b)


def test_full_width_becomes_half_width_and_case_folds():
    assert platform_key("ＸＸ学习ＡＰＰ") == "xx学习"
    assert normalize.simplify("ＡＢＣ　１２３") == "abc123"
    assert normalize.simplify("ÄBC") == "äbc"


def test_spaces_punctuation_and_symbols_are_dropped():
    assert normalize.simplify(" 网格·通 ") == "网格通"
    assert normalize.simplify("网格\t通\n") == "网格通"
    assert normalize.simplify("《网格通》（新版）") == "网格通新版"
    assert normalize.simplify("网格通®+") == "网格通"
    assert normalize.simplify("网格通™") == "网格通tm"  # NFKC spells the trade mark out
    assert normalize.simplify("网\u200b格通") == "网格通"  # zero-width space (a format character)


def test_a_name_that_is_only_a_suffix_is_kept():
    assert platform_key("APP") == "app"
    assert platform_key("ａｐｐ") == "app"
    assert platform_key("小程序") == "小程序"
    assert platform_key("平台") == "平台"
    assert platform_key("系统") == "系统"
    # stripping one suffix may leave another; the last one standing stays
    assert platform_key("app小程序") == "app"
    assert platform_key("平台APP") == "平台"


def test_suffixes_are_stripped_repeatedly():
    assert platform_key("平安乡村小程序平台") == "平安乡村"
    assert platform_key("网格通APP客户端") == "网格通"


def test_latin_words_ending_in_app_keep_their_letters():
    assert platform_key("WhatsApp") == "whatsapp"
    assert platform_key("Fit App") == platform_key("FitApp") == "fitapp"
    assert platform_key("i深圳 APP") == "i深圳"
    assert platform_key("ABC2 app") == "abc2app"  # a digit before: part of the name too


def test_blank_platforms():
    for blank in ("", "   ", "\u3000", None, "\n\t"):
        assert platform_key(blank) == normalize.BLANK


def test_a_name_of_only_symbols_is_not_blank():
    assert platform_key("🙂") not in ("", None)
    assert platform_key("——") not in ("", None)
    assert platform_key("🙂") != platform_key("——")
    assert platform_key("🙂 ") == platform_key("🙂")


def test_hostile_names_are_just_text():
    assert platform_key("<script>alert(1)</script>") == "scriptalert1script"
    assert platform_key("=HYPERLINK(\"x\")") == "hyperlinkx"


def test_seeded_platforms_collapse_to_the_expected_groups():
    keys = Counter(platform_key(name) for name in PLATFORMS)
    assert keys[platform_key("XX学习APP")] == 3
    assert keys[platform_key("智慧党建")] == 2
    assert keys[platform_key("平安乡村")] == 2
    assert keys[platform_key("网格通")] == 2
    assert keys[normalize.BLANK] == 1
    assert len(keys) == len(PLATFORMS) - 5


def test_body_names_drop_width_case_and_spaces_but_no_suffix():
    assert body_key("县委 组织部") == body_key("县委组织部") == body_key("县委组织部 ")
    assert body_key("ＸＸ县委宣传部") == body_key("xx县委宣传部")
    assert body_key("统计系统") == "统计系统"
    assert body_key("") == body_key(None) == body_key("  ") == normalize.BLANK
    assert body_key("县委组织部") != body_key("县委宣传部")


def test_most_frequent_spelling_is_the_label_and_ties_are_stable():
    assert normalize.most_frequent_spelling(Counter({"xx学习 app": 2, "XX学习APP": 5})) == "XX学习APP"
    tie = Counter({"b": 2, "a": 2})
    assert normalize.most_frequent_spelling(tie) == "a"
    assert normalize.most_frequent_spelling(Counter()) == ""
    assert normalize.ranked_spellings(Counter({"b": 1, "a": 1, "c": 3})) == [("c", 3), ("a", 1), ("b", 1)]


@pytest.mark.parametrize("region,province", [
    ("河南省", "河南省"),
    ("河南省周口市郸城县", "河南省"),
    ("河南周口", "河南省"),
    ("四川省凉山州", "四川省"),
    ("广西壮族自治区", "广西壮族自治区"),
    ("广西南宁", "广西壮族自治区"),
    ("内蒙古呼和浩特市", "内蒙古自治区"),
    ("新疆维吾尔自治区喀什地区", "新疆维吾尔自治区"),
    ("黑龙江省绥化市", "黑龙江省"),
    ("北京市朝阳区", "北京市"),
    ("重庆", "重庆市"),
    ("山西省太原市", "山西省"),
    ("陕西省榆林市", "陕西省"),
    ("江西省赣州市于都县", "江西省"),
    ("海南省", "海南省"),
    ("ＨＥ河南省", "河南省"),
    (" 湖 南 省 邵阳", "湖南省"),
    ("中国湖北省黄冈市", "湖北省"),
    ("周口市", normalize.UNKNOWN_REGION),
    ("某县", normalize.UNKNOWN_REGION),
    ("", normalize.BLANK),
    ("   ", normalize.BLANK),
    (None, normalize.BLANK),
])
def test_province_of(region, province):
    assert province_of(region) == province


def test_the_first_province_named_wins():
    assert province_of("河南省，原在湖北省工作") == "河南省"
    assert province_of("湖北省（河南省交界）") == "湖北省"


def test_every_province_is_found_by_its_full_and_short_names():
    for full, shorts in normalize.PROVINCES:
        assert province_of(full) == full
        for short in shorts:
            assert province_of(short + "某市") == full
