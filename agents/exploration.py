"""ε-greedy exploration: the ε schedule and the random replacement of greedy actions."""

from __future__ import annotations

import numpy as np


def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """``start`` at t = 0, linearly to ``end`` at t = ``duration``, then ``end``."""
    if duration <= 0:
        return end
    return start + (end - start) * min(1.0, t / duration)


def epsilon_greedy(
    greedy: np.ndarray,
    masks: np.ndarray,
    epsilon: float,
    groups: list[list[int]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Replace, with probability ε per world and group, the group's actions by uniform ones.

    ``groups`` partition the agents: independent learners explore alone (one group per
    agent); MAQ-L explores the joint action of each connected component of its coordination
    graph. The random numbers drawn do not depend on ``groups``' contents, only on its length,
    which is what makes MAQ-L without edges replay IQL draw for draw.
    """
    b, n, _ = masks.shape
    coins = rng.random((b, len(groups))) < epsilon
    keys = np.where(masks, rng.random(masks.shape), -1.0)  # uniform over allowed actions
    uniform = keys.argmax(axis=-1)
    explore = np.zeros((b, n), dtype=bool)
    for g, members in enumerate(groups):
        explore[:, members] = coins[:, g : g + 1]
    return np.where(explore, uniform, greedy)
