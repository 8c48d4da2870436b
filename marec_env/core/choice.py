"""User choice over a page: multinomial logit with position bias, or the cascade model.

Both return a (n, S + 1) probability table whose last column is "no click", so sampling,
expected rewards and welfare share one code path.
"""

from __future__ import annotations

import numpy as np


def position_weights(slots: int, decay: float) -> np.ndarray:
    """Examination weight of each slot: 1 / log2(p + 2) ** decay (p = 0 is the top)."""
    return (1.0 / np.log2(np.arange(slots) + 2.0) ** decay).astype(np.float32)


def mnl_probabilities(
    utility: np.ndarray, shown: np.ndarray, weights: np.ndarray, scale: float, no_click: float
) -> np.ndarray:
    """P(click slot s) ∝ w_s · exp(scale · u_s); the no-click option has utility ``no_click``.

    Empty slots (``shown`` False) get probability 0.
    """
    logits = scale * utility + np.log(weights)
    logits = np.where(shown, logits, -np.inf)
    top = np.maximum(logits.max(axis=1, keepdims=True), no_click)
    expo = np.exp(logits - top)
    none = np.exp(no_click - top)
    total = expo.sum(axis=1, keepdims=True) + none
    return np.concatenate([expo, none], axis=1) / total


def cascade_probabilities(
    utility: np.ndarray, shown: np.ndarray, weights: np.ndarray, scale: float, no_click: float
) -> np.ndarray:
    """The user scans top-down, examines slot s with probability w_s, and clicks the first
    examined item whose attraction σ(scale · u − no_click) fires."""
    attraction = 1.0 / (1.0 + np.exp(-(scale * utility - no_click)))
    click_here = np.where(shown, attraction * weights, 0.0)
    survive = np.cumprod(1.0 - click_here, axis=1)
    before = np.concatenate([np.ones_like(survive[:, :1]), survive[:, :-1]], axis=1)
    return np.concatenate([click_here * before, survive[:, -1:]], axis=1)


CHOICE_FUNCTIONS = {"mnl": mnl_probabilities, "cascade": cascade_probabilities}


def sample_choice(probabilities: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Index of the chosen column per row (last column = no click), by inverse CDF."""
    cdf = np.cumsum(probabilities, axis=1)
    cdf[:, -1] = 1.0  # float drift must not push a draw past the last option
    return (uniforms[:, None] >= cdf).sum(axis=1)
