"""One node's training loop for DMARL under ``torchrun`` (or any launcher setting the
``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` variables), and with W = 1 on its own.

``train_distributed(cfg, callback, should_stop, checkpoint_path)`` has the signature of
:func:`agents.train.train` and returns its :class:`~agents.train.TrainResult`. With W nodes:

- ``cfg.steps`` counts world-steps of *all* nodes together: each node plays ``steps / W``,
  so W = 1 and W = 2 compare at the same sample budget and evaluations fall at the same
  global steps (``EvalRecord.step`` is global);
- seeds: ``SeedSequence(cfg.seed).spawn(3)`` → (env, evaluation, learner) as in the
  single-process loop; with W > 1 the env and learner sequences are spawned once more into W
  children, child r for rank r (independent experience and exploration per node). The
  network initialisation is broadcast from rank 0. With W = 1 the seeds are exactly those of
  :func:`agents.train.train`, so the two loops give the same run;
- only rank 0 evaluates, calls ``callback`` (which writes results) and writes checkpoints
  (atomically, :mod:`agents.checkpoint`); a checkpoint is written after each evaluation, so a
  crash keeps the previous good one under the real name;
- a stop request on any node (Ctrl-C, SIGTERM) stops every node at the same update;
- failures are bounded: the process group has a ``timeout`` (``MAREC_DIST_TIMEOUT`` seconds,
  default 120) after which a collective waiting for a silent peer fails; a peer that dies is
  noticed at once through its closed connection. Either way the node raises
  :class:`DistributedError` naming the rank and what to check, instead of hanging.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from agents import registry
from agents.envs import make_parallel_env, open_env
from agents.train import EvalRecord, TrainConfig, TrainResult, _evaluate_record, train_step

DEFAULT_TIMEOUT_S = 120.0


class DistributedError(RuntimeError):
    """A node cannot join, or lost its peers: the message names the rank and the cause."""


@dataclass(frozen=True)
class Node:
    rank: int
    world: int
    local_rank: int
    backend: str


def launched_distributed() -> bool:
    """True in a process started by torchrun (or another env:// launcher) with W > 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def timeout_seconds() -> float:
    raw = os.environ.get("MAREC_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise DistributedError(f"MAREC_DIST_TIMEOUT must be a number of seconds > 0, got {raw!r}")
    return value


def join() -> Node:
    """Join (once) the process group the launcher describes; W = 1 without a launcher."""
    if dist.is_initialized():
        return _node()
    if not launched_distributed():
        return Node(0, 1, 0, "none")
    backend = os.environ.get("MAREC_DIST_BACKEND") or (
        "nccl" if torch.cuda.is_available() else "gloo"
    )
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    rank, world = os.environ.get("RANK", "?"), os.environ.get("WORLD_SIZE", "?")
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()))
    except (dist.DistError, RuntimeError, ValueError) as exc:
        text = str(exc)
        if "EADDRINUSE" in text or "address already in use" in text.lower():
            raise DistributedError(
                f"rank {rank}: rendezvous port {where} is already in use; choose another "
                "port (--rdzv-endpoint / MASTER_PORT)"
            ) from exc
        raise DistributedError(
            f"rank {rank} of {world}: could not form the process group at {where} within "
            f"{timeout_seconds():.0f} s ({text.splitlines()[0] if text else type(exc).__name__});"
            " check that every node was started with the same --nnodes/--nproc-per-node "
            "(world size) and the same rendezvous endpoint"
        ) from exc
    return _node()


def _node() -> Node:
    return Node(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                str(dist.get_backend()))  # fmt: skip


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def agree_on_config(node: Node, cfg: TrainConfig) -> None:
    """Every node must run the same configuration; a mismatch is an error on every node."""
    if node.world == 1:
        return
    digest = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True, default=str).encode())
    mine = (digest.hexdigest()[:16], node.world)
    everyone: list = [None] * node.world
    dist.all_gather_object(everyone, mine)
    if any(other != mine for other in everyone):
        raise DistributedError(
            f"rank {node.rank}: the nodes were started with different configurations or "
            f"world sizes {everyone}; launch every node with the same command"
        )


def rank_seeds(seed: int, node: Node) -> tuple[int, np.random.SeedSequence, np.random.SeedSequence]:
    """(this node's env reset seed, evaluation SeedSequence, this node's learner SeedSequence)."""
    env_seq, eval_seq, learner_seq = np.random.SeedSequence(seed).spawn(3)
    if node.world > 1:
        env_seq = env_seq.spawn(node.world)[node.rank]
        learner_seq = learner_seq.spawn(node.world)[node.rank]
    return int(env_seq.generate_state(1)[0]), eval_seq, learner_seq


def train_distributed(
    cfg: TrainConfig,
    callback: Callable[[EvalRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_path: str | None = None,
) -> TrainResult:
    node = join()
    try:
        agree_on_config(node, cfg)
        return _run(node, cfg, callback, should_stop, checkpoint_path)
    except dist.DistError as exc:
        raise _peer_failure(node, exc, checkpoint_path) from exc
    except RuntimeError as exc:
        if node.world > 1 and _looks_like_network(exc):
            raise _peer_failure(node, exc, checkpoint_path) from exc
        raise


def _looks_like_network(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(k in text for k in ("gloo", "nccl", "connection", "timed out", "timeout", "peer"))


def _peer_failure(node: Node, exc: BaseException, ckpt: str | None) -> DistributedError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    kept = f"; the last good checkpoint {ckpt} is intact" if ckpt and node.rank == 0 else ""
    return DistributedError(
        f"rank {node.rank} of {node.world}: a peer node crashed, was killed or stopped "
        f"responding within {timeout_seconds():.0f} s ({first}){kept}"
    )


def _run(node: Node, cfg: TrainConfig, callback: Callable[[EvalRecord], None] | None,
         should_stop: Callable[[], bool] | None, ckpt: str | None) -> TrainResult:  # fmt: skip
    spec = registry.get_spec(cfg.learner)
    if node.world > 1 and not spec.capabilities.shares_gradients:
        raise DistributedError(
            f"learner {cfg.learner!r} does not share gradients; only learners with capability "
            "shares_gradients run on several nodes"
        )
    env_seed, eval_seq, learner_seq = rank_seeds(cfg.seed, node)
    env = open_env(cfg.env_id, dict(cfg.env_overrides), cfg.num_envs)
    eval_env = make_parallel_env(cfg.env_id, dict(cfg.env_overrides)) if node.rank == 0 else None
    learner = registry.make_learner(cfg.learner, env.info, dict(cfg.learner_params),
                                    np.random.default_rng(learner_seq))  # fmt: skip
    exchange = getattr(learner, "exchange", None)
    reads_oracle = spec.capabilities.reads_oracle
    eval_seeds = [int(s) for s in eval_seq.generate_state(cfg.eval_episodes)]
    records: list[EvalRecord] = []
    start, local, updates, stopped, eval_seconds = time.perf_counter(), 0, 0, False, 0.0
    next_eval = cfg.eval_interval
    batch = env.reset(seed=env_seed)
    try:
        while local * node.world < cfg.steps:
            batch, _, n_updates = train_step(env, learner, batch)
            updates += n_updates
            local += env.num_envs
            step = local * node.world
            stop = should_stop is not None and should_stop()
            if node.world > 1:  # every node stops at the same update, never alone
                stop = exchange.control(stop) if n_updates else False
            if step >= next_eval or step >= cfg.steps or stop:
                if node.rank == 0:
                    eval_start = time.perf_counter()
                    record = _record(eval_env, learner, eval_seeds, reads_oracle, step,
                                     eval_start - start, updates, exchange)  # fmt: skip
                    eval_seconds += time.perf_counter() - eval_start
                    records.append(record)
                    if ckpt:
                        learner.save(ckpt)
                    if callback is not None:
                        callback(record)
                next_eval = (step // cfg.eval_interval + 1) * cfg.eval_interval
            if stop:
                stopped = step < cfg.steps
                break
    finally:
        env.close()
        if eval_env is not None:
            eval_env.close()
    return TrainResult(cfg, records, learner, local * node.world, time.perf_counter() - start,
                       updates, getattr(learner, "messages", 0), stopped, eval_seconds)  # fmt: skip


def _record(eval_env, learner, seeds, oracle, step, wall, updates, exchange) -> EvalRecord:
    record = _evaluate_record(eval_env, learner, seeds, oracle, step, wall, updates)
    if exchange is None:
        return record
    extra = {f"dist_{k}": float(v) for k, v in exchange.counters().items()}
    return replace(record, metrics={**record.metrics, **extra})
