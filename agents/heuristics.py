"""Heuristic baselines a reviewer asks for, and the team's joint oracle (markets v1).

- ``greedy-dedup``: each agent shows its best candidate that no earlier agent already shows
  (read from the shared candidate board), so a page never wastes a slot on a duplicate, and
  not one the session has already shown where the env says so; with ``bait_aversion`` it
  also passes over candidates by their published bait tag (``marec/clickbait-v1``).
- ``pid-pacing``: in auctions, the backbone's top-1 with a bid set by a PID controller that
  spends the budget evenly over the episode (as in the auto-bidding literature).
- ``oracle-joint``: the team's one-step oracle. It assigns distinct candidates to agents by
  true utility, best first, and (in the positioned slate) puts the best item on top.
  Evaluation only: it reads the env's hidden action values.

Actions are ``candidate × L + level`` (L = n_actions / K). What a level means depends on the
env's mechanism: a bid in auctions, a position in the ``slate`` mechanism; :func:`_level_kind`
reads it from the env id's preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.base import BaseLearner, Batch, EnvInfo, LearnerError


def _level_kind(info: EnvInfo) -> str:
    """``position`` (slate), ``bid`` (auctions) or ``none`` (one level)."""
    candidates = _candidates(info)
    if info.n_actions == candidates:
        return "none"
    try:
        import marec_env

        allocation = marec_env.make_config(info.env_id).allocation
    except (ValueError, ImportError):
        return "bid"
    return "position" if allocation == "slate" else "bid"


def _candidates(info: EnvInfo) -> int:
    valid = info.layout_part("cand_valid", needed_by="heuristic baselines")
    k = valid.stop - valid.start
    if info.n_actions % k:
        raise LearnerError(f"{info.n_actions} actions is not a multiple of K={k} candidates")
    return k


def _distinct_picks(
    batch: Batch, info: EnvInfo, values: np.ndarray, order: np.ndarray | None = None
) -> np.ndarray:
    """(B, N) each agent's candidate. Agents choose in ``order`` (B, N) (default: index
    order), each its best-``values`` (B, N, K) allowed candidate that no earlier agent picked
    (the same item is read from the board ``cand_rival_rank``); an agent left with only
    duplicates takes its best."""
    k = _candidates(info)
    levels = info.n_actions // k
    b, n = batch.obs.shape[:2]
    if order is None:
        order = np.broadcast_to(np.arange(n), (b, n))
    board = (info.obs_layout or {}).get("cand_rival_rank")
    allowed = batch.masks[..., np.arange(k) * levels]  # (B, N, K) candidate allowed
    picks = np.zeros((b, n), np.int64)
    rank_value = 1.0 - np.arange(k) / k
    w = np.arange(b)
    for r in range(n):
        i = order[:, r]
        taken = np.zeros((b, k), bool)
        if board is not None:
            columns = board.start + np.arange(k)[:, None] * n + np.arange(n)
            rows = batch.obs[w, i][:, columns]  # (B, K, N): rank of my candidate in j's list
            for earlier in range(r):  # j picked rank picks[j]: do I hold that item?
                j = order[:, earlier]
                want = rank_value[picks[w, j]][:, None]
                taken |= np.abs(rows[w, :, j] - want) < 0.5 / k
        score = np.where(allowed[w, i], values[w, i], -np.inf)
        fresh = np.where(taken, -np.inf, score)
        choose_fresh = np.isfinite(fresh).any(axis=1)
        picks[w, i] = np.where(choose_fresh, fresh.argmax(axis=1), score.argmax(axis=1))
    return picks


def _positions(values: np.ndarray, levels: int) -> np.ndarray:
    """(B, N) position claims: agents ordered by ``values`` (B, N), best at the top."""
    rank = (-values).argsort(axis=1, kind="stable").argsort(axis=1)
    return np.minimum(rank, levels - 1)


@dataclass(frozen=True)
class DedupParams:
    bait_aversion: float = 0.0
    """Backbone ranks a candidate loses per unit of its published bait tag
    (``cand_bait_signal``, in [-1, 1]; envs without it ignore this). 0: the plain rule; a
    large value shows the least-tagged candidates first (a rule with foresight on
    ``marec/clickbait-v1``, where bait ends visits sooner)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.bait_aversion <= 1e6:
            raise LearnerError(f"bait_aversion must be in [0, 1e6], got {self.bait_aversion!r}")


@dataclass(frozen=True)
class JointOracleParams:
    maximise_team_reward: bool = False
    """The joint oracle maximises the agents' summed utility; on an env that pays agents
    differently it runs only when this says so (as a team-welfare reference)."""


class DedupGreedyLearner(BaseLearner):
    """Backbone top-1, skipping items an earlier agent already shows (and, where the env
    publishes ``cand_session_seen``, items this session has shown); in the positioned slate
    agents claim positions by the public match of their item (``cand_match``, else backbone
    score); in auctions the middle bid."""

    name = "greedy-dedup"

    def __init__(self, info: EnvInfo, params: DedupParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self.candidates = _candidates(info)
        self.levels = info.n_actions // self.candidates
        self.kind = _level_kind(info)
        layout = info.obs_layout or {}
        self._score = layout.get("cand_match", layout.get("cand_score"))
        self._seen = layout.get("cand_session_seen")
        self._bait = layout.get("cand_bait_signal") if params.bait_aversion else None

    def _check_header(self, path: str, header: dict[str, Any]) -> None:
        saved = header.get("params")
        if isinstance(saved, dict):  # written before bait_aversion existed: the plain rule
            header = {**header, "params": {"bait_aversion": 0.0, **saved}}
        super()._check_header(path, header)

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        b, n = batch.obs.shape[:2]
        by_rank = np.broadcast_to(-np.arange(self.candidates, dtype=float), (b, n, self.candidates))
        if self._seen is not None:  # items this session has already shown go last
            by_rank = by_rank - self.candidates * batch.obs[..., self._seen]
        if self._bait is not None:
            by_rank = by_rank - self.params.bait_aversion * batch.obs[..., self._bait]
        picks = _distinct_picks(batch, self.info, by_rank)
        if self.kind == "position":
            value = np.take_along_axis(batch.obs[..., self._score], picks[..., None], 2)[..., 0]
            level = _positions(value, self.levels)
        else:
            level = np.full((b, n), self.levels // 2)
        return picks * self.levels + level


class JointOracleLearner(BaseLearner):
    """The team's one-step oracle: distinct items by true utility, best on top (evaluation
    only; reads ``batch.oracle``)."""

    name = "oracle-joint"

    def __init__(self, info: EnvInfo, params: JointOracleParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self.candidates = _candidates(info)
        self.levels = info.n_actions // self.candidates
        self.kind = _level_kind(info)

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        if batch.oracle is None:
            raise LearnerError("oracle-joint needs batch.oracle (capability reads_oracle)")
        per_candidate = batch.oracle[..., :: self.levels]  # (B, N, K) same value every level
        b, n = per_candidate.shape[:2]
        # Agents pick in order of their best candidate's value, so the strongest list goes
        # first and weaker lists avoid its item.
        order = (-per_candidate.max(axis=2)).argsort(axis=1)
        picks = _distinct_picks(batch, self.info, per_candidate, order)
        value = np.take_along_axis(per_candidate, picks[..., None], 2)[..., 0]
        if self.kind == "position":
            level = _positions(value, self.levels)
        else:
            level = np.full((b, n), self.levels // 2)
        return picks * self.levels + level


@dataclass(frozen=True)
class PIDParams:
    """Gains of the pacing controller (error: share of budget spent − share of time gone)."""

    kp: float = 10.0
    """Proportional gain, in bid levels per unit of pacing error."""
    ki: float = 0.5
    """Integral gain (per step)."""
    kd: float = 0.0
    """Derivative gain."""


class PIDPacingLearner(BaseLearner):
    """Backbone top-1 with a paced bid: the level rises while the budget is spent slower than
    time passes and falls when it is spent faster. Needs ``agent_budget`` and ``time``
    in the observation; without a budget it bids the middle level (greedy)."""

    name = "pid-pacing"

    def __init__(self, info: EnvInfo, params: PIDParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        self.candidates = _candidates(info)
        self.levels = info.n_actions // self.candidates
        layout = info.obs_layout or {}
        self._budget, self._time = layout.get("agent_budget"), layout.get("time")
        self._valid = layout["cand_valid"]
        self._integral: np.ndarray | None = None
        self._last_error: np.ndarray | None = None
        self._last_time: np.ndarray | None = None

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        valid = batch.obs[..., self._valid] > 0.5
        top = np.where(valid.any(axis=2), valid.argmax(axis=2), 0)
        middle = self.levels // 2
        if self._budget is None or self._time is None or self.levels == 1:
            return top * self.levels + middle
        elapsed = batch.obs[:, :, self._time.start]
        spent = 1.0 - batch.obs[:, :, self._budget.start]
        error = elapsed - spent  # > 0: under-spending, bid up
        if self._integral is None or self._integral.shape != error.shape:
            self._integral = np.zeros_like(error)
            self._last_error = error.copy()
            self._last_time = elapsed.copy()
        restart = elapsed < self._last_time  # a new episode began in that world
        self._integral = np.where(restart, 0.0, self._integral + error)
        derivative = np.where(restart, 0.0, error - self._last_error)
        self._last_error, self._last_time = error, elapsed
        p = self.params
        control = p.kp * error + p.ki * self._integral + p.kd * derivative
        level = np.clip(np.rint(middle + control), 0, self.levels - 1)
        return top * self.levels + level.astype(np.int64)
