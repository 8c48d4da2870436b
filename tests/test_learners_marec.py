"""Every learner in the registry trains briefly on every registered env id (ParallelEnv and,
for market presets, the vector env), and MAQ-L without edges replays IQL on the market."""

from __future__ import annotations

import numpy as np
import pytest

import marec_env
from agents.base import LearnerError
from agents.envs import open_env
from agents.registry import LEARNERS, make_learner
from agents.train import TrainConfig, train, train_step

TINY = {"n_items": 300, "n_users": 40, "max_cycles": 15}


def tiny(env_id: str) -> dict:
    """Small catalog and short episodes; keeps each preset's share of late-arriving items."""
    spec = marec_env.get_spec(env_id)
    if not spec.market:
        return {}
    cfg = spec.config()
    return {**TINY, "initial_items": round(cfg.initial_items * TINY["n_items"] / cfg.n_items)}


CASES = [(env_id, name, num_envs)
         for env_id in marec_env.list_envs() for name in LEARNERS
         for num_envs in ((1, 3) if marec_env.get_spec(env_id).market else (1,))]  # fmt: skip


@pytest.mark.parametrize(("env_id", "learner", "num_envs"), CASES)
def test_every_learner_trains_on_every_env(env_id: str, learner: str, num_envs: int) -> None:
    deep = learner in ("dqn", "maql-deep")  # replay learners: gradient steps once filled
    params = {"learning_starts": 10, "batch_size": 8} if deep else {}
    params = {"rollout_steps": 4} if learner == "dmarl" else params
    if not LEARNERS[learner].capabilities.supports_competitive:
        params = {**params, "maximise_team_reward": True}  # λ > 0 presets: run as a reference
    cfg = TrainConfig(env_id, tiny(env_id), learner, params, steps=30, eval_interval=15,
                      eval_episodes=1, seed=0, num_envs=num_envs)  # fmt: skip
    result = train(cfg)
    assert [r.step for r in result.records] == [15, 30]
    record = result.records[-1]
    assert np.isfinite(record.eval_return) and np.isfinite(record.team_return)
    assert set(record.agent_returns) == set(marec_env.parallel_env(env_id).possible_agents)
    if not LEARNERS[learner].capabilities.trainable:
        assert record.updates == 0
    elif deep:
        assert record.updates > 0  # gradient steps after learning_starts
    elif learner == "dmarl":
        assert record.updates == 30 // (4 * num_envs)  # one update per 4-step rollout
    else:
        assert record.updates == 30  # one table update per world-step
    if LEARNERS[learner].capabilities.needs_messages:
        assert record.messages > 0 and record.metrics["eval_messages_per_step"] > 0


def test_dict_observations_and_action_masks_are_used() -> None:
    overrides = {**tiny("marec/coop-slate-v0"), "observation": "dict"}
    for num_envs in (1, 2):
        cfg = TrainConfig("marec/coop-slate-v0", overrides, "maql", {}, steps=20,
                          eval_interval=20, eval_episodes=1, seed=1, num_envs=num_envs)  # fmt: skip
        assert np.isfinite(train(cfg).records[-1].eval_return)


@pytest.mark.parametrize("num_envs", [1, 3])
@pytest.mark.parametrize(("alone", "graph"), [("iql", "maql"), ("iql-linear", "maql-linear")])
def test_maql_without_edges_replays_iql_on_the_market(
    alone: str, graph: str, num_envs: int
) -> None:
    env_id = "marec/coop-slate-v0"
    envs = [open_env(env_id, tiny(env_id), num_envs) for _ in range(2)]
    iql = make_learner(alone, envs[0].info, {}, np.random.default_rng(5))
    maql = make_learner(graph, envs[1].info, {"graph": "none"}, np.random.default_rng(5))
    batches = [env.reset(seed=2) for env in envs]
    for _ in range(120):  # 8 episodes of 15 steps: resets inside, many abstract states
        batches[0], a_iql, _ = train_step(envs[0], iql, batches[0])
        batches[1], a_maql, _ = train_step(envs[1], maql, batches[1])
        assert np.array_equal(a_iql, a_maql)
        for key, value in iql._arrays().items():
            assert np.array_equal(value, maql._arrays()[key])
    values = iql.value
    learned = values.q.any(axis=2) if alone == "iql" else values.w  # states visited / weights moved
    assert np.count_nonzero(learned) >= 4


def test_maql_contested_edge_state_reads_the_rank0_overlap_bit() -> None:
    env_id = "marec/coop-slate-v0"
    env = open_env(env_id, tiny(env_id), 3)
    maql = make_learner("maql", env.info, {"edge_state": "contested"}, np.random.default_rng(0))
    n_agents = len(env.info.agents)
    pairs = maql.value.q_edge
    assert pairs.shape == (n_agents * (n_agents - 1) // 2, 4, 3, 3)  # s_ij × rank classes
    overlap = env.info.obs_layout["cand_overlap"].start
    batch = env.reset(seed=3)
    seen = set()
    for _ in range(30):
        abstraction = maql.value.abstraction
        states = abstraction.encode(batch.obs)
        assert np.array_equal(abstraction.contested_top(states), batch.obs[..., overlap] > 0)
        for e, (i, j) in enumerate(maql.acting.graph.edges):
            want = 2 * (batch.obs[:, i, overlap] > 0) + (batch.obs[:, j, overlap] > 0)
            assert np.array_equal(maql.value.pair_states.index(states, e), want)
            seen.update(want.tolist())
        batch, _, _ = train_step(env, maql, batch)
    assert len(seen) >= 2  # both contested and uncontested pairs occur
    pair = maql.value.pair_rows(states)[0]  # (B, A, A) expanded from the 3 × 3 class table
    assert pair.shape == (3, env.info.n_actions, env.info.n_actions)
    assert np.array_equal(pair[:, 3, 5], pair[:, 2, 7])  # ranks >= 2 share one class


def test_maql_collide_edge_state_flags_exactly_the_action_pairs_that_duplicate() -> None:
    env_id = "marec/coop-slate-v0"
    env = open_env(env_id, tiny(env_id), 3)
    maql = make_learner("maql", env.info, {}, np.random.default_rng(0))
    assert maql.value.pair_states.kind == "collide"  # "auto" picks the board where the env has one
    ranks = maql.params.edge_ranks
    assert maql.value.q_edge.shape[1] == 2 ** (ranks * ranks)
    market = env.env.market
    batch = env.reset(seed=3)
    collisions = 0
    for _ in range(30):
        states = maql.value.encode(batch.obs)
        items = market.cand_items
        for e, (i, j) in enumerate(maql.acting.graph.edges):
            code = maql.value.pair_states.index(states, e)
            for c, c2 in np.ndindex(ranks, ranks):
                same = items[:, i, c] == items[:, j, c2]
                assert np.array_equal((code >> (c * ranks + c2)) & 1, same)
                collisions += int(same.sum())
        batch, _, _ = train_step(env, maql, batch)
    assert collisions > 0


def test_maql_collide_needs_the_rival_board() -> None:
    env = open_env("marec/matrix-game-v0", {}, 1)
    with pytest.raises(LearnerError, match="cand_rival_rank"):
        make_learner("maql", env.info, {"edge_state": "collide"}, np.random.default_rng(0))


def test_linear_features_describe_the_candidate_each_action_shows() -> None:
    env_id = "marec/coop-slate-v0"
    env = open_env(env_id, tiny(env_id), 3)
    learner = make_learner("maql-linear", env.info, {}, np.random.default_rng(0))
    features, layout = learner.value.features, env.info.obs_layout
    k, n = features.candidates, len(env.info.agents)
    market = env.env.market
    batch = env.reset(seed=4)
    collisions = 0
    for _ in range(30):
        phi = features(batch.obs)  # (B, N, A, dim)
        assert phi.shape == (*batch.obs.shape[:2], env.info.n_actions, features.dim)
        for c in range(k):  # the first columns: every cand_* part at that candidate
            assert np.array_equal(phi[:, :, c, 0], batch.obs[:, :, layout["cand_score"].start + c])
            assert np.array_equal(
                phi[:, :, c, 5], batch.obs[:, :, layout["cand_overlap"].start + c]
            )
            board = batch.obs[:, :, layout["cand_rival_rank"].start + c * n : (c + 1) * n
                              + layout["cand_rival_rank"].start]  # fmt: skip
            assert np.array_equal(phi[:, :, c, 7 : 7 + n], board)
            assert np.array_equal(
                phi[:, :, c, 7 + n : 7 + n + k], np.broadcast_to(np.eye(k)[c], (3, n, k))
            )
        items = market.cand_items
        for i, j in learner.acting.graph.edges:
            same = features.same_item(batch.obs, i, j)
            assert np.array_equal(same, items[:, i, :, None] == items[:, j, None, :])
            collisions += int(same.sum())
        batch, _, _ = train_step(env, learner, batch)
    assert collisions > 0
    assert learner.value.u.shape == (n * (n - 1) // 2, 3 * 3 + 1)  # rank-class pairs + same item


def test_linear_maql_pair_term_steers_max_plus_away_from_duplicates() -> None:
    env_id = "marec/coop-slate-v0"
    env = open_env(env_id, tiny(env_id), 3)
    learner = make_learner("maql-linear", env.info, {}, np.random.default_rng(0))
    market = env.env.market
    weights = learner.value.w
    weights[:, 5] = 1.0  # φ column 5 is cand_overlap: alone, every agent shows a shared item
    weights[:, 0] = 0.01  # column 0, the backbone score, breaks ties as learned values do
    batch = env.reset(seed=6)
    duplicates = {"alone": 0, "with pair term": 0}
    for _ in range(40):
        for case, same_weight in (("alone", 0.0), ("with pair term", -10.0)):
            learner.value.u[:, -1] = same_weight
            actions = learner.act(batch, explore=False)
            shown = np.take_along_axis(market.cand_items, actions[:, :, None], axis=2)[:, :, 0]
            duplicates[case] += sum(int(((shown[:, i] == shown[:, j]) & (shown[:, i] >= 0)).sum())
                                    for i, j in learner.acting.graph.edges)  # fmt: skip
        batch = env.step(np.zeros_like(actions)).batch
    assert duplicates["alone"] > 10 and duplicates["with pair term"] == 0, duplicates


@pytest.mark.parametrize("env_id", ["marec/coop-slate-v0", "marec/compete-auction-v1"])
@pytest.mark.parametrize("learner", ["greedy", "maql"])
def test_vector_evaluation_plays_the_parallel_env_episodes(env_id: str, learner: str) -> None:
    """agents.fast_eval: world k of the evaluation vector env, seeded with seed k, plays the
    ParallelEnv's episode with seed k: per-episode returns agree to 1e-6 (deterministic
    greedy policies; ``maql`` also counts the same messages)."""
    from agents.fast_eval import play_episodes
    from agents.train import evaluate

    overrides, episodes = tiny(env_id), 5
    seeds = [int(s) for s in np.random.SeedSequence(0).generate_state(episodes)]
    info = open_env(env_id, overrides, 1).info
    params = {} if learner == "greedy" else {"maximise_team_reward": True}
    policy = make_learner(learner, info, params, np.random.default_rng(0))
    if learner == "maql":  # learned, non-zero tables: a policy that is not the argmax of zeros
        policy.value.q[...] = np.random.default_rng(1).random(policy.value.q.shape)
        policy.value.q_edge[...] = np.random.default_rng(2).random(policy.value.q_edge.shape)
    parallel_env = marec_env.parallel_env(env_id, **overrides)
    reference = [evaluate(parallel_env, policy, [seed]) for seed in seeds]
    sent = policy.messages
    vector_env = marec_env.vector_env(env_id, episodes, **overrides)
    returns, team, _, steps = play_episodes(vector_env, policy, seeds)
    assert policy.messages - sent == sent  # the same max-plus calls (0 for greedy)
    assert steps == overrides["max_cycles"]
    for k, (agent_returns, team_return, _, _) in enumerate(reference):
        assert team[k] == pytest.approx(team_return, abs=1e-6), k
        assert returns[k] == pytest.approx(list(agent_returns.values()), abs=1e-6), k
    assert len({round(float(t), 6) for t in team}) >= 3  # different episodes, not one replayed


def test_vector_and_parallel_evaluation_give_the_same_records() -> None:
    env_id = "marec/coop-slate-v0"
    records = [train(TrainConfig(env_id, tiny(env_id), "iql", {}, steps=30, eval_interval=15,
                                 eval_episodes=3, seed=0, eval_vector=vector)).records
               for vector in (False, True)]  # fmt: skip
    for parallel, vector in zip(*records, strict=True):
        assert vector.team_return == pytest.approx(parallel.team_return, abs=1e-6)
        assert vector.agent_returns == pytest.approx(parallel.agent_returns, abs=1e-6)
        assert vector.metrics == pytest.approx(parallel.metrics, abs=1e-6)
