"""MAQ-L's pair terms and losses: deep MAQ-L's low-rank payoffs, same-item and same-level
bits, its joint (deep coordination graph) loss and γ = 0 target; linear MAQ-L's same-level
feature. A synthetic env info with a
candidate board (K = 3 candidates, N = 3 agents, 2 levels: 6 actions) keeps these fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents.base import Batch, EnvInfo, Transition
from agents.params import ParamError
from agents.registry import load_learner, make_learner

K, N, LEVELS = 3, 3, 2
A = K * LEVELS


def board_info() -> EnvInfo:
    """Per-candidate parts, the (K × N) board ``cand_rival_rank`` and context entries."""
    layout = {"cand_score": slice(0, K), "cand_valid": slice(K, 2 * K),
              "cand_rival_rank": slice(2 * K, 2 * K + K * N), "agent": slice(15, 18),
              "time": slice(18, 19)}  # fmt: skip
    agents = tuple(f"recommender_{i}" for i in range(N))
    return EnvInfo("synthetic", agents, 19, A, np.zeros(19), np.ones(19), layout)


def observations(worlds: int, seed: int = 0) -> np.ndarray:
    """(B, N, D) with a consistent board: agents share items drawn from a small pool."""
    rng = np.random.default_rng(seed)
    items = np.stack([rng.permutation(5)[:K] for _ in range(worlds * N)]).reshape(worlds, N, K)
    obs = rng.random((worlds, N, 19)).astype(np.float32)
    for i in range(N):
        for j in range(N):
            held = items[:, i, :, None] == items[:, j, None, :]  # (B, K, K') i's c is j's c'
            rank = np.where(held.any(2), 1.0 - held.argmax(2) / K, 0.0)
            obs[:, i, 2 * K + np.arange(K) * N + j] = rank
    return obs


def agent_major(obs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(obs.transpose(1, 0, 2)))


@pytest.mark.parametrize("params", [
    {}, {"pair_rank": 2}, {"pair_network": False, "same_level": True},
    {"pair_rank": 1, "same_level": True},
])  # fmt: skip
def test_pair_values_at_the_taken_actions_are_the_entries_of_the_payoff_tables(params) -> None:
    learner = make_learner("maql-deep", board_info(), params, np.random.default_rng(0))
    net = learner.online
    if net.level_weight is not None:  # zero at initialisation: give the bits a value
        net.level_weight.data = torch.tensor([[-0.7, 0.3]])
    net.same_weight.data = torch.tensor([[-1.1]])
    obs = agent_major(observations(16))
    actions = torch.from_numpy(np.random.default_rng(1).integers(0, A, (N, 16)))
    with torch.no_grad():
        tables = net.pairs(obs, learner.edges, learner._same(obs))
        taken = net.pairs_at(obs, learner.edges, actions, learner._same_at(obs, actions))
    rows = torch.arange(16)
    for e, (i, j) in enumerate(learner.edges):
        expected = tables[e, rows, actions[i], actions[j]]
        torch.testing.assert_close(taken[e], expected, rtol=1e-6, atol=1e-6)
    assert learner._same(obs).sum() > 0  # the board does make some actions collide


def test_low_rank_payoffs_have_at_most_the_rank_asked_for() -> None:
    learner = make_learner("maql-deep", board_info(), {"pair_rank": 1, "same_item": False},
                           np.random.default_rng(0))  # fmt: skip
    with torch.no_grad():
        table = learner.online._network_payoffs(agent_major(observations(4)), learner.edges)
    # ½ (U Vᵀ + (U' V'ᵀ)ᵀ): the symmetrised sum of two rank-1 tables has rank ≤ 2
    assert int(torch.linalg.matrix_rank(table[0, 0], rtol=1e-4)) <= 2  # float32 products
    assert table.shape == (len(learner.edges), 4, A, A)


def test_same_level_bits_add_the_level_weight_only_when_both_claim_that_level() -> None:
    learner = make_learner("maql-deep", board_info(),
                           {"pair_network": False, "same_item": False, "same_level": True},
                           np.random.default_rng(0))  # fmt: skip
    learner.online.level_weight.data = torch.tensor([[-2.0, 0.5]])
    with torch.no_grad():
        table = learner.online.pairs(agent_major(observations(2)), learner.edges)[0, 0]
    level = np.arange(A) % LEVELS
    expected = np.where(level[:, None] == level[None, :], np.array([-2.0, 0.5])[level][:, None],
                        0.0)  # fmt: skip
    np.testing.assert_array_equal(table.numpy(), expected)


def filled(params: dict, seed: int = 0):
    """A learner whose replay holds 256 random world-steps of the synthetic env."""
    learner = make_learner("maql-deep", board_info(), {"learning_starts": 0, **params},
                           np.random.default_rng(seed))  # fmt: skip
    rng = np.random.default_rng(seed + 1)
    for _ in range(32):
        obs = observations(8, int(rng.integers(1 << 30)))
        actions = rng.integers(0, A, (8, N))
        reward = rng.normal(size=(8, 1)).repeat(N, axis=1).astype(np.float32)
        learner.observe(Transition(obs, np.ones((8, N, A), bool), actions, reward, obs,
                                   np.ones((8, N, A), bool), np.zeros(8, bool),
                                   np.zeros(8, bool)))  # fmt: skip
    return learner


def test_gamma_zero_target_is_the_reward_without_the_max_plus_pass() -> None:
    learner = filled({"gamma": 0.0})
    batch = learner.replay.sample(np.random.default_rng(3), 32)
    torch.testing.assert_close(learner._td_target(batch), batch["rewards"])  # the full path
    before = learner.acting.floats
    learner.update()
    assert learner.updates == 1 and learner.acting.floats == before  # no max-plus messages


def test_joint_credit_reads_only_the_summed_reward_and_fits_it() -> None:
    """γ = 0, one fixed batch. Joint loss: moving reward between agents (same sum, exact in
    float) leaves every update unchanged, and Σ_k Q_k reaches Σ_k r_k (within 0.05 after 600
    Adam steps). Agent-wise loss: the same move changes the updates."""
    for credit in ("joint", "agent"):
        nets = []
        for shift in (0, 1):
            learner = filled({"gamma": 0.0, "credit": credit, "lr": 3e-3, "hidden": (32,),
                              "pair_network": False, "same_level": True})  # fmt: skip
            batch = learner.replay.sample(np.random.default_rng(4), 16)
            quarters = torch.arange(N * 16, dtype=torch.float32).reshape(N, 16) % 7 / 4
            batch["rewards"] = torch.roll(quarters, shift, dims=0)  # agent k gets k+shift's
            for _ in range(600):
                learner._gradient_step(batch)
            nets.append(learner)
            if credit == "joint":
                with torch.no_grad():
                    q = learner._agent_values(learner.online, batch["obs"], batch["actions"])
                assert (q.sum(0) - batch["rewards"].sum(0)).abs().max() < 0.05
        same = all(torch.equal(a, b) for a, b in zip(nets[0].online.parameters(),
                                                     nets[1].online.parameters()))  # fmt: skip
        assert same == (credit == "joint"), credit


def test_bad_pair_options_are_named() -> None:
    with pytest.raises(ParamError, match="pair_rank"):
        make_learner("maql-deep", board_info(), {"pair_rank": -1}, np.random.default_rng(0))
    with pytest.raises(ParamError, match="credit"):
        make_learner("maql-deep", board_info(), {"credit": "team"}, np.random.default_rng(0))


@pytest.mark.parametrize("params", [{"pair_rank": 2, "credit": "joint"},
                                    {"pair_network": False, "same_level": True}])  # fmt: skip
def test_checkpoint_round_trip_with_the_new_pair_terms(params, tmp_path: Path) -> None:
    learner = filled({"gamma": 0.0, **params})
    learner.update()
    if learner.online.level_weight is not None:
        learner.online.level_weight.data.fill_(0.25)
    path = tmp_path / "deep.pt"
    learner.save(str(path))
    rebuilt = load_learner(str(path), board_info())
    for key, value in learner.online.state_dict().items():
        assert torch.equal(rebuilt.online.state_dict()[key], value), key
    obs = observations(4, 9)
    batch = Batch(obs, np.ones((4, N, A), bool))
    assert np.array_equal(rebuilt.act(batch, explore=False), learner.act(batch, explore=False))


def test_linear_maql_same_level_feature_prices_position_collisions() -> None:
    """maql-linear's ``same_level``: the max-plus table and the update's pair features agree at
    every joint action (1e-12), and a level's weight applies exactly when both claim it."""
    learner = make_learner("maql-linear", board_info(), {"same_level": True},
                           np.random.default_rng(0))  # fmt: skip
    value = learner.value
    assert value.u.shape == (len(learner.acting.graph.edges), 3 * 3 + 1 + LEVELS)
    value.u[:] = np.random.default_rng(1).normal(size=value.u.shape)
    states = value.encode(observations(8))
    tables = value.pair_rows(states)
    weights = value.u.copy()
    value.u[:, -LEVELS:] = 0.0  # the level weights off
    plain = value.pair_rows(states)
    value.u[:] = weights
    level = np.arange(A) % LEVELS
    for e, edge in enumerate(learner.acting.graph.edges):
        collide = np.where(level[:, None] == level, weights[e, -LEVELS:][level][:, None], 0.0)
        np.testing.assert_allclose(tables[e] - plain[e], np.broadcast_to(collide, (8, A, A)),
                                   atol=1e-12)  # fmt: skip
        for a_i, a_j in np.ndindex(A, A):
            actions = np.zeros((8, N), np.int64)
            actions[:, edge[0]], actions[:, edge[1]] = a_i, a_j
            psi = value._pair_features(states, e, edge, value.u.shape[1], actions)
            np.testing.assert_allclose(psi @ value.u[e], tables[e][:, a_i, a_j], atol=1e-12)
