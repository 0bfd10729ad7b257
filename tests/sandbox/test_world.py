"""The seeded world: deterministic, sized by parameters, big worlds cheap to build."""

from __future__ import annotations

import pytest

from wedraw.sandbox.demo import DEFAULTS, demo_accounts
from wedraw.sandbox.world import World, WorldParams, person_profile

DEMO = demo_accounts({})


def world(**params) -> World:
    return World(WorldParams(demo=DEMO, callback_base=None, **params))


def test_same_seed_same_world_other_seed_other_ids():
    one, two, other = world(fans=50, members=10), world(fans=50, members=10), world(fans=50, members=10, seed=2)
    oa = DEMO.official.appid
    assert one.accounts[oa].users.openids == two.accounts[oa].users.openids
    corp_id = DEMO.wecom.corp_id
    assert list(one.corps[corp_id].external_contacts) == list(two.corps[corp_id].external_contacts)
    assert one.accounts[oa].templates.keys() == two.accounts[oa].templates.keys()
    assert set(one.accounts[oa].users.openids).isdisjoint(other.accounts[oa].users.openids)


def test_benchmark_sized_world_builds_lazily():
    big = world(fans=100_000, members=50_000)
    fans = big.accounts[DEMO.official.appid].users
    assert len(fans) == 105_000 and fans.subscribed_count == 100_000
    assert len(fans._records) == 0  # no fan record exists until something reads it
    corp = big.corps[DEMO.wecom.corp_id]
    assert len(corp.members) == 50_000 and len(corp.external_contacts) == 25_000
    assert len(big.accounts[DEMO.miniprogram.appid].users) == 50_000


def test_seeded_rules_documented_in_the_world():
    w = world(fans=20, members=5)
    fans = w.accounts[DEMO.official.appid].users
    assert fans.at(0).last_interaction > w.built_at - 48 * 3600 > fans.at(1).last_interaction
    assert fans.tags_of(0) == {100} and fans.tags_of(1) == set() and fans.tags_of(3) == {103}
    assert not fans.is_subscribed(20)  # 20 // 20 = 1 ex-follower after the fans
    mini = w.accounts[DEMO.miniprogram.appid].users
    seed = w.params.seed
    assert person_profile(seed, mini.at(2).person)["unionid"] == person_profile(seed, fans.at(2).person)["unionid"]
    assert mini.at(1).person != fans.at(1).person


def test_departments_form_a_tree_and_members_spread_over_it():
    corp = world(fans=5, members=100, departments=9).corps[DEMO.wecom.corp_id]
    assert corp.subtree(1) == list(range(1, 10))
    assert corp.subtree(2) == [2, 5] and corp.subtree(4) == [4, 8, 9]
    assert {d for m in corp.members.values() for d in m.department} == set(range(1, 10))
    # every 50 members, one is disabled and one has not activated
    assert sorted(m.status for m in corp.members.values() if m.status != 1) == [2, 2, 4, 4]


def test_reset_keeps_the_world_object_and_rebuilds_state():
    w = world(fans=10)
    w.accounts[DEMO.official.appid].menu = {"button": []}
    w.clock.advance(100)
    w.reset(fans=30)
    assert w.accounts[DEMO.official.appid].menu is None and w.clock.offset == 0
    assert w.accounts[DEMO.official.appid].users.subscribed_count == 30


def test_demo_credentials_from_the_environment():
    custom = demo_accounts({"WEDRAW_DEMO_WECHAT_APPID": "wxcustom0000000001", "WEDRAW_DEMO_WECOM_AGENT_ID": "7"})
    assert custom.official.appid == "wxcustom0000000001" and custom.wecom.agent_id == 7
    assert custom.official.secret == DEFAULTS["WEDRAW_DEMO_WECHAT_SECRET"]
    with pytest.raises(SystemExit, match="WEDRAW_DEMO_WECHAT_AES_KEY"):
        demo_accounts({"WEDRAW_DEMO_WECHAT_AES_KEY": "too-short"})
    with pytest.raises(SystemExit, match="WEDRAW_DEMO_WECOM_AGENT_ID"):
        demo_accounts({"WEDRAW_DEMO_WECOM_AGENT_ID": "seven"})


def test_negative_sizes_are_refused():
    with pytest.raises(ValueError):
        WorldParams(fans=-1)
