"""One market step, in the order things happen: page, choice, rewards, users, learning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from marec_env import kernels
from marec_env.core import metrics, users
from marec_env.core.allocation import Page
from marec_env.core.choice import sample_choice

if TYPE_CHECKING:
    from marec_env.market import Market

MARKET_METRICS = (
    "ctr",
    "engagement",
    "ndcg",
    "diversity",
    "coverage",
    "novelty",
    "exposure_gini",
    "cold_start_exposure",
    "welfare",
    "team_reward",
)
AGENT_METRICS = (
    "own_reward",
    "clicks",
    "slots",
    "slot_share",
    "revenue",
    "payment",
    "cold_slots",
    "cold_clicks",
)
INFO_KEYS = (*AGENT_METRICS, *MARKET_METRICS, "backbone_id")
"""Every info dict carries exactly these numeric keys, for every agent, every step."""


@dataclass
class StepResult:
    rewards: np.ndarray
    """(W, N) float32."""
    truncated: np.ndarray
    """(W,) bool: the world reached ``max_cycles``."""
    info: dict[str, np.ndarray]
    """Metric name → (W, N) float32 (market-level metrics repeated per agent)."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def advance(m: Market, actions: np.ndarray) -> StepResult:
    cfg, cat, sess = m.config, m.catalog, m.sessions
    worlds, current = m._worlds, sess.user.copy()
    chosen, bids = m.decode(actions)
    page = m._allocate(m._proposals(chosen), bids)
    shown = page.item >= 0
    item = np.where(shown, page.item, 0)

    utility = users.true_utility(
        m.population, worlds, current, cat.latent[item], cat.quality[item], cfg.quality_weight
    )
    probs = m.choose(utility, shown, m.weights, cfg.utility_scale, cfg.no_click_utility)
    choice = sample_choice(probs, m.rng["choice"].random(m.num_worlds))
    clicked = choice < cfg.slots
    click_onehot = np.arange(cfg.slots)[None, :] == choice[:, None]

    engagement = np.where(shown, _sigmoid(utility), 0.0)
    weight = probs[:, :-1] if cfg.reward_mode == "expected" else click_onehot
    value = engagement * weight
    paid = page.price * weight
    owned = page.owner[:, None, :] == np.arange(m.n_agents)[None, :, None]  # (W, N, S)
    revenue = (owned * value[:, None, :]).sum(axis=2)
    payment = (owned * paid[:, None, :]).sum(axis=2)
    diversity = metrics.intra_list_diversity(cat.attributes[item], shown)
    team = value.sum(axis=1) + cfg.diversity_weight * diversity
    own = revenue - payment
    rewards = cfg.reward_lambda * own + (1.0 - cfg.reward_lambda) * team[:, None]

    consumed = np.where(clicked, item[worlds, np.minimum(choice, cfg.slots - 1)], -1)
    gained = np.where(clicked, engagement[worlds, np.minimum(choice, cfg.slots - 1)], 0.0)
    _update_users(m, current, consumed, gained)
    _learn(m, page, shown, click_onehot, current)
    n_avail = m.n_available
    young = shown & ((m.t[:, None] - cat.release_time[item]) < cfg.cold_start_window)
    info = _metrics(
        m, page, shown, young, utility, probs, clicked, gained, diversity, current, n_avail
    )
    info.update(own_reward=own, revenue=revenue, payment=payment, team_reward=team)

    owned_shown = owned & shown[:, None, :]
    slots = owned_shown.sum(axis=2)
    agent_clicks = (owned_shown & click_onehot[:, None, :]).sum(axis=2)
    owned_young = owned_shown & young[:, None, :]
    info.update(
        cold_slots=owned_young.sum(axis=2),
        cold_clicks=(owned_young & click_onehot[:, None, :]).sum(axis=2),
    )
    info.update(slots=slots, slot_share=slots / cfg.slots, clicks=agent_clicks)
    m.last_slot_share, m.last_clicks = (slots / cfg.slots).astype(np.float32), agent_clicks
    m.last_page, m.last_choice = page, choice

    _end_sessions(m)
    m.t += 1
    for backbone, cache in zip(m.backbones, m.caches):
        redeployed = backbone.tick(m.t)
        if redeployed.any():
            cache.invalidate_worlds(np.flatnonzero(redeployed))
    m._refresh_candidates()
    truncated = m.t >= cfg.max_cycles
    return StepResult(rewards.astype(np.float32), truncated, _per_agent(m, info))


def _update_users(m: Market, current: np.ndarray, consumed: np.ndarray, gained) -> None:
    cfg, sess, pop = m.config, m.sessions, m.population
    worlds = m._worlds
    pop.fatigue[worlds, current] *= cfg.fatigue_decay
    hit = consumed >= 0
    if hit.any():
        users.consume(
            pop,
            worlds[hit],
            current[hit],
            m.catalog.latent[consumed[hit]],
            cfg.drift_rate,
            cfg.fatigue_rate,
        )
    sess.budget -= cfg.browse_cost + gained
    sess.steps += 1
    sess.clicks += hit
    sess.misses = np.where(hit, 0, sess.misses + 1)
    sess.last_clicked = hit
    sess.last_topic = np.where(hit, m.catalog.main_topic[np.maximum(consumed, 0)], sess.last_topic)


def _learn(m: Market, page: Page, shown, click_onehot, current) -> None:
    """Feed each backbone the feedback it may see; invalidate caches it reports changed."""
    cfg = m.config
    w, s = np.nonzero(shown)
    items, clicked, owner = page.item[w, s], click_onehot[w, s], page.owner[w, s]
    kernels.add_at(m.item_impressions, (w, items), 1)
    kernels.add_at(m.item_clicks, (w[clicked], items[clicked]), 1)
    kernels.add_at(m.clicks_total, (w[clicked],), 1)
    for agent, (backbone, cache) in enumerate(zip(m.backbones, m.caches)):
        see = owner == agent if cfg.feedback_sharing == "own" else np.ones_like(clicked)
        if not see.any():
            continue
        ew, eu = w[see], current[w[see]]
        changed = backbone.learn(ew, eu, items[see], clicked[see], m.t[ew])
        if changed.any():
            cache.invalidate_users(ew[changed], eu[changed])


def _end_sessions(m: Market) -> None:
    cfg, sess = m.config, m.sessions
    leaving = np.flatnonzero((sess.budget <= 0) | (sess.misses >= cfg.patience))
    if len(leaving) == 0:
        return
    churned = leaving[m.rng["users"].random(len(leaving)) < cfg.churn_rate]
    if len(churned):
        m._new_users(churned, sess.user[churned])
    users.start_sessions(
        sess, leaving, cfg.n_users, (cfg.budget_min, cfg.budget_max), m.rng["users"]
    )


def _ideal_relevance(m: Market, current: np.ndarray, n_avail: np.ndarray) -> np.ndarray:
    """Relevance of the S best available items by true utility, descending (for NDCG)."""
    cfg, cat = m.config, m.catalog
    worlds = m._worlds
    taste = m.population.preference[worlds, current] - m.population.fatigue[worlds, current]
    best = kernels.ideal_values(
        taste, cat.latent, cat.quality, cfg.quality_weight, n_avail, cfg.slots
    )
    return _sigmoid(cfg.utility_scale * best)


def _metrics(
    m: Market, page, shown, young, utility, probs, clicked, gained, diversity, current, n_avail
) -> dict[str, np.ndarray]:
    cfg = m.config
    m.exposure.add(page.item)
    relevance = np.where(shown, _sigmoid(cfg.utility_scale * utility), 0.0)
    item = np.where(shown, page.item, 0)
    n_shown = np.maximum(shown.sum(axis=1), 1)
    clicks_total = m.clicks_total[:, None]
    share = (m.item_clicks[m._worlds[:, None], item] + 1.0) / (clicks_total + n_avail[:, None])
    novelty = np.where(shown, -np.log2(share), 0.0).sum(axis=1) / n_shown
    return {
        "ctr": clicked / n_shown,
        "engagement": gained,
        "ndcg": metrics.ndcg(relevance, _ideal_relevance(m, current, n_avail), m.weights),
        "diversity": diversity,
        "coverage": m.exposure.coverage(n_avail),
        "novelty": novelty / np.log2(clicks_total[:, 0] + n_avail + 1.0),
        "exposure_gini": m.exposure.gini(n_avail),
        "cold_start_exposure": young.sum(axis=1) / cfg.slots,
        "welfare": -np.log(np.maximum(probs[:, -1], 1e-12)),
    }


def _per_agent(m: Market, info: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in info.items():
        value = np.asarray(value, dtype=np.float32)
        out[key] = value if value.ndim == 2 else np.repeat(value[:, None], m.n_agents, axis=1)
    out["backbone_id"] = np.broadcast_to(m.backbone_ids, (m.num_worlds, m.n_agents))
    return out
