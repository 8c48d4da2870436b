"""DMARL on one node: the A2C learner respects action masks, learns the matrix game's
equilibrium, its W = 1 distributed loop is the ordinary loop, and bad input is named.
The multi-process tests are in test_dmarl_dist.py. Fixed seeds; tolerances stated inline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.base import Batch, EnvInfo
from agents.dmarl.comm import mixing_weights, neighbours
from agents.dmarl.learner import gae
from agents.dmarl.trainer import train_distributed
from agents.params import ParamError
from agents.registry import LEARNERS, make_learner, make_params
from agents.train import TrainConfig, train

GAME = "marec/matrix-game-v0"


def synthetic_info(n: int = 2, dim: int = 6, actions: int = 4) -> EnvInfo:
    agents = tuple(f"recommender_{i}" for i in range(n))
    return EnvInfo("synthetic", agents, dim, actions, np.zeros(dim), np.ones(dim))


def test_registered_with_its_capabilities() -> None:
    caps = LEARNERS["dmarl"].capabilities
    assert caps.trainable and caps.shares_gradients and caps.vectorised
    assert not (caps.needs_obs_layout or caps.needs_messages or caps.reads_oracle)


def test_masked_actions_are_never_sampled_nor_chosen() -> None:
    learner = make_learner("dmarl", synthetic_info(), {}, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    obs = rng.random((500, 2, 6)).astype(np.float32)
    masks = rng.random((500, 2, 4)) < 0.4
    masks[:, :, 2] |= ~masks.any(-1)  # at least one allowed action per agent
    for explore in (True, False):
        actions = learner.act(Batch(obs, masks), explore=explore)
        assert masks[np.arange(500)[:, None], np.arange(2), actions].all()
    sampled = learner.act(Batch(obs, np.ones_like(masks)), explore=True)
    assert len(np.unique(sampled)) == 4  # near-uniform start: every action is drawn


def test_gae_matches_hand_computation() -> None:
    r = np.array([[[1.0]], [[2.0]], [[3.0]]], np.float32)  # T=3, B=1, N=1
    v = np.array([[[0.5]], [[1.0]], [[1.5]]], np.float32)
    nv = np.array([[[1.0]], [[1.5]], [[9.0]]], np.float32)  # step 2 truncated: V(s_T)=9
    term, done = np.zeros((3, 1)), np.array([[0.0], [0.0], [1.0]])
    g, lam = 0.5, 0.5
    d = [1 + g * 1.0 - 0.5, 2 + g * 1.5 - 1.0, 3 + g * 9.0 - 1.5]
    expected = [d[0] + g * lam * (d[1] + g * lam * d[2]), d[1] + g * lam * d[2], d[2]]
    np.testing.assert_allclose(gae(r, v, nv, term, done, g, lam)[:, 0, 0], expected, rtol=1e-6)
    term = np.array([[0.0], [0.0], [1.0]])  # terminated instead: no bootstrap from 9
    assert gae(r, v, nv, term, done, g, lam)[2, 0, 0] == pytest.approx(3 - 1.5)


def test_single_node_distributed_loop_is_the_ordinary_loop() -> None:
    cfg = TrainConfig(GAME, {"mode": "cooperative", "max_cycles": 3}, "dmarl",
                      {"rollout_steps": 4}, steps=120, eval_interval=60, eval_episodes=1,
                      seed=3, num_envs=2)  # fmt: skip
    plain, dist = train(cfg), train_distributed(cfg)
    assert [r.eval_return for r in plain.records] == [r.eval_return for r in dist.records]
    assert plain.updates == dist.updates == 120 // (2 * 4)
    for a, b in zip(plain.learner.net.parameters(), dist.learner.net.parameters()):
        assert torch.equal(a, b)
    assert dist.records[-1].metrics["dist_workers"] == 1.0
    assert dist.records[-1].metrics["dist_bytes_payload"] == 0.0  # one node: nothing sent


def test_learns_the_dominant_strategy_of_the_competitive_game() -> None:
    """Each agent's own reward: showing the trending item (action 0) dominates. Random play
    earns 0.35 per agent on average; the equilibrium (0, 0) earns 0.4 each."""
    returns = []
    for seed in range(3):
        cfg = TrainConfig(GAME, {"mode": "competitive"}, "dmarl", {"lr": 0.01},
                          steps=1200, eval_interval=1200, eval_episodes=1, seed=seed)  # fmt: skip
        returns.append(train(cfg).records[-1].eval_return)
    assert returns == [pytest.approx(0.4, abs=1e-6)] * 3  # greedy play is (0, 0) on every seed


def test_bad_hyper_parameters_are_named() -> None:
    with pytest.raises(ParamError, match=r"sharing='ring'.*all, graph, none"):
        make_params("dmarl", {"sharing": "ring"})
    with pytest.raises(ParamError, match=r"graph='star'.*ring, full"):
        make_params("dmarl", {"graph": "star"})
    with pytest.raises(ParamError, match="rollout_steps"):
        make_params("dmarl", {"rollout_steps": 0})
    assert make_params("dmarl", {"hidden": [8]}).hidden == (8,)


@pytest.mark.parametrize(("world", "graph", "expected"), [
    (2, "ring", {0: 0.5, 1: 0.5}),
    (4, "ring", {0: 1 / 3, 1: 1 / 3, 3: 1 / 3}),
    (4, "full", {0: 0.25, 1: 0.25, 2: 0.25, 3: 0.25}),
])  # fmt: skip
def test_mixing_weights_are_metropolis(world: int, graph: str, expected: dict) -> None:
    row = mixing_weights(0, world, graph)
    assert row == pytest.approx(expected)
    matrix = np.array([[mixing_weights(i, world, graph).get(j, 0.0) for j in range(world)]
                       for i in range(world)])  # fmt: skip
    np.testing.assert_allclose(matrix, matrix.T)  # symmetric, rows sum to 1: doubly stochastic
    np.testing.assert_allclose(matrix.sum(1), 1.0)
    assert neighbours(0, world, graph) == sorted(k for k in expected if k != 0)
