"""Market and agent metrics of a page, and the info table every agent receives (stage 8 of
:func:`marec_env.step.advance`)."""

from __future__ import annotations

import numpy as np

from marec_env import kernels
from marec_env.core import metrics
from marec_env.core.allocation import Page
from marec_env.learning import n_available
from marec_env.serve import Choice, Settlement, owned_slots, sigmoid
from marec_env.setup import Setup
from marec_env.world import LastPage, World

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
_INFO_ROW = {key: i for i, key in enumerate(INFO_KEYS)}
_KERNEL_ROWS = np.array([_INFO_ROW[key] for key in kernels.MEASURE_KEYS], np.int64)


def measure(
    setup: Setup,
    world: World,
    page: Page,
    choice: Choice,
    settlement: Settlement,
    current: np.ndarray,
) -> tuple[np.ndarray, LastPage]:
    """Every info key as one (len(INFO_KEYS), W, N) float32 table (in :data:`INFO_KEYS`
    order), and the page's record for the next observation.

    Updates ``world.exposure``. Runs before :func:`turn_over`, while ``current`` still holds
    the users who saw the page.
    """
    cfg, cat, shown = setup.config, setup.catalog, choice.shown
    n_avail = n_available(cat, world.t)
    if kernels.numba_enabled():  # the same values in one compiled pass
        world.exposure.add(page.item)
        compiled = kernels.measure(
            _KERNEL_ROWS, page, choice, settlement, world.counts, world.exposure, n_avail,
            world.t, release_time=cat.release_time, cold_window=cfg.cold_start_window,
            utility_scale=cfg.utility_scale, weights=setup.position_weights,
            ideal=_ideal_relevance(setup, world, current, n_avail),
            backbone_ids=setup.backbone_ids,
        )  # fmt: skip
        share, clicks = compiled[_INFO_ROW["slot_share"]], compiled[_INFO_ROW["clicks"]]
        return compiled, LastPage(share.copy(), clicks.copy(), choice.slot, page)
    young = shown & ((world.t[:, None] - cat.release_time[choice.item]) < cfg.cold_start_window)
    table = np.empty((len(INFO_KEYS), len(setup.worlds), setup.n_agents), np.float32)
    row = _INFO_ROW
    _market_metrics(table, setup, world, page, choice, settlement, young, current, n_avail)
    table[row["own_reward"]] = settlement.own
    table[row["revenue"]] = settlement.revenue
    table[row["payment"]] = settlement.payment
    table[row["team_reward"]] = settlement.team[:, None]
    owned_shown = owned_slots(page, setup.n_agents) & shown[:, None, :]
    slots = owned_shown.sum(axis=2)
    agent_clicks = (owned_shown & choice.onehot[:, None, :]).sum(axis=2)
    owned_young = owned_shown & young[:, None, :]
    table[row["cold_slots"]] = owned_young.sum(axis=2)
    table[row["cold_clicks"]] = (owned_young & choice.onehot[:, None, :]).sum(axis=2)
    share = slots / cfg.slots
    table[row["slots"]] = slots
    table[row["slot_share"]] = share
    table[row["clicks"]] = agent_clicks
    table[row["backbone_id"]] = setup.backbone_ids
    last = LastPage(share.astype(np.float32), agent_clicks.astype(np.float32), choice.slot, page)
    return table, last


def _market_metrics(
    table: np.ndarray,
    setup: Setup,
    world: World,
    page: Page,
    choice: Choice,
    settlement: Settlement,
    young: np.ndarray,
    current: np.ndarray,
    n_avail: np.ndarray,
) -> None:
    """Writes the market-level rows of ``table`` (the same value for every agent)."""
    cfg, shown, counts, row = setup.config, choice.shown, world.counts, _INFO_ROW
    world.exposure.add(page.item)
    relevance = np.where(shown, sigmoid(cfg.utility_scale * choice.utility), 0.0)
    n_shown = np.maximum(shown.sum(axis=1), 1)
    clicks_total = counts.clicks_total[:, None]
    item_clicks = counts.item_clicks[setup.worlds[:, None], choice.item]
    share = (item_clicks + 1.0) / (clicks_total + n_avail[:, None])
    novelty = np.where(shown, -np.log2(share), 0.0).sum(axis=1) / n_shown
    ideal = _ideal_relevance(setup, world, current, n_avail)
    market = (
        ("ctr", choice.clicked / n_shown),
        ("engagement", settlement.gained),
        ("ndcg", metrics.ndcg(relevance, ideal, setup.position_weights)),
        ("diversity", settlement.diversity),
        ("coverage", world.exposure.coverage(n_avail)),
        ("novelty", novelty / np.log2(clicks_total[:, 0] + n_avail + 1.0)),
        ("exposure_gini", world.exposure.gini(n_avail)),
        ("cold_start_exposure", young.sum(axis=1) / cfg.slots),
        ("welfare", -np.log(np.maximum(choice.probabilities[:, -1], 1e-12))),
    )
    for key, value in market:
        table[row[key]] = value[:, None]


def _ideal_relevance(setup: Setup, world: World, current, n_avail) -> np.ndarray:
    """Relevance of the S best available items by true utility, descending (for NDCG)."""
    cfg, cat, pop, worlds = setup.config, setup.catalog, world.population, setup.worlds
    taste = pop.preference[worlds, current] - pop.fatigue[worlds, current]
    best = kernels.ideal_values(
        taste, cat.latent, cat.quality, cfg.quality_weight, n_avail, cfg.slots,
        setup.utility_tables, memo=world.ideal.arrays(),
    )  # fmt: skip
    return sigmoid(cfg.utility_scale * best)
