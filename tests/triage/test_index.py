"""The decrypted tip index: right contents, incremental sync, parallel build, and a lifetime bounded
by the sessions that hold it."""

import secrets
import threading
import time
import weakref
from datetime import timedelta

import pytest
from sqlalchemy import select

import crypto
from app import clock
from app.db import session_scope
from app.inspectors.models import OfficeGrant
from app.inspectors.services import open_grant, verify_password
from app.offices.models import OfficeKey
from app.reporting.models import Tip
from app.retention import services as retention
from app.triage import index as index_module
from app.triage.index import TipIndex
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture
def admin_keys(installed):
    with session_scope(installed.url) as db:
        inspector, private = verify_password(db, "admin", ADMIN_PASSWORD)
        keys = {}
        for grant in db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == inspector.id)):
            office_key = db.get(OfficeKey, grant.office_key_id)
            keys[office_key.id] = crypto.PrivateKey(open_grant(grant, office_key, private))
    return keys


def _view(installed, index, keys, holder="h1"):
    with session_scope(installed.url) as db:
        return {t.id: t for t in index.tips(db, keys, holder)}


def test_summaries_hold_every_field_but_the_account(installed, tips, admin_keys):
    tip_id = tips.create(platform="网格通APP", region="河南省", hours_per_week=7.5, description="不进缓存的经过")
    got = _view(installed, TipIndex(1800), admin_keys)[tip_id]
    assert got.content.platform == "网格通APP" and got.content.region == "河南省"
    assert got.content.hours_per_week == 7.5 and got.content.burden_types == ["work_groups"]
    assert got.content.description == ""
    assert got.status == "new" and got.revision == 0


def test_later_views_sync_changes_without_rebuilding(installed, tips, admin_keys, monkeypatch):
    first = tips.create()
    gone = tips.create(status="rectified")
    index = TipIndex(1800)
    assert set(_view(installed, index, admin_keys)) == {first, gone}

    def no_rebuild(*_args, **_kwargs):
        raise AssertionError("a later view rebuilt the index")

    monkeypatch.setattr(index_module, "_build", no_rebuild)
    with session_scope(installed.url) as db:  # an inspector-side change
        tip = db.get(Tip, first)
        tip.status, tip.assignee_id = "verifying", None
    new = tips.create(platform="新平台")  # a new arrival
    with session_scope(installed.url) as db:  # a deletion (retention)
        db.get(Tip, gone).closed_on = clock.today() - timedelta(days=365)
    with session_scope(installed.url) as db:
        retention.purge(db, clock.today())
    view = _view(installed, index, admin_keys)
    assert set(view) == {first, new}
    assert view[first].status == "verifying" and view[first].revision > 0
    assert view[new].content.platform == "新平台"


def test_parallel_build_gives_the_same_index(installed, tips, admin_keys, monkeypatch):
    ids = {tips.create(platform=f"平台{i}", hours_per_week=float(i)) for i in range(40)}
    inline = _view(installed, TipIndex(1800), admin_keys)
    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 5)
    parallel = _view(installed, TipIndex(1800), admin_keys)
    assert set(parallel) == set(inline) == ids
    for tip_id in ids:
        assert parallel[tip_id].content == inline[tip_id].content


@pytest.mark.parametrize("parallel", [False, True])
def test_rows_share_one_list_per_set_of_burden_types_and_keep_odd_values_apart(installed, tips, admin_keys,
                                                                              monkeypatch, parallel):
    """Read-only rows with the same burden types share one list (100,000 fewer objects for the
    collector); content only a hand-made ciphertext holds (1, True and 1.0 compare equal) is never
    merged."""
    same = [tips.create(burden_types=["work_groups", "checkin_ranking"]) for _ in range(3)]
    other = tips.create(burden_types=["work_groups"])
    odd = {tips.create(burden_types=[1]): [1], tips.create(burden_types=[True]): [True],
           tips.create(burden_types=[1.0]): [1.0]}
    if parallel:
        monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    view = _view(installed, TipIndex(1800), admin_keys)
    assert len({id(view[t].content.burden_types) for t in same}) == 1
    assert view[same[0]].content.burden_types == ["work_groups", "checkin_ranking"]
    assert view[other].content.burden_types == ["work_groups"]
    for tip_id, want in odd.items():
        got = view[tip_id].content.burden_types
        assert got == want and [type(code) for code in got] == [type(code) for code in want]


@pytest.mark.parametrize("office", ["default", "east"])
def test_parallel_build_reads_only_the_keys_tips_whichever_way_it_scans(installed, tips, other_office, office,
                                                                        monkeypatch):
    """default holds few of the table's tips (read through the key index), east most of them (read
    by ranges of id, other offices' rows skipped)."""
    mine = {"default": {tips.create(platform=f"本办{i}") for i in range(4)},
            "east": {tips.create(office="east", platform=f"东区{i}") for i in range(40)}}
    with session_scope(installed.url) as db:
        inspector, private = verify_password(db, "admin", ADMIN_PASSWORD)
        keys = {}
        for grant in db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == inspector.id)):
            office_key = db.get(OfficeKey, grant.office_key_id)
            if office_key.office.code == office:
                keys[office_key.id] = crypto.PrivateKey(open_grant(grant, office_key, private))
    assert keys
    inline = _view(installed, TipIndex(1800), keys)
    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    scans = []
    real_select = index_module._select_full

    def watched(key_ids, *, by_id_range=False):
        scans.append(by_id_range)
        return real_select(key_ids, by_id_range=by_id_range)

    monkeypatch.setattr(index_module, "_select_full", watched)
    parallel = _view(installed, TipIndex(1800), keys)
    assert set(parallel) == set(inline) == mine[office]
    assert all(parallel[t].content == inline[t].content for t in mine[office])
    assert scans and all(scans) is (office == "east")


def test_entries_die_with_their_last_holder(installed, tips, admin_keys, monkeypatch):
    tips.create()
    index = TipIndex(idle_seconds=1800)
    _view(installed, index, admin_keys, holder="alice")
    _view(installed, index, admin_keys, holder="bob")
    index.forget("alice")
    assert index.held_key_ids() == set(admin_keys)  # bob still holds it
    index.forget("bob")
    assert index.held_key_ids() == set()
    # idle expiry
    _view(installed, index, admin_keys, holder="carol")
    later = clock.now() + 1801
    monkeypatch.setattr(clock, "now", lambda: later)
    index.forget("nobody")  # any access sweeps
    assert index.held_key_ids() == set()


def test_a_holder_without_the_key_any_more_stops_holding(installed, tips, admin_keys):
    tips.create()
    index = TipIndex(1800)
    _view(installed, index, admin_keys, holder="dave")
    with session_scope(installed.url) as db:
        index.tips(db, {}, "dave")  # the same session, its grant revoked
    assert index.held_key_ids() == set()


def test_logout_drops_the_index(inspector, inspector_app, tips):
    tips.create()
    inspector.login()
    assert inspector.client.get("/").status_code == 200
    index = inspector_app.extensions["tipline_index"]
    assert index.held_key_ids()
    inspector.logout()
    assert index.held_key_ids() == set()


def test_tips_stored_with_an_earlier_date_are_picked_up(installed, tips, admin_keys):
    from datetime import date

    index = TipIndex(1800)
    first = tips.create()
    assert set(_view(installed, index, admin_keys)) == {first}
    old = tips.create(received_on=date(2024, 3, 5))  # a restore or a seed, not a submission
    assert set(_view(installed, index, admin_keys)) == {first, old}


def test_a_shredded_tips_derived_values_go_with_it(installed, tips, admin_keys):
    from app.analytics import services as analytics

    keep = tips.create(platform="留下的平台", imposer_name="留下的单位")
    gone = tips.create(status="rectified", platform="秘密平台X", imposer_name="秘密单位Y", region="某县Z村")
    index = TipIndex(1800)
    analytics._derive(list(_view(installed, index, admin_keys).values()))  # the dashboard's memos
    with session_scope(installed.url) as db:
        db.get(Tip, gone).closed_on = clock.today() - timedelta(days=3650)
    with session_scope(installed.url) as db:
        retention.purge(db, clock.today())
    view = _view(installed, index, admin_keys)
    assert set(view) == {keep}
    left = repr(view[keep].shared) + repr(view[keep].derived)
    assert "秘密" not in left and "某县Z村" not in left


def test_many_openers_count_each_tip_once_and_leave_the_gc_on(installed, tips, admin_keys, monkeypatch):
    import gc

    ids = {tips.create(platform=f"p{i}") for i in range(120)}
    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(index_module.os, "cpu_count", lambda: 4)
    with session_scope(installed.url) as db:
        rows = index_module._build(db, admin_keys)  # no holder: what scripts and publishing get
    assert sorted(r.id for r in rows) == sorted(ids)
    assert gc.isenabled()


def test_threads_sharing_the_gc_switch_leave_it_on():
    import gc
    import sys
    import threading
    import time

    from app.triage.index import without_cyclic_gc

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to hit the race if there is one
    try:
        stop = time.monotonic() + 1.5

        def worker() -> None:
            while time.monotonic() < stop:
                with without_cyclic_gc():
                    pass

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert gc.isenabled()


class _Cycle:
    """Garbage only the cyclic collector frees, holding a secret as a login form would."""

    def __init__(self, secret: str) -> None:
        self.secret, self.me = secret, self


def _dead_cycle() -> "weakref.ref[_Cycle]":
    garbage = _Cycle("口令-" + secrets.token_hex(4))
    return weakref.ref(garbage)  # the last strong reference goes here; the cycle keeps it alive


@pytest.fixture
def collections():
    """The generations of the collections that start from now on."""
    import gc

    started: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.collect()
    gc.callbacks.append(count)
    yield started
    gc.callbacks.remove(count)


def test_long_lived_work_moves_to_the_oldest_generation_unwalked_and_settle_frees_its_garbage(collections):
    """After an index build (long_lived) the last one out moves what is alive to the oldest
    generation without a collection: the young passes that follow never walk it. Garbage cycles
    made meanwhile are moved too, and settle() (one full collection) frees them. Nothing stays
    frozen."""
    import gc

    from app.triage.index import settle, without_cyclic_gc

    def in_generation(generation: int, thing: object) -> bool:
        return any(o is thing for o in gc.get_objects(generation=generation))

    with without_cyclic_gc(long_lived=True):
        with without_cyclic_gc():  # nested: only the outermost exit moves anything
            alive = _dead_cycle()
            kept = [[i] for i in range(1000)]
        assert not gc.isenabled() and alive() is not None
        assert in_generation(0, kept)
    assert gc.isenabled()
    assert collections == []  # nothing walked on the way out
    assert in_generation(2, kept) and not in_generation(0, kept)
    assert gc.get_freeze_count() == 0
    assert alive() is not None  # moved along, until the settling collection
    settle()
    assert alive() is None and collections == [2]
    settle()  # nothing moved since: no second walk
    assert collections == [2]
    assert len(kept) == 1000


def test_moved_garbage_is_freed_by_the_timer_when_nobody_settles(monkeypatch):
    """A response that is never closed, an exception Flask lets propagate: the collection still
    comes, SETTLE_AT_LATEST seconds after the move."""
    from app.triage.index import without_cyclic_gc

    monkeypatch.setattr(index_module, "SETTLE_AT_LATEST", 0.2)
    with without_cyclic_gc(long_lived=True):
        alive = _dead_cycle()
    assert alive() is not None
    deadline = time.monotonic() + 10
    while alive() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive() is None


def test_long_lived_work_that_fails_collects_at_once(collections):
    from app.triage.index import without_cyclic_gc

    with pytest.raises(RuntimeError):
        with without_cyclic_gc(long_lived=True):
            alive = _dead_cycle()
            raise RuntimeError("an opener died")
    assert alive() is None and collections == [2]


def test_long_lived_work_ending_while_another_thread_is_inside_leaves_the_collection_to_it(collections):
    """Only the long-lived work itself may move objects unwalked (its caller settles after it).
    When another thread is still inside, the last one out collects, as nobody settles after it."""
    import gc

    from app.triage.index import without_cyclic_gc

    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with without_cyclic_gc():
            inside.set()
            assert leave.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    with without_cyclic_gc(long_lived=True):
        alive = _dead_cycle()
    assert not gc.isenabled() and alive() is not None
    leave.set()
    thread.join(10)
    assert gc.isenabled()
    assert alive() is None and collections == [2]


def _garbage_during_builds(monkeypatch) -> list:
    """A dead cycle holding a secret made inside every build, as another request's login form
    could be while the collector is off."""
    made: list = []
    real = index_module._build_rows

    def build_rows(*args, **kwargs):
        made.append(_dead_cycle())
        return real(*args, **kwargs)

    monkeypatch.setattr(index_module, "_build_rows", build_rows)
    return made


def test_a_large_build_in_a_view_frees_its_garbage_once_the_response_is_sent(inspector, tips, monkeypatch,
                                                                           collections):
    """The view that builds a large entry sends its page without a full collection (~0.17 s at
    100,000 tips); the garbage made meanwhile is freed once the response is closed, after the
    background work, by one collection."""
    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(index_module, "SETTLE_AT_LATEST", 600.0)  # not the timer: the close
    for i in range(4):
        tips.create(platform=f"平台{i}")
    assert inspector.login().status_code in (302, 303)
    made = _garbage_during_builds(monkeypatch)
    collections.clear()
    response = inspector.client.get("/", buffered=False)
    assert response.status_code == 200
    assert 2 not in collections
    assert len(made) == 1 and made[0]() is not None
    response.close()
    _finish_completions()
    assert made[0]() is None
    assert collections.count(2) == 1


def test_a_large_build_behind_an_error_page_still_frees_its_garbage(inspector, tips, monkeypatch):
    """An error page skips the background work, but not the collection."""
    from app.triage import services as triage_services

    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(index_module, "SETTLE_AT_LATEST", 600.0)
    for i in range(3):
        tips.create(platform=f"平台{i}")
    assert inspector.login().status_code in (302, 303)
    made = _garbage_during_builds(monkeypatch)
    real = triage_services.queue

    def failing_after_the_build(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("a view that fails after building")

    monkeypatch.setattr(triage_services, "queue", failing_after_the_build)
    monkeypatch.setitem(inspector.client.application.config, "PROPAGATE_EXCEPTIONS", False)
    response = inspector.client.get("/", buffered=False)
    assert response.status_code == 500
    assert made[0]() is not None
    response.close()
    assert made[0]() is None and not _completions()


def test_no_decrypted_text_outlives_the_session_after_queue_and_dashboard(inspector, tips):
    """The first views build the index and the dashboard's facts (long-lived work); after logout
    and a collection, no object anywhere in the process holds the tip's decrypted text."""
    import gc

    marker = "绝密描述-只在详情页解密-" + secrets.token_hex(4)  # built at run time: never in a cached source line
    tip_id = tips.create(description=marker, platform=marker)
    assert inspector.login().status_code in (302, 303)
    assert marker in inspector.client.get(f"/tips/{tip_id}").get_data(as_text=True)
    assert inspector.client.get("/").status_code == 200
    assert inspector.client.get("/analytics/").status_code == 200
    inspector.logout()
    gc.collect()
    frozen = gc.get_freeze_count()
    gc.unfreeze()  # anything frozen would be invisible to get_objects (and never collected)
    assert (frozen, _holders_of(marker)) == (0, set())


def _holders_of(text: str) -> set[str]:
    """The kinds of live objects that refer to a string containing `text` (no closure here: a
    closure's cell would itself hold the text)."""
    import gc

    found = set()
    for holder in gc.get_objects():
        for value in gc.get_referents(holder):
            if type(value) is str and text in value:
                found.add(type(holder).__name__)
                break
    return found


def _completions() -> list:
    return [t for t in threading.enumerate() if t.name == "index completion"]


def _finish_completions() -> None:
    for thread in _completions():
        thread.join(30)
    assert not _completions()


def test_a_large_new_entry_gets_its_facts_once_its_view_has_been_sent(inspector, tips, monkeypatch):
    """The queue's first view does not wait for the dashboard's facts: they are made after its
    response is sent, so the dashboard that follows counts at once."""
    from app.analytics import services as analytics

    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    for i in range(5):
        tips.create(platform=f"平台{i}")
    assert inspector.login().status_code in (302, 303)
    real, made_by = analytics._derive, []

    def derive(rows):
        made_by.append((threading.current_thread().name, sum(row.derived is None for row in rows)))
        real(rows)

    monkeypatch.setattr(analytics, "_derive", derive)
    response = inspector.client.get("/", buffered=False)  # as a server holds it until it has sent it
    assert response.status_code == 200
    assert made_by == [] and not _completions()  # nothing before the response is sent
    response.close()  # what the server does once the page has gone out
    _finish_completions()
    assert made_by == [("index completion", 5)]
    index = inspector.client.application.extensions["tipline_index"]
    rows = [row for entry in index._entries.values() for row in entry.rows.values()]
    assert len(rows) == 5 and all(isinstance(row.derived, analytics._Facts) for row in rows)
    page = inspector.client.get("/analytics/").get_data(as_text=True)
    assert made_by == [("index completion", 5)]  # the dashboard found every fact made
    assert all(f"平台{i}" in page for i in range(5))


def test_a_dashboard_during_the_completion_waits_for_it_rather_than_doing_it_twice(inspector, tips, monkeypatch):
    from app.analytics import services as analytics

    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    for i in range(6):
        tips.create(platform=f"平台{i}")
    assert inspector.login().status_code in (302, 303)
    real, made_by, started = analytics._derive, [], threading.Event()

    def slow_derive(rows):
        made_by.append((threading.current_thread().name, sum(row.derived is None for row in rows)))
        if threading.current_thread().name == "index completion":
            started.set()
            time.sleep(0.5)  # the dashboard below comes meanwhile
        real(rows)

    monkeypatch.setattr(analytics, "_derive", slow_derive)
    inspector.client.get("/").close()
    assert started.wait(10)
    assert inspector.client.get("/analytics/").status_code == 200
    _finish_completions()
    assert made_by[0] == ("index completion", 6)
    assert sum(n for _name, n in made_by) == 6  # each tip's facts made once: the view waited


def test_a_logout_during_the_completion_stops_it_and_keeps_nothing(inspector, tips, monkeypatch):
    """The background work holds the entry weakly and a chunk at a time: once the last holder has
    gone, the rest is neither derived nor kept alive."""
    import gc

    from app.analytics import services as analytics

    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    monkeypatch.setattr(index_module, "COMPLETION_CHUNK", 2)
    marker = "绝密平台-补全中登出-" + secrets.token_hex(4)
    for _ in range(6):
        tips.create(platform=marker)
    assert inspector.login().status_code in (302, 303)
    real, chunks, started, go_on = analytics._derive, [], threading.Event(), threading.Event()

    def slow_derive(rows):
        chunks.append(len(rows))
        if len(chunks) == 1:
            started.set()
            assert go_on.wait(10)  # the inspector logs out while the first chunk is under way
        real(rows)

    monkeypatch.setattr(analytics, "_derive", slow_derive)
    inspector.client.get("/").close()
    assert started.wait(10)
    inspector.logout()
    # Only the chunk under way is still alive (the work never held the whole entry).
    assert _contents_with_platform(marker) == 2
    go_on.set()
    _finish_completions()
    assert chunks == [2]
    gc.collect()
    assert _holders_of(marker) == set()


def test_a_response_still_being_sent_keeps_no_summary_alive_after_logout(inspector, tips, monkeypatch):
    """The work waits for the response to be sent, holding only tip ids and the entry weakly: a
    slow client keeps no decrypted row alive past the session."""
    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    marker = "绝密平台-慢客户端-" + secrets.token_hex(4)
    for _ in range(3):
        tips.create(platform=marker)
    assert inspector.login().status_code in (302, 303)
    response = inspector.client.get("/", buffered=False)  # not sent yet
    assert response.status_code == 200
    inspector.logout()
    assert _contents_with_platform(marker) == 0
    response.close()
    _finish_completions()


def test_no_decrypted_text_outlives_the_session_after_a_completed_entry(inspector, tips, monkeypatch):
    import gc

    monkeypatch.setattr(index_module, "PARALLEL_THRESHOLD", 2)
    marker = "绝密平台-后台补全-" + secrets.token_hex(4)
    for _ in range(3):
        tips.create(platform=marker)
    assert inspector.login().status_code in (302, 303)
    inspector.client.get("/").close()
    _finish_completions()
    assert inspector.client.get("/analytics/").status_code == 200
    inspector.logout()
    gc.collect()
    assert _holders_of(marker) == set()


def _contents_with_platform(platform: str) -> int:
    """How many decrypted summaries with this platform are alive, after a collection (no closure:
    see _holders_of)."""
    import gc

    from app.reporting.services import TipContent

    gc.collect()
    count = 0
    for o in gc.get_objects():
        if type(o) is TipContent and o.platform == platform:
            count += 1
    return count
