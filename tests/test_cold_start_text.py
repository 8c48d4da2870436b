"""On marec/cold-start-v0 the text agent finds good new items; CF cannot see them.

Greedy policies (every agent puts its backbone's top candidate first) over 5 fixed seeds of a
full 200-step episode. "Young" = released less than ``cold_start_window`` (30) steps ago.
CTR on young items = clicks on young items the agent placed / young items it placed.
Measured when written: text 0.28, CF 0.085 pooled; the test asks for a 0.1 margin pooled and
text ahead in at least 4 of the 5 seeds.
"""

from __future__ import annotations

import numpy as np

import marec_env

SEEDS = range(5)


def young_item_ctr(seed: int) -> dict[str, tuple[float, float]]:
    env = marec_env.parallel_env("marec/cold-start-v0")
    env.reset(seed=seed)
    totals = {a: np.zeros(2) for a in env.possible_agents}
    while env.agents:
        _, _, _, _, infos = env.step({a: 0 for a in env.agents})
        for agent, info in infos.items():
            totals[agent] += (info["cold_clicks"], info["cold_slots"])
    return {env.backbone_kinds[a]: (t[0], t[1]) for a, t in totals.items()}


def test_text_agent_beats_cf_on_young_items():
    runs = [young_item_ctr(seed) for seed in SEEDS]
    pooled = {
        kind: sum(r[kind][0] for r in runs) / max(sum(r[kind][1] for r in runs), 1)
        for kind in ("text", "cf")
    }
    assert sum(r["text"][1] for r in runs) >= 100  # the text agent does show young items
    assert pooled["text"] > pooled["cf"] + 0.1, pooled
    per_seed_wins = sum(
        r["text"][0] / max(r["text"][1], 1) > r["cf"][0] / max(r["cf"][1], 1) for r in runs
    )
    assert per_seed_wins >= 4, runs
