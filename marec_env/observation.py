"""The agents' observation vector: its layout and how it is assembled, batched over worlds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

USER_FEATURES = ("session_steps", "session_clicks", "last_clicked", "misses")
AGENT_FEATURES = ("last_slot_share", "last_clicks")


@dataclass(frozen=True)
class ObservationLayout:
    """Where each named part lives in the flat observation (all values lie in [-1, 1])."""

    candidates: int
    n_agents: int

    @property
    def slices(self) -> dict[str, slice]:
        k = self.candidates
        parts = {
            "cand_score": k,
            "cand_age": k,
            "cand_popularity": k,
            "cand_valid": k,
            "cand_ctr": k,
            "cand_overlap": k,
            "cand_repeat_topic": k,
            "cand_rival_rank": k * self.n_agents,
            "user": len(USER_FEATURES),
            "agent": len(AGENT_FEATURES) + self.n_agents,
            "time": 1,
        }
        out, start = {}, 0
        for name, width in parts.items():
            out[name] = slice(start, start + width)
            start += width
        return out

    @property
    def size(self) -> int:
        return self.slices["time"].stop


@dataclass
class ObservationInputs:
    """Public data an observation is built from; candidate arrays are (W, N, K)."""

    cand_score: np.ndarray
    cand_age_steps: np.ndarray
    cand_clicks: np.ndarray
    cand_valid: np.ndarray
    cand_impressions: np.ndarray
    cand_overlap: np.ndarray
    cand_repeat_topic: np.ndarray
    cand_rival_rank: np.ndarray
    """(W, N, K, N) how high each agent ranks each candidate: 1 − rank / K, 0 if not held."""
    session_steps: np.ndarray
    session_clicks: np.ndarray
    last_clicked: np.ndarray
    misses: np.ndarray
    last_slot_share: np.ndarray
    last_clicks: np.ndarray
    t: np.ndarray


def build_observations(
    inputs: ObservationInputs,
    patience: int,
    age_scale: float,
    horizon: int,
) -> np.ndarray:
    """(W, N, obs_dim) float32 in the order of :class:`ObservationLayout`; one concatenate,
    every feature squashed into [-1, 1]."""
    w, n, _ = inputs.cand_score.shape
    score = np.where(inputs.cand_valid, np.tanh(inputs.cand_score), -1.0)
    age = np.minimum(inputs.cand_age_steps / age_scale, 1.0)
    popularity = np.minimum(np.log1p(inputs.cand_clicks) / np.log(101.0), 1.0)
    ctr = (inputs.cand_clicks + 1.0) / (inputs.cand_impressions + 2.0)
    user = np.stack(
        [
            np.minimum(inputs.session_steps / horizon, 1.0),
            np.minimum(inputs.session_clicks / 10.0, 1.0),
            inputs.last_clicked.astype(np.float32),
            np.minimum(inputs.misses / patience, 1.0),
        ],
        axis=1,
    )
    identity = np.broadcast_to(np.eye(n, dtype=np.float32), (w, n, n))
    agent = np.concatenate(
        [
            inputs.last_slot_share[:, :, None],
            np.minimum(inputs.last_clicks, 1.0)[:, :, None],
            identity,
        ],
        axis=2,
    )
    time = np.minimum(inputs.t / horizon, 1.0)
    return np.concatenate(
        [
            score,
            age,
            popularity,
            inputs.cand_valid.astype(np.float32),
            ctr,
            inputs.cand_overlap,
            inputs.cand_repeat_topic.astype(np.float32),
            inputs.cand_rival_rank.reshape(w, n, -1),
            np.broadcast_to(user[:, None, :], (w, n, user.shape[1])),
            agent,
            np.broadcast_to(time[:, None, None], (w, n, 1)),
        ],
        axis=2,
        dtype=np.float32,
    )
