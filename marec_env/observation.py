"""The agents' observation vector: its layout and how it is assembled, batched over worlds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from marec_env import kernels
from marec_env.core.catalog import Catalog
from marec_env.world import World

USER_FEATURES = ("session_steps", "session_clicks", "last_clicked", "misses")
AGENT_FEATURES = ("last_slot_share", "last_clicks")


@dataclass(frozen=True)
class ObservationLayout:
    """Where each named part lives in the flat observation (all values lie in [-1, 1])."""

    candidates: int
    n_agents: int
    n_topics: int = 0
    """Topics of the public features (markets v1); 0: the v0 layout without them."""
    bait_signal: bool = False
    """Append ``cand_bait_signal`` (presets with bait, ``MarketConfig.bait_topic``)."""

    @property
    def widths(self) -> dict[str, int]:
        """Part name → number of values, in layout order."""
        k = self.candidates
        return {
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
            **(public_widths(k, self.n_topics) if self.n_topics else {}),
            **({"cand_bait_signal": k} if self.bait_signal else {}),
        }

    @property
    def slices(self) -> dict[str, slice]:
        return layout_slices(self.widths)

    def select(self, parts: Iterable[str], **widths: int) -> dict[str, slice]:
        """A smaller layout of some of these parts, in this order, some with other widths
        (the matrix game observes a subset of the market's features)."""
        own = self.widths
        return layout_slices({name: widths.get(name, own[name]) for name in parts})

    @property
    def size(self) -> int:
        return sum(self.widths.values())


def layout_slices(widths: dict[str, int]) -> dict[str, slice]:
    """Consecutive slices of the given widths, in order."""
    out, start = {}, 0
    for name, width in widths.items():
        out[name] = slice(start, start + width)
        start += width
    return out


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


def observe(
    world: World,
    catalog: Catalog,
    patience: int,
    cold_start_window: int,
    horizon: int,
    room: int = 0,
) -> np.ndarray:
    """(W, N, obs_dim) float32 observations of the world's current state, followed by
    ``room`` columns for :func:`public_observation` to fill (one buffer, no concatenation)."""
    compiled = kernels.observe(world, catalog, patience, float(cold_start_window), horizon, room)
    if compiled is not None:
        return compiled
    plain = _observe_numpy(world, catalog, patience, cold_start_window, horizon)
    if room == 0:
        return plain
    out = np.empty((*plain.shape[:2], plain.shape[2] + room), np.float32)
    out[:, :, : plain.shape[2]] = plain
    return out


def _observe_numpy(world: World, catalog: Catalog, patience, cold_start_window, horizon):
    cand, s, t = world.candidates, world.sessions, world.t
    rows = np.arange(len(t))[:, None, None]
    overlap, rival_rank = rivals(cand.items)
    inputs = ObservationInputs(
        cand_score=cand.scores,
        cand_age_steps=(t[:, None, None] - catalog.release_time[cand.items]).astype(np.float32),
        cand_clicks=world.counts.item_clicks[rows, cand.items].astype(np.float32),
        cand_valid=cand.valid,
        cand_impressions=world.counts.item_impressions[rows, cand.items].astype(np.float32),
        cand_overlap=overlap,
        cand_repeat_topic=catalog.main_topic[cand.items] == s.last_topic[:, None, None],
        cand_rival_rank=rival_rank,
        session_steps=s.steps.astype(np.float32),
        session_clicks=s.clicks.astype(np.float32),
        last_clicked=s.last_clicked,
        misses=s.misses.astype(np.float32),
        last_slot_share=world.last.slot_share,
        last_clicks=world.last.clicks,
        t=t.astype(np.float32),
    )
    return build_observations(inputs, patience, float(cold_start_window), horizon)


def rivals(items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shared candidate board of ``items`` (W, N, K): (W, N, K) share of the other agents
    that also hold each candidate, and (W, N, K, N) 1 − rank / K of it in every agent's list
    (0: not held)."""
    board = kernels.rival_board(items)  # the compiled twin, when numba is there
    if board is not None:
        return board
    n_agents, k = items.shape[1], items.shape[2]
    same = items[:, :, :, None, None] == items[:, None, None, :, :]
    held_by = same.any(axis=4)  # (W, N, K, N'): agent N' holds my candidate k
    others = held_by.sum(axis=3) - 1
    overlap = (others / max(n_agents - 1, 1)).astype(np.float32)
    rank = same.argmax(axis=4)  # lists hold distinct items: one rank per agent
    rival_rank = np.where(held_by, 1.0 - rank / k, 0.0).astype(np.float32)
    return overlap, rival_rank


def action_masks(candidates_valid: np.ndarray, levels: int) -> np.ndarray:
    """(W, N, K × levels) int8: real candidates (at every bid level); all ones when an agent
    has none."""
    valid = candidates_valid | ~candidates_valid.any(axis=2, keepdims=True)
    if levels > 1:
        valid = np.repeat(valid, levels, axis=2)
    return valid.astype(np.int8)


# ---------------------------------------------------------------------------- markets v1
PUBLIC_CANDIDATE_PARTS = (
    "cand_match",
    "cand_quality_signal",
    "cand_evidence",
    "cand_session_match",
    "cand_session_seen",
)
"""Per-candidate public features (K values each), after ``time`` in the v1 layout."""


def public_widths(candidates: int, n_topics: int) -> dict[str, int]:
    """The public parts a real re-ranker sees (``public_features=True``), in layout order."""
    return {
        **dict.fromkeys(PUBLIC_CANDIDATE_PARTS, candidates),
        "cand_tags": candidates * n_topics,
        "user_stated": n_topics,
        "user_session_topics": n_topics,
        "agent_budget": 1,
    }


def public_observation(
    world: World, catalog: Catalog, agent_budget: float, out: np.ndarray | None = None
) -> np.ndarray:
    """(W, N, D) the public parts, all in [-1, 1]. Per candidate: ``cand_match`` the user's
    stated interests · the item's published tags (cosine, [0, 1]); ``cand_quality_signal``
    +1 if the description praises the item, −1 if not (noisy, see ``text_noise``);
    ``cand_evidence`` log impressions behind its click rate; ``cand_session_match`` tanh of
    this session's clicked tags · its tags (a public fatigue proxy); ``cand_session_seen`` 1 if
    a page of this session already showed it; ``cand_tags`` its tags
    (K × T, candidate-major). Per user: ``user_stated`` the stated interests,
    ``user_session_topics`` tanh of this session's clicked tags. Per agent: ``agent_budget``
    the share of its budget left (1 without budgets). With ``out`` (W, N, ≥ D) the parts
    go into its last D columns and ``out`` is returned."""
    compiled = kernels.public_observation(world, catalog, agent_budget, out)
    if compiled is not None:
        return compiled
    plain = _public_numpy(world, catalog, agent_budget)
    if out is None:
        return plain
    out[:, :, out.shape[2] - plain.shape[2] :] = plain
    return out


def _public_numpy(world: World, catalog: Catalog, agent_budget: float) -> np.ndarray:
    cand, users_now = world.candidates, world.sessions.user
    w, n, _ = cand.items.shape
    rows = np.arange(w)
    tags = catalog.attributes[cand.items]  # (W, N, K, T)
    stated = world.population.stated[rows, users_now]  # (W, T)
    session = world.session_topics
    impressions = world.counts.item_impressions[rows[:, None, None], cand.items]
    praised = catalog.praised[cand.items] if catalog.praised is not None else tags[..., 0] > 0
    budget_left = (
        np.clip(1.0 - world.spend / agent_budget, 0.0, 1.0)
        if agent_budget > 0
        else np.ones((w, n), np.float32)
    )
    return np.concatenate(
        [
            np.einsum("wnkt,wt->wnk", tags, stated),
            np.where(praised, 1.0, -1.0),
            np.minimum(np.log1p(impressions) / np.log(101.0), 1.0),
            np.tanh(np.einsum("wnkt,wt->wnk", tags, session)),
            world.session_seen[rows[:, None, None], cand.items],
            tags.reshape(w, n, -1),
            np.broadcast_to(stated[:, None, :], (w, n, stated.shape[1])),
            np.broadcast_to(np.tanh(session)[:, None, :], (w, n, session.shape[1])),
            budget_left[:, :, None],
        ],
        axis=2,
        dtype=np.float32,
    )


def bait_signal(world: World, catalog: Catalog, topic: int) -> np.ndarray:
    """(W, N, K) ``cand_bait_signal``: each candidate's *published* tag of the sensational
    topic (what a clickbait classifier reads from the headline; noisy like every tag), the
    same number ``cand_tags`` holds, put next to each candidate for per-candidate learners."""
    return np.clip(catalog.attributes[world.candidates.items, topic], -1.0, 1.0)
