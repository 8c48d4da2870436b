"""Per-action network inputs: one Q-network scores every action from what the observation
says about that action's candidate (``utility_input="candidate"`` of DQN and deep MAQ-L).

A flat Q-network maps the whole observation to A outputs, so it must learn separately, for
each of the K candidate positions, that a high ``cand_match`` there is good. Scoring each
action with one network over the action's own features shares that across candidates (the
item-wise decomposition of slate value functions, Ie et al. 2019, and of the linear learners
here, :mod:`agents.features`). For action a = candidate c × L + level, the input is:

1. every candidate-major part of the observation (``cand_*`` with K·m entries: scores,
   public features, the rival board, the candidate's tags) at candidate c, m values each;
2. a one-hot of c (K) and, with L > 1 levels (bid or claimed position), of the level (L);
3. everything else (user, agent, time, session, budget), the same for every action.
"""

from __future__ import annotations

import numpy as np
import torch

from agents.base import EnvInfo, LearnerError

UTILITY_INPUTS = ("observation", "candidate")
"""``observation``: the network maps the observation to A values; ``candidate``: it maps
each action's features (:class:`CandidateInput`) to that action's value."""


class CandidateInput:
    """Maps observations (..., obs_dim) to per-action inputs (..., A, dim), in torch."""

    def __init__(self, info: EnvInfo, needed_by: str) -> None:
        valid = info.layout_part("cand_valid", needed_by)
        k = valid.stop - valid.start
        if info.n_actions % k:
            raise LearnerError(
                f"{needed_by}: {info.n_actions} actions is not a multiple of K={k} "
                "candidates; cannot tell which candidate an action shows"
            )
        levels = info.n_actions // k
        blocks = []
        for name, part in (info.obs_layout or {}).items():
            width = part.stop - part.start
            if name.startswith("cand_") and width % k == 0:
                m = width // k  # candidate-major: candidate c's entries are c·m … c·m + m − 1
                blocks.append(part.start + np.arange(k)[:, None] * m + np.arange(m)[None, :])
        columns = np.concatenate(blocks, axis=1)  # (K, M)
        used = set(columns.ravel().tolist())
        actions = np.arange(info.n_actions)
        onehot = np.eye(k)[actions // levels]
        if levels > 1:
            onehot = np.concatenate([onehot, np.eye(levels)[actions % levels]], axis=1)
        self._columns = torch.from_numpy(columns)
        self._candidate_of = torch.from_numpy(actions // levels)
        self._context = torch.tensor([c for c in range(info.obs_dim) if c not in used])
        self._onehot = torch.from_numpy(onehot.astype(np.float32))  # (A, K [+ L])
        self.n_actions = info.n_actions
        self.dim = columns.shape[1] + onehot.shape[1] + len(self._context)

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        lead, a = obs.shape[:-1], self.n_actions
        per_candidate = obs[..., self._columns][..., self._candidate_of, :]  # (..., A, M)
        context = obs[..., self._context].unsqueeze(-2).expand(*lead, a, len(self._context))
        onehot = self._onehot.expand(*lead, *self._onehot.shape)
        return torch.cat([per_candidate, onehot, context], dim=-1)
