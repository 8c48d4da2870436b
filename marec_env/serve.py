"""The page meets the user: proposals, the click and what the page earned (stages 2, 4, 5 of
:func:`marec_env.step.advance`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core import metrics, users
from marec_env.core.allocation import Page
from marec_env.core.catalog import Catalog
from marec_env.core.choice import sample_choice
from marec_env.setup import Setup


@dataclass
class Choice:
    """The page as the user saw it and what they did (stage 4)."""

    shown: np.ndarray
    """(W, S) bool slot holds an item."""
    item: np.ndarray
    """(W, S) int64 item per slot, 0 where empty (mask with ``shown``)."""
    utility: np.ndarray
    """(W, S) true utility of each slot's item for the user (hidden)."""
    probabilities: np.ndarray
    """(W, S + 1) click probability per slot, last column no click."""
    slot: np.ndarray
    """(W,) int64 clicked slot, S for no click."""
    clicked: np.ndarray
    """(W,) bool."""
    onehot: np.ndarray
    """(W, S) bool the clicked slot."""


@dataclass
class Settlement:
    """What the page earned (stage 5)."""

    rewards: np.ndarray
    """(W, N) r_i = λ·own_i + (1 − λ)·team."""
    own: np.ndarray
    revenue: np.ndarray
    payment: np.ndarray
    team: np.ndarray
    diversity: np.ndarray
    """(W,) intra-list diversity of the page."""
    engagement: np.ndarray
    """(W, S) engagement a click on each slot brings, 0 for empty slots."""
    consumed: np.ndarray
    """(W,) int64 clicked item, -1 for none."""
    gained: np.ndarray
    """(W,) engagement of the click, 0 for none."""


def propose(candidate_items: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """(W, N, K) each agent's candidates reordered so that the chosen one comes first."""
    w, n, k = candidate_items.shape
    order = _chosen_first(k)[chosen]  # np.take_along_axis's indexing, without its overhead
    return candidate_items[np.arange(w)[:, None, None], np.arange(n)[None, :, None], order]


@functools.cache
def _chosen_first(k: int) -> np.ndarray:
    """(K, K) row c: candidate c, then the others in rank order."""
    rest = np.arange(k)[None, :] != np.arange(k)[:, None]
    return np.argsort(rest, axis=1, kind="stable")


def choose(
    setup: Setup,
    population: users.Population,
    current: np.ndarray,
    page: Page,
    rng: np.random.Generator,
) -> Choice:
    """The user in session looks at the page and clicks at most one item."""
    shown, item, utility, probs = look_at(setup, population, setup.worlds, current, page)
    slot = sample_choice(probs, rng.random(len(setup.worlds)))
    onehot = np.arange(setup.config.slots)[None, :] == slot[:, None]
    return Choice(shown, item, utility, probs, slot, slot < setup.config.slots, onehot)


def look_at(
    setup: Setup, population: users.Population, worlds: np.ndarray, user: np.ndarray, page: Page
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Page row r seen by ``user[r]`` of world ``worlds[r]``: (shown, item with 0 for empty
    slots, true utility, click probabilities with no-click last), before any draw."""
    cfg, cat = setup.config, setup.catalog
    shown = page.item >= 0
    item = np.where(shown, page.item, 0)
    utility = users.true_utility(
        population, worlds, user, cat.latent[item], cat.quality[item], cfg.quality_weight
    )
    probs = setup.choice_probabilities(
        utility, shown, setup.position_weights, cfg.utility_scale, cfg.no_click_utility
    )
    return shown, item, utility, probs


def settle(
    cfg: MarketConfig, catalog: Catalog, n_agents: int, page: Page, choice: Choice
) -> Settlement:
    """Engagement of the click (or its expectation), payments at the page's prices, rewards."""
    shown, item = choice.shown, choice.item
    engagement = np.where(shown, sigmoid(choice.utility), 0.0)
    weight = choice.probabilities[:, :-1] if cfg.reward_mode == "expected" else choice.onehot
    if kernels.one_world_path(len(item)):  # the click of world 0, without index arrays
        slot = int(choice.slot[0])
        clicked = slot < cfg.slots
        consumed = np.array([item[0, slot] if clicked else -1])
        gained = engagement[0, slot : slot + 1].copy() if clicked else np.zeros(1, engagement.dtype)
    else:
        rows, slot = np.arange(len(item)), np.minimum(choice.slot, cfg.slots - 1)
        consumed = np.where(choice.clicked, item[rows, slot], -1)
        gained = np.where(choice.clicked, engagement[rows, slot], 0.0)
    compiled = kernels.settle(
        shown, item, engagement, weight, page.price, page.owner, catalog.attributes, n_agents,
        cfg.diversity_weight, cfg.reward_lambda,
    )  # fmt: skip
    if compiled is not None:
        rewards, own, revenue, payment, team, diversity = compiled
        if cfg.agent_budget > 0:  # budgets cap later bids: spend adds the numpy payments
            payment = (owned_slots(page, n_agents) * (page.price * weight)[:, None, :]).sum(axis=2)
        return Settlement(
            rewards, own, revenue, payment, team, diversity, engagement, consumed, gained
        )
    value = engagement * weight
    paid = page.price * weight
    owned = owned_slots(page, n_agents)
    revenue = (owned * value[:, None, :]).sum(axis=2)
    payment = (owned * paid[:, None, :]).sum(axis=2)
    diversity = metrics.intra_list_diversity(catalog.attributes[item], shown)
    team = value.sum(axis=1) + cfg.diversity_weight * diversity
    own = revenue - payment
    rewards = cfg.reward_lambda * own + (1.0 - cfg.reward_lambda) * team[:, None]
    return Settlement(rewards, own, revenue, payment, team, diversity, engagement, consumed, gained)


def owned_slots(page: Page, n_agents: int) -> np.ndarray:
    """(W, N, S) bool agent n filled slot s."""
    return page.owner[:, None, :] == np.arange(n_agents)[None, :, None]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
