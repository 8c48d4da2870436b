"""marec/clickbait-v1: an episode is one user's visit, and bait trades clicks now for the
visit's length (the preset on which foresight, γ > 0, can pay)."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from agents.base import Batch, LearnerError
from agents.checkpoint import CheckpointError, load_npz, save_npz
from agents.envs import env_info, env_masks, split_obs
from agents.registry import make_learner
from marec_env.config import ConfigError
from marec_env.market import catalog_for
from marec_env.sessions import update_users
from tests.conftest import small

ENV_ID = "marec/clickbait-v1"


def test_bait_is_the_hidden_share_of_the_bait_topic_and_adds_to_the_utility() -> None:
    config = marec_env.make_config(ENV_ID, **small(ENV_ID))
    plain = catalog_for(marec_env.make_config(ENV_ID, **small(ENV_ID), bait_topic=-1,
                                              bait_appeal=0.0, bait_regret=0.0))  # fmt: skip
    bait = catalog_for(config)
    assert plain.bait is None
    np.testing.assert_array_equal(bait.bait, plain.latent[:, config.bait_topic])
    expected = (plain.quality + np.float32(config.bait_appeal) * bait.bait).astype(np.float32)
    np.testing.assert_array_equal(bait.quality, expected)
    np.testing.assert_array_equal(bait.attributes, plain.attributes)  # the public view is as-is
    assert bait.descriptions == plain.descriptions


def test_a_visit_ends_the_episode_when_the_user_leaves() -> None:
    env = marec_env.parallel_env(ENV_ID, **small(ENV_ID))
    rng = np.random.default_rng(0)
    env.reset(seed=2)
    lengths = []
    for _ in range(20):
        steps, done = 0, False
        while not done:
            sess = env.market.sessions
            assert sess.budget[0] > 0 and sess.misses[0] < env.config.patience
            actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
            _, _, term, trunc, _ = env.step(actions)
            steps += 1
            done = all(term.values()) or all(trunc.values())
            assert all(term.values()) or not any(term.values())
            assert not (any(term.values()) and any(trunc.values()))
        if all(term.values()):
            sess = env.market.sessions  # the leaving user's state is still there
            assert sess.budget[0] <= 0 or sess.misses[0] >= env.config.patience
        assert env.agents == []
        lengths.append(steps)
        env.reset()  # seed=None: the next visit of the same run
    assert min(lengths) < env.config.max_cycles and len(set(lengths)) > 1


def test_a_visit_that_outlasts_the_horizon_is_truncated_not_terminated() -> None:
    lasting = {"patience": 10_000, "budget_min": 1e6, "budget_max": 1e6, "max_cycles": 7}
    env = marec_env.parallel_env(ENV_ID, **small(ENV_ID), **lasting)
    rng = np.random.default_rng(1)
    for seed in (0, 1, 2):
        env.reset(seed=seed)
        for step in range(1, 8):
            actions = {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}
            _, _, term, trunc, _ = env.step(actions)
            assert not any(term.values())
            assert all(trunc.values()) == (step == 7) and all(trunc.values()) == any(trunc.values())
        assert env.agents == []


def _visit(regret: float, seek_bait: bool, worlds: int = 64) -> tuple[float, float]:
    """(mean visit length, CTR of the first page) when every agent shows its candidate with
    the most (or least) bait."""
    env = marec_env.vector_env(ENV_ID, worlds, **small(ENV_ID), bait_regret=regret)
    env.reset(seed=list(range(worlds)))
    agents, levels = env.possible_agents, env.market.setup.mechanism.levels
    steps, playing, first_ctr = np.zeros(worlds), np.ones(worlds, bool), None
    bait = env.market.catalog.bait
    while playing.any():
        level = bait[env.market.cand_items] * (1 if seek_bait else -1)  # (W, N, K)
        pick = level.argmax(axis=2)
        actions = {a: pick[:, k] * levels + k for k, a in enumerate(agents)}  # own position
        _, _, term, trunc, infos = env.step(actions)
        if first_ctr is None:
            first_ctr = float(np.mean(infos[agents[0]]["ctr"]))
        steps += playing
        playing &= ~(term[agents[0]] | trunc[agents[0]])
    return float(steps.mean()), first_ctr


def test_bait_is_clicked_more_and_its_regret_shortens_visits() -> None:
    """Fixed seeds; the effects are several times the noise (64 visits each)."""
    seek_length, seek_ctr = _visit(regret=6.0, seek_bait=True)
    avoid_length, avoid_ctr = _visit(regret=6.0, seek_bait=False)
    no_regret_length, _ = _visit(regret=0.0, seek_bait=True)
    assert seek_ctr > 2 * avoid_ctr  # the appeal: bait is clicked more now
    assert seek_length < avoid_length  # and ends visits sooner
    assert seek_length < no_regret_length  # because of its regret


@pytest.mark.parametrize("session_model", ["satisfaction", "budget"])
def test_consuming_bait_costs_its_regret_in_either_session_model(session_model: str) -> None:
    budgets = {}
    for regret in (0.0, 6.0):
        env = marec_env.vector_env(ENV_ID, 4, **small(ENV_ID), session_model=session_model,
                                   bait_regret=regret)  # fmt: skip
        env.reset(seed=[0, 1, 2, 3])
        market = env.market
        bait = market.catalog.bait
        item = int(np.argmax(bait[: market.catalog.n_items // 2]))
        before = market.sessions.budget.copy()
        consumed = np.full(4, item)
        update_users(market.setup, market.world, market.sessions.user.copy(), consumed,
                     np.full(4, 0.5), np.zeros(4))  # fmt: skip
        budgets[regret] = before - market.sessions.budget
    np.testing.assert_allclose(budgets[6.0] - budgets[0.0], 6.0 * bait[item], rtol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bait_topic": 8}, r"bait_topic must be -1 \(no bait\) or a topic in \[0, 7\]"),
        ({"bait_topic": 1.5}, "bait_topic must be an integer"),
        ({"bait_topic": -1}, "bait_appeal and bait_regret need a bait_topic"),
        ({"bait_regret": -1.0}, "bait_regret must be a finite number"),
        ({"episode_end": "visit"}, r"episode_end must be one of \['cycles', 'session'\]"),
    ],
)
def test_bad_bait_and_episode_settings_name_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        marec_env.make_config(ENV_ID, **overrides)


def test_greedy_dedup_with_bait_aversion_shows_less_tagged_candidates() -> None:
    env = marec_env.vector_env(ENV_ID, 32, **small(ENV_ID))
    info = env_info(ENV_ID, env)
    obs, _ = env.reset(seed=list(range(32)))
    x, masks = split_obs(obs, info.agents)
    masks = env_masks(env, info.agents) if masks is None else masks
    batch = Batch(x, masks, None)
    signal = x[..., info.obs_layout["cand_bait_signal"]]  # (B, N, K)
    levels = info.n_actions // signal.shape[2]
    shown = {}
    for aversion in (0.0, 100.0):
        learner = make_learner("greedy-dedup", info, {"bait_aversion": aversion},
                               np.random.default_rng(0))  # fmt: skip
        picks = learner.act(batch, explore=False) // levels
        shown[aversion] = np.take_along_axis(signal, picks[..., None], 2)[..., 0]
    assert shown[100.0].mean() < shown[0.0].mean() - 0.05
    least = signal.min(axis=2)  # each agent its least-tagged candidate, unless a rival shows it
    assert np.mean(np.isclose(shown[100.0], least)) > 0.8


def test_bait_aversion_is_checked_and_old_dedup_checkpoints_load(tmp_path) -> None:
    env = marec_env.vector_env(ENV_ID, 2, **small(ENV_ID))
    info = env_info(ENV_ID, env)
    with pytest.raises(LearnerError, match="bait_aversion"):
        make_learner("greedy-dedup", info, {"bait_aversion": -1.0}, np.random.default_rng(0))
    plain = make_learner("greedy-dedup", info, {}, np.random.default_rng(0))
    path = str(tmp_path / "dedup.npz")
    plain.save(path)
    header, arrays = load_npz(path)
    del header["params"]["bait_aversion"]  # as written before the field existed
    save_npz(path, header, arrays)
    plain.load(path)
    averse = make_learner("greedy-dedup", info, {"bait_aversion": 5.0}, np.random.default_rng(0))
    with pytest.raises(CheckpointError, match="bait_aversion"):
        averse.load(path)
