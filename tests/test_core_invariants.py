"""Invariants of the world: choice, allocation, exposure metrics, catalog, caches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import marec_env
from marec_env.core import allocation
from marec_env.core.catalog import generate_catalog
from marec_env.core.choice import (
    CHOICE_FUNCTIONS,
    position_weights,
    sample_choice,
)
from marec_env.core.metrics import ExposureTracker
from marec_env.market import Market
from marec_env.recommenders.candidates import CandidateCache, top_k
from tests.conftest import MARKET_IDS, small


@pytest.mark.parametrize("model", sorted(CHOICE_FUNCTIONS))
def test_choice_probabilities_sum_to_one_and_skip_empty_slots(model, rng):
    utility = rng.normal(size=(500, 5)) * 3
    shown = rng.random((500, 5)) > 0.3
    probs = CHOICE_FUNCTIONS[model](utility, shown, position_weights(5, 1.0), 2.0, 1.0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert (probs >= 0).all()
    assert (probs[:, :-1][~shown] == 0).all()


def test_mnl_position_bias_and_utility_order():
    weights = position_weights(3, 1.0)
    same = CHOICE_FUNCTIONS["mnl"](np.zeros((1, 3)), np.ones((1, 3), bool), weights, 1.0, 0.0)
    assert same[0, 0] > same[0, 1] > same[0, 2]
    better = CHOICE_FUNCTIONS["mnl"](
        np.array([[0.0, 0.0, 5.0]]), np.ones((1, 3), bool), weights, 1.0, 0.0
    )
    assert better[0, 2] > better[0, 0]


def test_sampled_choices_match_probabilities(rng):
    probs = np.tile(np.array([[0.1, 0.3, 0.2, 0.4]]), (40_000, 1))
    draws = sample_choice(probs, rng.random(40_000))
    freq = np.bincount(draws, minlength=4) / 40_000
    np.testing.assert_allclose(freq, probs[0], atol=0.01)  # ~4 standard errors


def _proposals(rng, n=200, agents=3, k=6, items=12):
    return np.stack(
        [np.stack([rng.choice(items, k, replace=False) for _ in range(agents)]) for _ in range(n)]
    )


def _no_duplicates(page):
    for row in page.item:
        shown = row[row >= 0]
        assert len(shown) == len(set(shown.tolist()))


def test_cooperative_duplicates_waste_the_slot(rng):
    proposals = np.array([[[5, 1, 2], [5, 3, 4]]])
    page = allocation.cooperative(proposals, slots=4)
    assert page.item.tolist() == [[5, -1, 1, 3]]
    assert page.owner.tolist() == [[0, 1, 0, 1]]
    _no_duplicates(allocation.cooperative(_proposals(rng), slots=6))


def test_team_draft_skips_duplicates_and_fills_the_page(rng):
    page = allocation.team_draft(_proposals(rng), 6, rng)
    _no_duplicates(page)
    assert (page.item >= 0).all()
    counts = np.stack([(page.owner == a).sum(axis=1) for a in range(3)], axis=1)
    assert (counts == 2).all()  # two rounds of three picks each


def test_gsp_payments_never_exceed_bids_and_rank_by_score(rng):
    proposals = _proposals(rng)
    bids = rng.uniform(0.1, 1.0, size=(200, 3)).astype(np.float32)
    quality = rng.uniform(0.05, 1.0, size=(200, 3, 6)).astype(np.float32)
    page = allocation.gsp_auction(proposals, bids, quality, slots=4)
    _no_duplicates(page)
    shown = page.item >= 0
    bid_of_slot = np.take_along_axis(bids, np.where(shown, page.owner, 0), 1)
    assert (page.price[shown] <= bid_of_slot[shown] + 1e-6).all()
    assert (page.price >= 0).all()


def test_gsp_second_price_by_hand():
    proposals = np.array([[[10, 11], [20, 21]]])
    bids = np.array([[1.0, 0.5]], np.float32)
    quality = np.full((1, 2, 2), 0.5, np.float32)
    page = allocation.gsp_auction(proposals, bids, quality, slots=2)
    # scores: agent 0 entry 0.5, agent 1 entry 0.25 → agent 0 first, pays 0.25/0.5 = 0.5.
    assert page.item.tolist() == [[10, 20]]
    assert page.price[0, 0] == pytest.approx(0.5)
    assert page.price[0, 1] == pytest.approx(0.0)  # nobody below: reserve price 0


@pytest.mark.parametrize("worlds", [1, 4])
def test_exposure_gini_and_coverage_match_brute_force(rng, worlds):
    tracker = ExposureTracker(worlds, 30, max_impressions=400)
    for _ in range(60):
        items = np.stack([rng.choice(25, 4, replace=False) for _ in range(worlds)])
        items[rng.random(items.shape) < 0.1] = -1
        tracker.add(items)
    n_available = np.full(worlds, 25)

    def gini(x):
        x = np.sort(x)
        r = np.arange(1, len(x) + 1)
        return 2 * (r * x).sum() / (len(x) * x.sum()) - (len(x) + 1) / len(x)

    expected = [gini(tracker.count[w, :25]) for w in range(worlds)]
    np.testing.assert_allclose(tracker.gini(n_available), expected, atol=1e-9)
    np.testing.assert_allclose(
        tracker.coverage(n_available), (tracker.count[:, :25] > 0).mean(axis=1)
    )


def test_top_k_breaks_ties_by_index():
    scores = np.array([[1.0, 3.0, 1.0, 3.0, 1.0, 0.0]])
    items, values = top_k(scores, 3)
    assert items.tolist() == [[1, 3, 0]]
    assert values.tolist() == [[3.0, 3.0, 1.0]]


def test_catalog_descriptions_are_readable_english_from_the_latent():
    cat = generate_catalog(50, 8, 40, 100, 0.1, seed=0)
    assert len(set(cat.descriptions)) > 40
    for text, _main in zip(cat.descriptions, cat.main_topic):
        assert text.endswith(".") and " about " in text and text[0].isupper()
    assert (cat.release_time[:40] == 0).all() and (np.diff(cat.release_time) >= 0).all()
    assert cat.release_time[-1] <= 100


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_candidate_caches_are_exact(env_id, rng):
    config = marec_env.make_config(env_id, **small(env_id))
    market = Market(config, num_worlds=3)
    market.seed(np.random.SeedSequence(0))
    market.reset_worlds(np.arange(3))
    for step in range(120):
        market.step(rng.integers(config.n_actions, size=(3, config.n_agents)))
        if step % 10:
            continue
        for cache in market.caches:
            fresh = CandidateCache(cache.backbone, 3, config.n_users, config.candidates)
            args = (np.arange(3), market.sessions.user, market.n_available)
            np.testing.assert_array_equal(cache.lookup(*args)[0], fresh.lookup(*args)[0])


def test_backbones_never_read_hidden_latents():
    config = marec_env.make_config("marec/coop-slate-v0", **small("marec/coop-slate-v0"))
    market = Market(config, num_worlds=1)
    hidden_free = dataclasses.replace(
        market.catalog,
        latent=np.full_like(market.catalog.latent, np.nan),
        quality=np.full_like(market.catalog.quality, np.nan),
    )
    for backbone in market.backbones:
        backbone.catalog = hidden_free
    market.seed(np.random.SeedSequence(0))
    market.reset_worlds(np.zeros(1, np.int64))
    for backbone in market.backbones:
        scores = backbone.scores(np.zeros(1, np.int64), market.sessions.user)
        assert not np.isnan(scores).any(), backbone.kind


def test_cold_start_items_arrive_and_cf_is_blind_to_unclicked_items(rng):
    config = marec_env.make_config("marec/cold-start-v0", **small("marec/cold-start-v0"))
    market = Market(config, num_worlds=1)
    market.seed(np.random.SeedSequence(1))
    market.reset_worlds(np.zeros(1, np.int64))
    start = int(market.n_available[0])
    for _ in range(60):
        market.step(rng.integers(config.n_actions, size=(1, config.n_agents)))
    assert market.n_available[0] > start
    cf = market.backbones[config.backbones.index("cf")]
    scores = cf.scores(np.zeros(1, np.int64), market.sessions.user)[0]
    never_clicked = cf.clicks[0] == 0
    assert np.isneginf(scores[never_clicked]).all()
    assert np.isfinite(scores[cf.visible[0]]).all()


def test_rival_rank_board_matches_the_candidate_lists(rng):
    env = marec_env.vector_env("marec/coop-slate-v0", num_envs=4, **small("marec/coop-slate-v0"))
    market, layout = env.market, env.obs_layout
    n, k = market.n_agents, market.config.candidates
    env.reset(seed=4)
    seen_shared = 0
    for _ in range(25):
        obs = market.observations()
        board = obs[..., layout["cand_rival_rank"]].reshape(4, n, k, n)
        items = market.cand_items
        for w, i, c, j in np.ndindex(4, n, k, n):
            where = np.flatnonzero(items[w, j] == items[w, i, c])
            want = 1.0 - where[0] / k if len(where) else 0.0
            assert board[w, i, c, j] == pytest.approx(want)
            seen_shared += bool(len(where)) and i != j
        assert np.allclose(board[:, np.arange(n), :, np.arange(n)], 1.0 - np.arange(k) / k)
        held = (board > 0).sum(axis=3) - 1
        assert np.allclose(obs[..., layout["cand_overlap"]], held / (n - 1))
        env.step(rng.integers(k, size=(4, n)))
    assert seen_shared > 0  # agents do share candidates, so the check above had teeth


def test_profile_text_ties_go_to_the_lower_topic():
    """A v1 profile text names the two largest stated interests. Users with fewer than two
    positive ones tie at zero: the text must then name the lowest-index tied topic (a stable
    order), not whichever one the CPU's sorting network puts first."""
    from marec_env.core import users

    n, topics = 4000, 8
    population = users.Population.empty(1, n, topics)
    worlds, slots = np.zeros(n, np.int64), np.arange(n)
    rng = np.random.default_rng(12)
    users.draw_users(population, worlds, slots, rng, stated_noise=3.0, profile_from_stated=True)
    stated = population.stated[0]
    first, second = np.divmod(population.profile_text_id[0], topics)
    tied = (stated > 0).sum(axis=1) < 2
    assert tied.sum() > 100  # the noise leaves many users with at most one positive interest
    for row in np.flatnonzero(tied):
        zeros = np.flatnonzero(stated[row] == 0)
        assert first[row] == (np.argmax(stated[row]) if stated[row].max() > 0 else zeros[0])
        assert second[row] == zeros[zeros != first[row]][0]
    uniform = (stated == stated[:, :1]).all(axis=1)  # nothing positive: every topic alike
    assert uniform.any() and (first[uniform] == 0).all() and (second[uniform] == 1).all()
