"""The step's parts: mechanism plug-ins, the backbone registry, and stages that do what
their docstrings say."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from marec_env.config import MarketConfig
from marec_env.core.allocation import Page
from marec_env.market import Market
from marec_env.market_env import MarketEnv
from marec_env.mechanisms import MECHANISMS, GSPAuction, Mechanism, make_mechanism
from marec_env.observation import ObservationLayout
from marec_env.recommenders import BACKBONE_KINDS, backbone_class, backbone_id
from marec_env.step import propose
from marec_env.world import PublicCounts
from tests.conftest import MARKET_IDS, small

FAST = {"backbones": ("cf", "content", "popularity"), "n_items": 300, "n_users": 40}
FAST["initial_items"] = 240


def _proposals(rng, worlds=64, agents=3, k=6, n_items=12) -> np.ndarray:
    """(W, N, K) distinct items per agent, overlapping across agents (duplicates happen)."""
    return np.stack(
        [[rng.permutation(n_items)[:k] for _ in range(agents)] for _ in range(worlds)]
    ).astype(np.int64)


def test_every_mechanism_has_a_preset():
    used = {marec_env.make_config(env_id).allocation for env_id in MARKET_IDS}
    assert used == set(MECHANISMS)


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_mechanism_decodes_every_action_once(name):
    config = MarketConfig(allocation=name, **FAST)
    mechanism = make_mechanism(config)
    assert config.n_actions == config.candidates * mechanism.levels
    actions = np.arange(config.n_actions).reshape(1, -1)
    chosen, bids = mechanism.decode(actions)
    assert ((chosen >= 0) & (chosen < config.candidates)).all()
    assert ((bids > 0) & (bids <= 1)).all() and bids.dtype == np.float32
    assert len(set(zip(chosen[0].tolist(), bids[0].tolist()))) == config.n_actions


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_mechanism_fills_a_valid_page(name, rng):
    config = MarketConfig(allocation=name, slots=5, **FAST)
    mechanism = make_mechanism(config)
    proposals = _proposals(rng)
    bids = rng.uniform(0.1, 1.0, proposals.shape[:2]).astype(np.float32)
    counts = PublicCounts.zeros(len(proposals), 12)
    counts.item_impressions[:] = rng.integers(0, 20, counts.item_impressions.shape)
    counts.item_clicks[:] = rng.integers(0, 1 + counts.item_impressions)
    page = mechanism.fill_page(proposals, bids, counts, rng)
    assert page.item.shape == page.owner.shape == page.price.shape == (len(proposals), 5)
    shown = page.item >= 0
    # every shown slot has its owner; a joint slate's wasted slot keeps the agent that wasted it
    assert (page.owner[shown] >= 0).all() and ((page.owner >= -1) & (page.owner < 3)).all()
    assert (page.price >= 0).all() and (page.price[~shown] == 0).all()
    for w, s in zip(*np.nonzero(shown)):
        assert page.item[w, s] in proposals[w, page.owner[w, s]]
    for row in np.where(shown, page.item, -np.arange(1, 6)):
        assert len(set(row.tolist())) == 5, row


def test_auction_quality_score_is_the_public_click_rate():
    proposals = np.array([[[0, 1], [2, 3]]])
    counts = PublicCounts.zeros(1, 4)
    counts.item_clicks[0] = [0, 5, 9, 1]
    counts.item_impressions[0] = [10, 10, 10, 10]
    score = GSPAuction.quality_score(proposals, counts)
    np.testing.assert_allclose(score[0], [[1 / 12, 6 / 12], [10 / 12, 2 / 12]], rtol=1e-6)
    auction = make_mechanism(MarketConfig(allocation="auction", slots=2, **FAST))
    page = auction.fill_page(proposals, np.ones((1, 2), np.float32), counts, None)
    assert page.item[0].tolist() == [2, 0]  # equal bids: the better click rate ranks first


class LeaderTakesAll(Mechanism):
    """A test plug-in: agent 0 fills every slot; two bid levels that nobody pays."""

    name = "leader-takes-all"
    description = "agent 0's first S proposals"

    @classmethod
    def levels_for(cls, config: MarketConfig) -> int:
        return 2

    def fill_page(self, proposals, bids, counts, rng) -> Page:
        item = proposals[:, 0, : self.slots].copy()
        return Page(item, np.zeros_like(item), np.zeros(item.shape, np.float32))


def test_a_new_mechanism_plugs_in_without_touching_the_step(monkeypatch, rng):
    monkeypatch.setitem(MECHANISMS, LeaderTakesAll.name, LeaderTakesAll)
    config = MarketConfig(allocation=LeaderTakesAll.name, slots=3, candidates=4, **FAST)
    env = MarketEnv(config)
    assert env.action_space("recommender_0").n == 8 == config.n_actions
    env.reset(seed=0)
    for _ in range(10):
        actions = {a: int(rng.integers(8)) for a in env.agents}
        leader = env.market.cand_items[0, 0].copy()
        _, rewards, _, _, infos = env.step(actions)
        page = env.market.last_page.item[0]
        assert page[0] == leader[actions["recommender_0"] // 2]  # its chosen candidate leads
        assert set(page.tolist()) <= set(leader.tolist())
        assert infos["recommender_0"]["slot_share"] == 1.0
        assert infos["recommender_1"]["slot_share"] == infos["recommender_2"]["slot_share"] == 0
        assert infos["recommender_0"]["payment"] == 0.0
        assert all(np.isfinite(list(rewards.values())))
    assert env.action_masks()["recommender_0"].shape == (8,)
    assert env.oracle_action_values()["recommender_0"].shape == (8,)


def test_backbone_registry_is_the_one_list():
    assert BACKBONE_KINDS == ("cf", "content", "text", "popularity")  # backbone_id is v0
    for kind in BACKBONE_KINDS:
        assert backbone_class(kind).kind == kind
    env = marec_env.parallel_env("marec/mixed-v0", **FAST)
    _, infos = env.reset(seed=0)
    for agent, kind in env.backbone_kinds.items():
        assert infos[agent]["backbone_id"] == backbone_id(kind)
    with pytest.raises(marec_env.ConfigError, match="backbones"):
        MarketConfig(backbones=("cf", "bandit"))


def test_propose_puts_the_chosen_candidate_first_and_keeps_the_rest_in_order(rng):
    items = _proposals(rng, worlds=8, agents=2, k=5)
    chosen = rng.integers(5, size=(8, 2))
    proposals = propose(items, chosen)
    for w, i in np.ndindex(8, 2):
        rest = [x for c, x in enumerate(items[w, i]) if c != chosen[w, i]]
        assert proposals[w, i].tolist() == [items[w, i, chosen[w, i]], *rest]


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_public_counts_are_the_pages_shown_and_clicked(env_id, rng):
    config = marec_env.make_config(env_id, **{**small(env_id), **FAST})
    market = Market(config, num_worlds=4)
    market.seed(np.random.SeedSequence(2))
    market.reset_worlds(np.arange(4))
    shown = np.zeros((4, config.n_items), np.int64)
    clicked = np.zeros((4, config.n_items), np.int64)
    for _ in range(40):
        market.step(rng.integers(config.n_actions, size=(4, config.n_agents)))
        page, choice = market.last_page, market.last_choice
        for w in range(4):
            items = page.item[w][page.item[w] >= 0]
            np.add.at(shown[w], items, 1)
            if choice[w] < config.slots:
                clicked[w, page.item[w, choice[w]]] += 1
    counts = market.world.counts
    np.testing.assert_array_equal(counts.item_impressions, shown)
    np.testing.assert_array_equal(counts.item_clicks, clicked)
    np.testing.assert_array_equal(counts.clicks_total, clicked.sum(axis=1))


def test_matrix_game_uses_the_shared_layout_and_checks():
    game = marec_env.parallel_env("marec/matrix-game-v0", observation="dict")
    market = ObservationLayout(3, 2).slices
    assert set(game.obs_layout) <= set(market)
    for part in ("cand_score", "cand_age", "cand_popularity", "cand_valid", "agent"):
        width = game.obs_layout[part].stop - game.obs_layout[part].start
        assert width == market[part].stop - market[part].start, part
    obs, _ = game.reset(seed=0)
    assert obs["recommender_0"]["action_mask"].tolist() == [1, 1, 1]
    # The market's action checks and error classes, with the game's own error on top.
    with pytest.raises(marec_env.ActionError, match=r"recommender_1.*out of range"):
        game.step({"recommender_0": 0, "recommender_1": 3})
    with pytest.raises(marec_env.ActionError, match="missing"):
        game.step({"recommender_0": 0})
    with pytest.raises(marec_env.ConfigError, match="did you mean max_cycles"):
        marec_env.parallel_env("marec/matrix-game-v0", max_cycle=2)
    game.step({"recommender_0": 0, "recommender_1": 1})
    with pytest.raises(marec_env.EpisodeOverError, match="reset"):
        game.step({"recommender_0": 0, "recommender_1": 1})


def test_advance_runs_every_named_stage_once_in_order(monkeypatch, rng):
    from marec_env import step as pipeline

    config = MarketConfig(allocation="auction", **FAST)
    market = Market(config, num_worlds=2)
    market.seed(np.random.SeedSequence(0))
    market.reset_worlds(np.arange(2))
    calls: list[str] = []

    def traced(name, stage):
        def run(*args, **kwargs):
            calls.append(name)
            return stage(*args, **kwargs)

        return run

    for name in pipeline.STAGES:
        monkeypatch.setattr(pipeline, name, traced(name, getattr(pipeline, name)))
    market.step(rng.integers(config.n_actions, size=(2, config.n_agents)))
    assert calls == list(pipeline.STAGES)
