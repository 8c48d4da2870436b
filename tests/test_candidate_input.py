"""Candidate-wise Q-networks (``utility_input="candidate"`` of DQN and deep MAQ-L): each
action is scored from its own candidate's features by one network."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.base import Batch, LearnerError
from agents.candidate_input import CandidateInput
from agents.envs import open_env
from agents.registry import make_learner
from agents.train import TrainConfig, train
from tests.test_learners_marec import tiny

ENV_ID = "marec/clickbait-v1"  # candidate-major parts of width K, K·N (board) and K·T (tags)


def _observations(env_id: str = ENV_ID, steps: int = 5):
    env = open_env(env_id, tiny(env_id), 3)
    batch = env.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        actions = np.where(batch.masks, rng.random(batch.masks.shape), -1).argmax(-1)
        batch = env.step(actions).batch
    return env, batch


def test_each_action_sees_its_candidates_parts_its_one_hots_and_the_context() -> None:
    env, batch = _observations()
    info, layout = env.info, env.info.obs_layout
    inputs = CandidateInput(info, "test")
    x = inputs(torch.from_numpy(batch.obs)).numpy()  # (B, N, A, dim)
    k = layout["cand_valid"].stop - layout["cand_valid"].start
    levels = info.n_actions // k
    blocks, used = [], set()
    for name, part in layout.items():  # slice each candidate-major part by hand
        width = part.stop - part.start
        if name.startswith("cand_") and width % k == 0:
            m = width // k
            per = batch.obs[..., part].reshape(*batch.obs.shape[:2], k, m)
            blocks.append(per)
            used.update(range(part.start, part.stop))
    expected = np.concatenate(blocks, axis=-1)  # (B, N, K, M)
    assert {"cand_tags", "cand_rival_rank", "cand_bait_signal"} <= set(layout)
    m_total = expected.shape[-1]
    context = np.array([c for c in range(info.obs_dim) if c not in used])
    assert x.shape == (*batch.obs.shape[:2], info.n_actions, m_total + k + levels + len(context))
    for a in range(info.n_actions):
        c, level = divmod(a, levels)
        np.testing.assert_array_equal(x[:, :, a, :m_total], expected[:, :, c])
        onehot = x[:, :, a, m_total : m_total + k + levels]
        np.testing.assert_array_equal(onehot, np.broadcast_to(
            np.r_[np.eye(k)[c], np.eye(levels)[level]], onehot.shape))  # fmt: skip
        np.testing.assert_array_equal(x[:, :, a, m_total + k + levels :], batch.obs[..., context])


@pytest.mark.parametrize("learner", ["dqn", "maql-deep"])
def test_an_actions_value_ignores_the_other_candidates_features(learner: str) -> None:
    """Perturb every feature of candidate 0: only the values of candidate 0's actions move
    (the context is left alone), so the network reads each action's own candidate."""
    env, batch = _observations()
    params = {"utility_input": "candidate", "graph": "none"} if learner == "maql-deep" else {
        "utility_input": "candidate", "shared": True}  # fmt: skip
    agent = make_learner(learner, env.info, params, np.random.default_rng(1))
    inputs = CandidateInput(env.info, "test")
    candidate_columns = inputs._columns[0].numpy()
    levels = env.info.n_actions // (inputs._columns.shape[0])
    obs = torch.from_numpy(np.ascontiguousarray(batch.obs.transpose(1, 0, 2)))
    changed = obs.clone()
    changed[..., candidate_columns] += 0.7
    values = agent._q if learner == "dqn" else agent.online.local
    net = agent.online if learner == "dqn" else None
    before, after = (values(net, o) if net is not None else values(o) for o in (obs, changed))
    moved = (before - after).abs().amax(dim=(0, 1)).detach().numpy() > 1e-6  # per action
    assert moved[:levels].all() and not moved[levels:].any()


def test_candidate_input_needs_the_candidate_layout_and_a_known_value() -> None:
    market = open_env(ENV_ID, tiny(ENV_ID), 1)
    no_layout = dataclasses.replace(market.info, obs_layout=None)  # e.g. a flat external env
    with pytest.raises(LearnerError, match="cand_valid"):
        make_learner("dqn", no_layout, {"utility_input": "candidate"}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="utility_input"):
        make_learner("dqn", market.info, {"utility_input": "items"}, np.random.default_rng(0))


@pytest.mark.parametrize("learner", ["dqn", "maql-deep"])
def test_candidate_networks_train_act_and_checkpoint(learner: str, tmp_path) -> None:
    params = {"utility_input": "candidate", "learning_starts": 10, "batch_size": 8,
              "gamma": 0.8}  # fmt: skip
    env_id = "marec/coop-slate-v1"
    cfg = TrainConfig(env_id, tiny(env_id), learner, params, steps=40, eval_interval=20,
                      eval_episodes=1, seed=0, num_envs=3)  # fmt: skip
    result = train(cfg)
    assert result.records[-1].updates > 0 and np.isfinite(result.records[-1].eval_return)
    env, batch = _observations(env_id)
    agent = make_learner(learner, env.info, params, np.random.default_rng(3))
    greedy = agent.act(Batch(batch.obs, batch.masks), explore=False)
    path = str(tmp_path / "agent.pt")
    agent.save(path)
    again = make_learner(learner, env.info, params, np.random.default_rng(4))
    again.load(path)
    np.testing.assert_array_equal(again.act(Batch(batch.obs, batch.masks), explore=False), greedy)
