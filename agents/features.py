"""Per-action features for the linear learners, read from the named parts of the observation.

An action shows one candidate (at one bid level in auctions), so the features of action a of
agent i are what the observation says about *that* candidate, plus what it says about the
page as a whole. For candidate c = a // L (L bid levels) and level a % L, φ_i(o, a) is:

1. every per-candidate part (``cand_*`` with K entries: backbone score, age, popularity,
   validity, market click-through rate, overlap, repeated genre) at candidate c;
2. the candidate's row of the shared board ``cand_rival_rank`` (how high each agent ranks
   that item, 0 if it does not hold it), where the env has one;
3. a one-hot of the rank c (K entries) and, in auctions, of the bid level (L entries);
4. every other observation entry (user, agent, time): the same for all actions, they let the
   value fit the part of the reward no action changes, which keeps the action weights clean.

On the market envs (K = 8, N = 3) that is 7 + 3 + 8 + 10 = 28 features. The collision
matrix :meth:`CandidateFeatures.same_item` says which action pairs of two agents show the
same item; MAQ-L's linear variant uses it as a pair feature.
"""

from __future__ import annotations

import numpy as np

from agents.base import EnvInfo, LearnerError


class CandidateFeatures:
    """Maps observations (B, N, obs_dim) to per-action features (B, N, A, dim)."""

    def __init__(self, info: EnvInfo, needed_by: str) -> None:
        valid = info.layout_part("cand_valid", needed_by)
        layout = info.obs_layout or {}
        k = valid.stop - valid.start
        if info.n_actions % k:
            raise LearnerError(
                f"{needed_by}: {info.n_actions} actions is not a multiple of K={k} "
                "candidates; cannot tell which candidate an action shows"
            )
        self.candidates, self.levels = k, info.n_actions // k
        self.n_agents = len(info.agents)
        parts = [name for name, s in layout.items()
                 if name.startswith("cand_") and s.stop - s.start == k]  # fmt: skip
        columns = [np.arange(layout[name].start, layout[name].stop) for name in parts]
        board = layout.get("cand_rival_rank")
        self.board = board
        if board is not None:
            columns.extend(board.start + np.arange(k) * self.n_agents + j
                           for j in range(self.n_agents))  # fmt: skip
        self._cand_columns = np.stack(columns, axis=1)  # (K, per-candidate features)
        used = set(self._cand_columns.ravel().tolist())
        self._context = np.array([c for c in range(info.obs_dim) if c not in used], np.int64)
        actions = np.arange(info.n_actions)
        self.candidate_of = actions // self.levels
        onehots = [np.eye(k)[self.candidate_of]]
        if self.levels > 1:
            onehots.append(np.eye(self.levels)[actions % self.levels])
        self._action_onehot = np.concatenate(onehots, axis=1)  # (A, K [+ L])
        self.dim = self._cand_columns.shape[1] + self._action_onehot.shape[1] + len(self._context)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        b, n = obs.shape[:2]
        a = len(self.candidate_of)
        per_candidate = obs[..., self._cand_columns][:, :, self.candidate_of]  # (B, N, A, m)
        onehot = np.broadcast_to(self._action_onehot, (b, n, *self._action_onehot.shape))
        context = np.broadcast_to(obs[:, :, None, self._context], (b, n, a, len(self._context)))
        return np.concatenate([per_candidate, onehot, context], axis=-1)

    def same_item(self, obs: np.ndarray, i: int, j: int) -> np.ndarray:
        """(B, A, A) bool: action a_i of agent i and a_j of agent j show the same item, read
        from agent i's board (entry 1 − c'/K where j holds i's candidate c at rank c')."""
        c = self.candidate_of
        return self.same_candidates(obs, i, j)[:, c][:, :, c]

    def same_candidates(self, obs: np.ndarray, i: int, j: int) -> np.ndarray:
        """(B, K, K) bool: candidate c of agent i is candidate c' of agent j (the board)."""
        if self.board is None:
            raise LearnerError("the env's observation has no cand_rival_rank board")
        k = self.candidates
        held = obs[:, i, self.board.start + np.arange(k) * self.n_agents + j]  # (B, K)
        rank_value = 1.0 - np.arange(k) / k
        return (np.abs(held[:, :, None] - rank_value) < 0.5 / k) & (held[:, :, None] > 0)


def rank_classes(info: EnvInfo, edge_ranks: int) -> np.ndarray:
    """(A,) class of each action in a MAQ-L pair term: min(candidate rank, ``edge_ranks``);
    every action its own class if ``edge_ranks`` is 0. Action pairs of one class pair share
    one payoff, so a pair term has few entries and learns from few samples."""
    actions = np.arange(info.n_actions, dtype=np.int64)
    if edge_ranks == 0:
        return actions
    k = info.n_actions
    if info.obs_layout is not None and "cand_valid" in info.obs_layout:
        part = info.obs_layout["cand_valid"]
        k = max(part.stop - part.start, 1)
    rank = actions // max(info.n_actions // k, 1)  # auctions: action = rank · levels + level
    return np.minimum(rank, edge_ranks)
