"""Rendering of the market's current page: a compact text line or an RGB picture."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from marec_env.market import Market

# Okabe-Ito: distinguishable with colour-blindness; agents and topics draw from it.
PALETTE = np.array(
    [
        (230, 159, 0),
        (86, 180, 233),
        (0, 158, 115),
        (240, 228, 66),
        (0, 114, 178),
        (213, 94, 0),
        (204, 121, 167),
        (120, 120, 120),
    ],
    dtype=np.float32,
)
WIDTH, HEIGHT = 480, 270


def ansi(market: Market, agents: list[str], shares: np.ndarray) -> str:
    """One line: step, user, the page as item@agent with the click starred, market shares."""
    t = int(market.t[0])
    page = market.last_page
    cells = []
    if page is not None:
        for s, (item, owner) in enumerate(zip(page.item[0], page.owner[0])):
            star = "*" if s == market.last_choice[0] else ""
            cells.append("--" if item < 0 else f"{item}@{owner}{star}")
    total = max(float(shares.sum()), 1e-9)
    share = " ".join(f"{a.split('_')[-1]}:{shares[i] / total:.0%}" for i, a in enumerate(agents))
    return f"t={t:4d} user={int(market.sessions.user[0]):4d} page=[{' '.join(cells)}] share {share}"


def _paint_topics(canvas: np.ndarray, box: tuple[int, int, int, int], latent) -> None:
    """Horizontal bands, one per topic, as tall as the item's mass on that topic."""
    x0, x1, y0, y1 = box
    edges = y0 + np.round(np.cumsum(np.concatenate([[0.0], latent])) * (y1 - y0)).astype(int)
    for topic in range(len(latent)):
        canvas[edges[topic] : edges[topic + 1], x0:x1] = PALETTE[topic % len(PALETTE)]


def rgb_array(market: Market, shares: np.ndarray) -> np.ndarray:
    """(270, 480, 3) uint8: the page (slot border = agent colour, fill = item topics, thick
    white frame = click), the user's topic tastes, and running slot shares per agent."""
    canvas = np.full((HEIGHT, WIDTH, 3), 24, np.uint8)
    slots = market.config.slots
    page = market.last_page
    width = (WIDTH - 20) // slots
    for s in range(slots):
        x0, x1, y0, y1 = 10 + s * width, 10 + (s + 1) * width - 8, 10, 130
        item = -1 if page is None else int(page.item[0, s])
        if item < 0:
            canvas[y0:y1, x0:x1] = 60
            continue
        owner = int(page.owner[0, s])
        clicked = s == market.last_choice[0]
        canvas[y0 - 4 : y1 + 4, x0 - 4 : x1 + 4] = 255 if clicked else 0
        canvas[y0:y1, x0:x1] = PALETTE[owner % len(PALETTE)]
        _paint_topics(canvas, (x0 + 8, x1 - 8, y0 + 12, y1 - 12), market.catalog.latent[item])
        if clicked:
            canvas[y1 + 8 : y1 + 16, x0:x1] = 255
    taste = market.population.preference[0, market.sessions.user[0]]
    bar = (WIDTH - 20) // len(taste)
    for k, value in enumerate(taste):
        height = int(40 * min(abs(float(value)) / 3.0, 1.0))
        x0 = 10 + k * bar
        top, bottom = (190 - height, 190) if value >= 0 else (190, 190 + height)
        canvas[top:bottom, x0 : x0 + bar - 4] = PALETTE[k % len(PALETTE)]
    total = max(float(shares.sum()), 1e-9)
    x = 10
    for agent, share in enumerate(shares):
        w = int((WIDTH - 20) * float(share) / total)
        canvas[245:262, x : x + w] = PALETTE[agent % len(PALETTE)]
        x += w
    return canvas
