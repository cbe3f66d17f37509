"""The dashboard derives each tip's facts through memos on the raw fields (analytics._derive); they
must be exactly what the plain derivation (_new_facts) gives, whatever the content holds."""

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from app.analytics import services as analytics
from app.reporting.services import TipContent
from app.triage.index import IndexedTip

PLATFORMS = ["网格通APP", " 网格通app ", "学习强国", "", "  ", "钉钉工作群", "WeChat"]
BODIES = ["县委宣传部", " 县委宣传部 ", "", "市委组织部", "乡政府"]
REGIONS = ["河南省周口市", "河南", "", "广东省深圳市南山区", "某县"]
LEVELS = ["county", "township", "city", "", "bogus"]
BURDENS = ["checkin_ranking", "app_install", "study_hours", "made_up", "other"]
ODD = st.one_of(st.none(), st.integers(-3, 200), st.just(10**400), st.booleans(), st.lists(st.integers(), max_size=2), st.text(max_size=3))


def field(choices):
    return st.one_of(st.sampled_from(choices), st.sampled_from(choices), st.text(max_size=6), ODD)


contents = st.builds(
    TipContent,
    burden_types=st.one_of(st.lists(st.sampled_from(BURDENS), max_size=4), st.lists(ODD, max_size=2), ODD),
    platform=field(PLATFORMS), imposer_level=field(LEVELS), imposer_name=field(BODIES),
    frequency=st.just("daily"),
    hours_per_week=st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, 6.0, 168.0, 200.0, -1.0]),
                             st.floats(allow_nan=True), ODD),
    region=field(REGIONS), description=st.just(""),
)


def plain(facts: analytics._Facts) -> tuple:
    def share(s: analytics._Share) -> tuple:
        return s.key, s.spelling, s.hours, s.capped  # 0.0 and -0.0 share one interned share
    return share(facts.hours), facts.burdens, share(facts.platform), share(facts.body), facts.level, facts.province


def indexed(content: TipContent, shared: dict) -> IndexedTip:
    return IndexedTip("t", 1, 1, "new", date(2026, 1, 1), None, None, None, None, 0, content, shared=shared)


@settings(max_examples=400, deadline=None)
@given(st.lists(contents, min_size=1, max_size=30))
def test_memoised_facts_equal_the_plain_derivation(batch: list[TipContent]) -> None:
    shared: dict = {}
    tips = [indexed(content, shared) for content in batch + batch]  # every value seen twice: memo hits
    analytics._derive(tips)
    for tip in tips:
        assert plain(tip.derived) == plain(analytics._new_facts(tip.content, {}))
    # within an entry, equal shares are one object (the dashboard counts them by identity)
    for first, second in zip(tips[:len(batch)], tips[len(batch):], strict=True):
        assert first.derived.platform is second.derived.platform
        assert first.derived.body is second.derived.body


def test_a_shred_during_a_derivation_leaves_no_shredded_value_in_the_entry(monkeypatch):
    """A dashboard derives facts outside the index lock; a sync in another thread may shred a tip
    meanwhile. The entry then gets a new shared dict, so the derivation's late writes land in the
    old one, which nothing keeps."""
    from app.analytics import normalize
    from app.triage.index import _Entry

    def tip(tip_id: str, platform: str, body: str) -> IndexedTip:
        content = TipContent(["app_install"], platform, "county", body, "daily", 3.0, "河南省某县", "")
        return IndexedTip(tip_id, 1, 1, "new", date(2026, 1, 1), None, None, None, None, 0, content)

    keep, gone = tip("keep", "留下的平台", "留下的单位"), tip("gone", "秘密平台X", "秘密单位Y")
    entry = _Entry([keep, gone], revision=0, synced_on=date(2026, 1, 1))
    real = normalize.platform_key

    def platform_key(spelling: str) -> str:
        if "gone" in entry.rows:  # what _sync does when retention has shredded "gone"
            del entry.rows["gone"]
            entry.renew_shared()
        return real(spelling)

    monkeypatch.setattr(normalize, "platform_key", platform_key)
    analytics._derive([keep, gone])  # this request took its list before the shred
    assert "秘密" not in repr(entry.shared) and "秘密" not in repr(keep.shared)
