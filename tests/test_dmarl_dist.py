"""DMARL across processes (gloo, CPU, loopback only): identical replicas, the 2-worker update
is the 1-worker update on the concatenated batch, ring consensus contracts as documented, a
killed worker ends the run with an error, a two-"node" torchrun launch agrees with the
single-node one, and launch mistakes are named. Ranks are forked (cheap: torch is already
imported) except where a real launcher is the point."""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import traceback
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from agents.base import EnvInfo, Transition
from agents.dmarl import trainer
from agents.dmarl.comm import mix_parameters
from agents.envs import open_env
from agents.registry import make_learner
from agents.train import train_step
from benchmarks import cli, results
from benchmarks.distributed import free_port

GAME = "marec/matrix-game-v0"
REPO = Path(__file__).resolve().parent.parent
RANK_TIMEOUT_S = 60


def _rank_main(rank, world, port, fn, args, queue) -> None:
    try:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world, timeout=timedelta(seconds=30))  # fmt: skip
        queue.put((rank, "ok", fn(rank, world, *args)))
    except BaseException:  # the parent reports the child's traceback
        queue.put((rank, "error", traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@functools.cache
def _warm_up() -> None:
    """Build and step one learner before forking: the first one pays seconds of lazy torch
    imports, which every forked rank would otherwise pay again."""
    learner = make_learner("dmarl", synthetic_info(), {}, np.random.default_rng(0))
    learner.gradient_step(synthetic_rollout(0))


def run_ranks(world: int, fn, *args) -> list:
    """Run ``fn(rank, world, *args)`` in ``world`` forked processes of one gloo group."""
    _warm_up()
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_rank_main, args=(r, world, port, fn, args, queue))
             for r in range(world)]  # fmt: skip
    for p in procs:
        p.start()
    out = {}
    try:
        for _ in range(world):
            rank, status, value = queue.get(timeout=RANK_TIMEOUT_S)
            assert status == "ok", f"rank {rank} failed:\n{value}"
            out[rank] = value
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return [out[r] for r in range(world)]


def flat_params(learner) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in learner.net.parameters()]).numpy().copy()


# ---------------------------------------------------------------- replicas and equivalence
def _train_k_updates(rank: int, world: int, sharing: str, k: int) -> dict:
    env = open_env(GAME, {"mode": "cooperative", "max_cycles": 3, "reward_noise": 1.0}, 2)
    rng = np.random.default_rng(np.random.SeedSequence(7).spawn(world)[rank])
    learner = make_learner("dmarl", env.info, {"rollout_steps": 3, "sharing": sharing}, rng)
    start = flat_params(learner)
    batch, rewards = env.reset(seed=100 + rank), []
    while learner.updates < k:
        batch, _, _ = train_step(env, learner, batch)
        rewards.append(learner.rollout[-1].rewards.copy() if learner.rollout else None)
    return {"start": start, "end": flat_params(learner), "bytes": learner.exchange.counters(),
            "rewards": np.concatenate([r for r in rewards if r is not None])}  # fmt: skip


def test_parameters_are_identical_on_every_rank_after_k_updates() -> None:
    ranks = run_ranks(2, _train_k_updates, "all", 3)
    np.testing.assert_array_equal(ranks[0]["start"], ranks[1]["start"])  # broadcast init
    np.testing.assert_array_equal(ranks[0]["end"], ranks[1]["end"])  # bit for bit
    assert not np.allclose(ranks[0]["end"], ranks[0]["start"])  # they did learn
    assert not np.array_equal(ranks[0]["rewards"], ranks[1]["rewards"])  # from different data
    payload = ranks[0]["bytes"]["bytes_payload_per_update"]
    assert payload >= ranks[0]["start"].size * 4  # at least the whole gradient, every update
    independent = run_ranks(2, _train_k_updates, "none", 3)  # control: no sharing, drift apart
    np.testing.assert_array_equal(independent[0]["start"], independent[1]["start"])
    assert not np.allclose(independent[0]["end"], independent[1]["end"])
    assert independent[0]["bytes"]["bytes_payload"] == 0


def synthetic_rollout(seed: int, t: int = 5, b: int = 4, n: int = 2) -> list[Transition]:
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(t):
        masks = rng.random((b, n, 4)) < 0.7
        masks[..., 0] = True
        actions = np.where(masks, rng.random((b, n, 4)), -1).argmax(-1)
        steps.append(Transition(
            rng.random((b, n, 6)).astype(np.float32), masks, actions,
            rng.normal(size=(b, n)).astype(np.float32), rng.random((b, n, 6)).astype(np.float32),
            np.ones((b, n, 4), bool), rng.random(b) < 0.2, rng.random(b) < 0.2))  # fmt: skip
    return steps


def synthetic_info() -> EnvInfo:
    agents = ("recommender_0", "recommender_1")
    return EnvInfo("synthetic", agents, 6, 4, np.zeros(6), np.ones(6))


def half(rollout: list[Transition], rank: int) -> list[Transition]:
    rows = slice(2 * rank, 2 * rank + 2)  # rank 0: worlds 0-1, rank 1: worlds 2-3
    return [Transition(*(getattr(tr, f)[rows] for f in Transition.__dataclass_fields__))
            for tr in rollout]  # fmt: skip


PARAMS = {"max_grad_norm": 0.5, "normalize_advantages": True, "hidden": (16,)}


def _one_update(rank: int, world: int) -> tuple[np.ndarray, np.ndarray]:
    learner = make_learner("dmarl", synthetic_info(), PARAMS, np.random.default_rng(5 + rank))
    learner.gradient_step(half(synthetic_rollout(0), rank))
    grads = torch.cat([p.grad.reshape(-1) for p in learner.net.parameters()]).numpy().copy()
    return grads, flat_params(learner)


def test_two_worker_update_equals_one_worker_update_on_the_concatenated_batch() -> None:
    ranks = run_ranks(2, _one_update)
    single = make_learner("dmarl", synthetic_info(), PARAMS, np.random.default_rng(5))
    single.gradient_step(synthetic_rollout(0))  # B = 4 worlds in one process
    grads = torch.cat([p.grad.reshape(-1) for p in single.net.parameters()]).numpy()
    for rank_grads, rank_params in ranks:
        np.testing.assert_allclose(rank_grads, grads, rtol=1e-5, atol=1e-7)  # fp32 sums
        np.testing.assert_allclose(rank_params, flat_params(single), rtol=1e-5, atol=1e-6)
    assert np.abs(grads).max() > 1e-3  # a real gradient, clipped (max_grad_norm 0.5) or not


# ---------------------------------------------------------------- graph sharing: consensus
def _consensus(rank: int, world: int, graph: str, rounds: int) -> list[np.ndarray]:
    module = torch.nn.Linear(3, 2)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.from_numpy(np.random.default_rng(rank).normal(size=p.shape)))
    history = []
    for _ in range(rounds + 1):
        history.append(torch.cat([p.detach().reshape(-1) for p in module.parameters()]).numpy())
        mix_parameters(module, rank, world, graph, torch.device("cpu"))
    return history


@pytest.mark.parametrize(("world", "graph", "rate"), [(4, "ring", 1 / 3), (2, "ring", 0.0)])
def test_graph_consensus_contracts_disagreement_at_the_documented_rate(
    world: int, graph: str, rate: float
) -> None:
    """Ring of 4 (Metropolis weights 1/3): the disagreement ‖θ_r − θ̄‖ shrinks by the mixing
    matrix's second eigenvalue 1/3 per step; a ring of 2 averages exactly in one step."""
    rounds = 4
    history = np.array(run_ranks(world, _consensus, graph, rounds))  # (ranks, rounds+1, P)
    mean = history.mean(axis=0)
    np.testing.assert_allclose(mean, np.broadcast_to(mean[0], mean.shape), atol=1e-6)  # kept
    spread = np.linalg.norm(history - mean, axis=(0, 2))
    for k in range(1, rounds + 1):
        assert spread[k] <= rate**k * spread[0] + 1e-5, (k, spread)
    if rate > 0:
        assert spread[1] == pytest.approx(rate * spread[0], rel=0.05)  # not faster either


# ---------------------------------------------------------------- launch mistakes
def _different_configs(rank: int, world: int) -> str:
    cfg = trainer.TrainConfig(GAME, {}, "dmarl", {}, steps=10 + rank)
    try:
        trainer.agree_on_config(trainer._node(), cfg)
    except trainer.DistributedError as exc:
        return str(exc)
    return "no error"


def test_nodes_with_different_configurations_refuse_to_train() -> None:
    for message in run_ranks(2, _different_configs):
        assert "different configurations" in message


def _join_alone(port: int, queue) -> None:
    os.environ.update({"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port), "MAREC_DIST_TIMEOUT": "3"})  # fmt: skip
    try:
        trainer.join()
        queue.put("joined")
    except trainer.DistributedError as exc:
        queue.put(str(exc))


def test_world_size_mismatch_is_a_clear_error_not_a_hang() -> None:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_join_alone, args=(free_port(), queue))
    proc.start()
    message = queue.get(timeout=RANK_TIMEOUT_S)
    proc.join(timeout=10)
    assert "could not form the process group" in message and "world size" in message


def test_port_in_use_is_a_clear_error(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = cli.main(["train", str(SCENARIO_FILE(tmp_path)), "--learner", "dmarl",
                         "--workers", "2", "--rdzv-endpoint", f"127.0.0.1:{port}",
                         "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert f"port {port} is already in use" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written


def test_workers_refuse_learners_that_do_not_share_gradients(tmp_path: Path, capsys) -> None:
    code = cli.main(["train", str(SCENARIO_FILE(tmp_path)), "--learner", "iql", "--workers",
                     "2", "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == cli.EXIT_USAGE and "shares_gradients" in capsys.readouterr().err


# ---------------------------------------------------------------- real launchers
def SCENARIO_FILE(tmp_path: Path, steps: int = 480, interval: int = 240) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(f"""name: dmarl-tiny
description: matrix game, tiny.
env_id: {GAME}
env_overrides: {{mode: cooperative, max_cycles: 3, reward_noise: 1.0}}
learners:
  - name: dmarl
    params: {{rollout_steps: 4}}
  - name: iql
steps: {steps}
eval_interval: {interval}
eval_episodes: 2
seeds: 1
num_envs: 2
""")
    return path


def bench(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MAREC_DIST_TIMEOUT": "30"}
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # fmt: skip


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split() if (task / "children").exists() else []
        found += [int(c) for c in text]
    return found + [g for c in found for g in children(c)]


def test_killing_one_worker_ends_the_run_with_an_error(tmp_path: Path) -> None:
    scenario = SCENARIO_FILE(tmp_path, steps=2_000_000, interval=200)
    out = tmp_path / "out"
    proc = bench("-m", "benchmarks", "train", str(scenario), "--learner", "dmarl",
                 "--workers", "2", "--out", str(out), "--no-progress")  # fmt: skip
    ckpt = out / "checkpoints" / "dmarl-s0.pt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert ckpt.exists(), proc.communicate(timeout=30)
    time.sleep(1.0)
    lines = {p: Path(f"/proc/{p}/cmdline").read_bytes() for p in children(proc.pid)}
    workers = [p for p, line in lines.items()
               if b"benchmarks" in line and b"torch.distributed.run" not in line]  # fmt: skip
    assert len(workers) == 2, workers
    killed_at = time.monotonic()
    os.kill(workers[-1], signal.SIGKILL)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - killed_at < 60
    assert proc.returncode == 1
    assert "distributed training failed" in err
    from agents.registry import load_learner

    info = open_env(GAME, {"mode": "cooperative", "max_cycles": 3, "reward_noise": 1.0}, 1).info
    assert load_learner(str(ckpt), info).name == "dmarl"  # the last good checkpoint loads
    rows = results.read_rows(out)  # complete rows only: written atomically by rank 0
    assert rows and all(r["learner"] == "dmarl" for r in rows)


def _train_scenario(rank: int, world: int, path: str) -> list[float]:
    from benchmarks import runner, scenario

    scen = scenario.load(path)
    cfg = runner.make_config(trainer.TrainConfig, scen, scen.learners[0], 0)
    return [r.eval_return for r in trainer.train_distributed(cfg).records]


def test_two_node_launch_agrees_with_the_single_node_run(tmp_path: Path) -> None:
    """Two torchrun launchers (one process each, c10d rendezvous on 127.0.0.1) against the
    same scenario on two processes of one node: the same ranks, seeds and updates."""
    scenario = SCENARIO_FILE(tmp_path)
    # The reference runs first: run_ranks takes a free port of its own, and two ports asked
    # for at once may be the same one (the first is free again until torchrun binds it).
    single = run_ranks(2, _train_scenario, str(scenario))[0]  # rank 0's evaluations
    port = free_port()
    nodes = [bench("-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                   "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                   "--rdzv-id", "dmarl-test", "--max-restarts", "0", "-m", "benchmarks",
                   "train", str(scenario), "--learner", "dmarl", "--out",
                   str(tmp_path / "two-node"), "--no-progress")
             for _ in range(2)]  # fmt: skip
    for node in nodes:
        assert node.wait(timeout=180) == 0, node.communicate()
    two = results.read_rows(tmp_path / "two-node")
    assert [r["step"] for r in two] == [240, 480]
    assert [r["updates"] for r in two] == [240 // 16, 480 // 16]  # per node: B=2, T=4, W=2
    assert all(r["dist_workers"] == 2 for r in two)
    assert [r["eval_return"] for r in two] == pytest.approx(single, abs=1e-9)
    checkpoints = list((tmp_path / "two-node").rglob("*.pt"))
    assert [p.name for p in checkpoints] == ["dmarl-s0.pt"]  # rank 0 alone wrote one
