"""What public information can buy: the joint oracle acting on utilities predicted from the
public candidate features instead of the hidden ones.

The validity table's R² says how much of the true utility the public features explain; this
says what that explanation is worth in return. A least-squares fit (with an intercept) of the
true utility on each candidate's public features, made on random play, stands in for the
hidden utility; the joint oracle's rule (distinct items, best list first, best on top) then
fills the page from the prediction. It reads hidden utilities only to fit, never to act, so it
is an estimate of what a learner could reach from what it observes, not a bound: a learner
may fit a better function, and it must learn from clicks what this fit reads from labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.policies import Act

V0_PARTS = ("cand_score", "cand_age", "cand_popularity", "cand_ctr", "cand_overlap",
            "cand_repeat_topic")  # fmt: skip
"""The per-candidate features v0 observations already had."""
V1_PARTS = ("cand_match", "cand_quality_signal", "cand_session_match", "cand_evidence",
            "cand_session_seen")  # fmt: skip
"""The public per-candidate features v1 presets add (those the preset publishes)."""


def public_features(obs: np.ndarray, layout: dict[str, slice], candidates: int, n_topics: int):
    """(W, N, K, P) per candidate: the v0 features (the first ``len(V0_PARTS)`` columns), the
    v1 public features the layout has, and stated interests ⊙ published topic tags."""
    parts = [obs[..., layout[p]] for p in V0_PARTS + tuple(p for p in V1_PARTS if p in layout)]
    if "cand_tags" in layout:
        tags = obs[..., layout["cand_tags"]].reshape(*obs.shape[:2], candidates, n_topics)
        stated = obs[..., layout["user_stated"]][:, :, None, :]
        parts += list(np.moveaxis(tags * stated, -1, 0))  # a bilinear match
    return np.stack(parts, axis=-1)


def fit(features: np.ndarray, utility: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (P + 1,) of utility on features (..., P) and an intercept."""
    x = features.reshape(-1, features.shape[-1])
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, utility.reshape(-1), rcond=None)
    return coef


def predict(features: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Predicted utility (...,) of features (..., P) under :func:`fit`'s coefficients."""
    return features @ coef[:-1] + coef[-1]


def act(info: Any, coef: np.ndarray, candidates: int, n_topics: int) -> Act:
    """The joint oracle's rule on predicted utilities (an :data:`Act` for a vector market)."""
    from agents.base import Batch
    from agents.heuristics import JointOracleLearner, JointOracleParams

    rule = JointOracleLearner(
        info, JointOracleParams(maximise_team_reward=True), np.random.default_rng(0)
    )
    levels = info.n_actions // candidates

    def play(obs, masks, market):
        predicted = predict(public_features(obs, info.obs_layout, candidates, n_topics), coef)
        values = np.repeat(predicted, levels, axis=-1)  # (W, N, A): a level keeps its item
        return rule.act(Batch(obs, masks, values), explore=False)

    return play
