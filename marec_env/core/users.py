"""Users: hidden preferences and fatigue, public sign-up data, and sessions. Batched (W, U)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marec_env.core.catalog import profile_text_index

PREFERENCE_LIMIT = 3.0


@dataclass
class Population:
    """Per-world user population. ``preference`` and ``fatigue`` are hidden."""

    preference: np.ndarray
    """(W, U, T) float32 taste for each topic (hidden)."""
    fatigue: np.ndarray
    """(W, U, T) float32 boredom per topic, decays every step the user is served (hidden)."""
    stated: np.ndarray
    """(W, U, T) float32 interests the user ticked at sign-up: a noisy public view."""
    profile_text_id: np.ndarray
    """(W, U) int64 index of the sign-up text in ``Catalog.profile_texts``."""

    @classmethod
    def empty(cls, num_worlds: int, num_users: int, n_topics: int) -> Population:
        shape = (num_worlds, num_users, n_topics)
        return cls(
            preference=np.zeros(shape, np.float32),
            fatigue=np.zeros(shape, np.float32),
            stated=np.zeros(shape, np.float32),
            profile_text_id=np.zeros((num_worlds, num_users), np.int64),
        )


@dataclass
class Sessions:
    """The user currently being served in each world."""

    user: np.ndarray
    """(W,) int64 index of the current user."""
    budget: np.ndarray
    """(W,) float32 time the user has left this session (hidden)."""
    misses: np.ndarray
    """(W,) int64 consecutive pages without a click."""
    steps: np.ndarray
    """(W,) int64 pages served in this session."""
    clicks: np.ndarray
    """(W,) int64 clicks in this session."""
    last_clicked: np.ndarray
    """(W,) bool whether the previous page got a click."""
    last_topic: np.ndarray
    """(W,) int64 main topic of the last item consumed this session (-1: none yet)."""

    @classmethod
    def empty(cls, num_worlds: int) -> Sessions:
        return cls(
            user=np.zeros(num_worlds, np.int64),
            budget=np.zeros(num_worlds, np.float32),
            misses=np.zeros(num_worlds, np.int64),
            steps=np.zeros(num_worlds, np.int64),
            clicks=np.zeros(num_worlds, np.int64),
            last_clicked=np.zeros(num_worlds, bool),
            last_topic=np.full(num_worlds, -1, np.int64),
        )


def draw_users(
    population: Population,
    worlds: np.ndarray,
    users: np.ndarray,
    rng: np.random.Generator,
    stated_noise: float,
    profile_from_stated: bool = False,
) -> None:
    """Fill the given (world, user) slots with brand-new users. The profile text names the
    user's top-2 hidden topics (v0), or with ``profile_from_stated`` the top-2 of the noisy
    stated interests (markets v1: the text carries no exact hidden value)."""
    n, n_topics = len(worlds), population.preference.shape[2]
    preference = rng.standard_normal((n, n_topics)).astype(np.float32)
    stated = np.maximum(preference + stated_noise * rng.standard_normal((n, n_topics)), 0.0)
    norm = np.linalg.norm(stated, axis=1, keepdims=True)
    stated = np.where(norm > 0, stated / np.maximum(norm, 1e-12), 1.0 / np.sqrt(n_topics))
    # Stable: users with fewer than two positive stated interests tie at zero, and the
    # default sort need not keep ties in order (numpy may pick SIMD sorting networks by CPU).
    order = np.argsort(-(stated if profile_from_stated else preference), axis=1, kind="stable")
    population.preference[worlds, users] = preference
    population.fatigue[worlds, users] = 0.0
    population.stated[worlds, users] = stated.astype(np.float32)
    population.profile_text_id[worlds, users] = profile_text_index(
        order[:, 0], order[:, 1], n_topics
    )


def start_sessions(
    sessions: Sessions,
    worlds: np.ndarray,
    num_users: int,
    budget_range: tuple[float, float],
    rng: np.random.Generator,
) -> None:
    """A random member of each world's population starts a session with a fresh budget."""
    n = len(worlds)
    sessions.user[worlds] = rng.integers(num_users, size=n)
    sessions.budget[worlds] = rng.uniform(budget_range[0], budget_range[1], size=n)
    sessions.misses[worlds] = 0
    sessions.steps[worlds] = 0
    sessions.clicks[worlds] = 0
    sessions.last_clicked[worlds] = False
    sessions.last_topic[worlds] = -1


def true_utility(
    population: Population,
    worlds: np.ndarray,
    users: np.ndarray,
    item_latent: np.ndarray,
    item_quality: np.ndarray,
    quality_weight: float,
) -> np.ndarray:
    """Utility of items for users from hidden latents only: taste − fatigue, plus quality.

    ``item_latent`` is (n, S, T) and ``item_quality`` (n, S) for n (world, user) pairs.
    """
    taste = population.preference[worlds, users] - population.fatigue[worlds, users]
    return np.einsum("nt,nst->ns", taste, item_latent) + quality_weight * item_quality


def consume(
    population: Population,
    worlds: np.ndarray,
    users: np.ndarray,
    item_latent: np.ndarray,
    drift_rate: float,
    fatigue_rate: float,
) -> None:
    """Drift tastes toward the consumed items' topics and tire the user of them.

    ``item_latent`` is (n, T), one consumed item per (world, user) pair.
    """
    preference = population.preference[worlds, users]
    drift_tastes(preference, item_latent, drift_rate)
    population.preference[worlds, users] = preference
    population.fatigue[worlds, users] += fatigue_rate * item_latent


def drift_tastes(preference: np.ndarray, item_latent: np.ndarray, drift_rate: float) -> None:
    """Move tastes (n, T), in place, toward the consumed items' centred topics (n, T)."""
    centred = item_latent - item_latent.mean(axis=1, keepdims=True)
    preference += drift_rate * PREFERENCE_LIMIT * centred
    np.clip(preference, -PREFERENCE_LIMIT, PREFERENCE_LIMIT, out=preference)
