"""The finite state that tabular learners (IQL, MAQ-L) see: a coarse view of the observation.

A learner's action picks a candidate *rank* (× bid level in auctions), so the state must say
*which rank looks best* and *what goes wrong if the agent plays it*: a candidate another agent
also holds (``cand_overlap`` > 0) may end up twice on the page, where the duplicate leaves a
slot empty, and an item of the genre the user just consumed (``cand_repeat_topic``) meets a
tired user. The state is a mixed-radix number built from these digits, in this order (a digit
whose radix is 1 is left out, and so is one whose observation part the env does not have, e.g.
the matrix game has no ``cand_ctr``):

1. ``has_list`` (2): does the agent have any real candidate (``cand_valid``)? Without one its
   action does not matter.
2. ``valid_ranks`` bits: is the candidate at rank 0, 1, ... real?
3. ``best_by`` digits, ``top_ranks`` values each: for each named part (default popularity and
   the market click-through rate, the two best within-list predictors of the true value), the
   rank among the top ``top_ranks`` real candidates where that part is largest (ties → the
   better-scored rank). Where the digits disagree the agent learns which to trust.
4. ``contested_ranks`` bits: does another agent also hold the candidate at rank 0, 1, ...
   (``cand_overlap`` > 0)? Two agents that both lead with a shared item waste a slot: this is
   the state in which the agents have to coordinate.
5. ``repeat_ranks`` bits: is the candidate at rank 0, 1, ... of the genre just consumed?
6. the top candidate's backbone score (``cand_score[0]``) in ``score_bins`` and its age
   (``cand_age[0]``) in ``age_bins`` equal-width bins over the observation bounds (off by
   default: within one backbone they hardly predict which rank is best);
7. if ``use_clicked``: did this agent's item get a click last step (``agent`` part, entry 1:
   own last-step clicks > 0, as documented in docs/CONTRACTS.md).

With the defaults (has_list, top_ranks=3 for popularity and ctr, 1 contested bit, 1 repeat
bit) there are 2 · 3 · 3 · 2 · 2 = 72 states per agent on the market envs, and 2 · 3 = 6 on
the matrix game (no ctr/overlap/repeat parts there). In the matrix game the observation never
changes within a one-step game, so the state is constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.base import EnvInfo, LearnerError
from agents.params import check

BEST_BY_PARTS = ("cand_popularity", "cand_ctr", "cand_overlap", "cand_score", "cand_age")


@dataclass(frozen=True)
class AbstractionParams:
    """Hyper-parameters of the state abstraction (shared by the tabular learners)."""

    has_list: bool = True
    """Add a bit: does the agent have any real candidate."""
    valid_ranks: int = 0
    """How many top candidate ranks contribute a 'is this candidate real' bit."""
    top_ranks: int = 3
    """How many top ranks the ``best_by`` digits choose among (values per digit)."""
    best_by: tuple = ("cand_popularity", "cand_ctr")
    """Observation parts whose arg-max rank (within ``top_ranks``) is a digit each."""
    contested_ranks: int = 1
    """How many top ranks contribute a 'another agent holds it too' bit (``cand_overlap``)."""
    repeat_ranks: int = 1
    """How many top ranks contribute a 'same genre as just consumed' bit."""
    score_bins: int = 1
    """Equal-width bins of the top candidate's backbone score (1: no digit)."""
    age_bins: int = 1
    """Equal-width bins of the top candidate's (scaled) age (1: no digit)."""
    use_clicked: bool = False
    """Add a bit: did this agent's item get clicked last step."""

    def check_abstraction(self, learner: str) -> None:
        check(self.valid_ranks >= 0, learner, "valid_ranks", self.valid_ranks, "an int >= 0")
        check(self.top_ranks >= 1, learner, "top_ranks", self.top_ranks, "an int >= 1")
        check(all(p in BEST_BY_PARTS for p in self.best_by), learner, "best_by",
              self.best_by, f"a tuple of {list(BEST_BY_PARTS)}")  # fmt: skip
        check(self.contested_ranks >= 0, learner, "contested_ranks", self.contested_ranks,
              "an int >= 0")  # fmt: skip
        check(self.repeat_ranks >= 0, learner, "repeat_ranks", self.repeat_ranks, "an int >= 0")
        check(self.score_bins >= 1, learner, "score_bins", self.score_bins, "an int >= 1")
        check(self.age_bins >= 1, learner, "age_bins", self.age_bins, "an int >= 1")


class StateAbstraction:
    """Maps observations (..., obs_dim) to state indices (...,) in [0, n_states)."""

    def __init__(self, info: EnvInfo, params: AbstractionParams, needed_by: str) -> None:
        if info.obs_layout is None:
            raise LearnerError(
                f"{needed_by} has capability needs_obs_layout: it learns a table over a "
                f"state abstraction built from env.unwrapped.obs_layout, and env "
                f"{info.env_id!r} has no obs_layout (Box{(info.obs_dim,)} observations)"
            )
        layout = info.obs_layout
        valid = info.layout_part("cand_valid", needed_by)
        k = valid.stop - valid.start
        self._valid_all = valid
        self._has_list = params.has_list
        self._valid = np.arange(valid.start, valid.start + min(params.valid_ranks, k))
        top = min(params.top_ranks, k)
        self._top = top
        self._best = [
            np.arange(layout[p].start, layout[p].start + top)
            for p in params.best_by
            if p in layout and top > 1
        ]
        self._valid_top = np.arange(valid.start, valid.start + top)
        self._contested = _ranks(layout, "cand_overlap", params.contested_ranks, k)
        self._repeat = _ranks(layout, "cand_repeat_topic", params.repeat_ranks, k)
        self._score = info.layout_part("cand_score", needed_by).start
        self._age = info.layout_part("cand_age", needed_by).start
        self._score_edges = _edges(info, self._score, params.score_bins, needed_by)
        self._age_edges = _edges(info, self._age, params.age_bins, needed_by)
        self._clicked = info.layout_part("agent", needed_by).start + 1 if params.use_clicked \
            else None  # fmt: skip
        self.radices = (
            ([2] if self._has_list else [])
            + [2] * len(self._valid)
            + [top] * len(self._best)
            + [2] * (len(self._contested) + len(self._repeat))
            + ([params.score_bins] if params.score_bins > 1 else [])
            + ([params.age_bins] if params.age_bins > 1 else [])
            + ([2] if params.use_clicked else [])
        )  # fmt: skip
        self.n_states = int(np.prod(self.radices))
        # place value of the rank-0 contested digit (None: no such digit), see contested_top
        first = (1 if self._has_list else 0) + len(self._valid) + len(self._best)
        self._contested_place = (
            int(np.prod(self.radices[first + 1 :])) if len(self._contested) else None
        )

    def contested_top(self, states: np.ndarray) -> np.ndarray:
        """(...,) int64 0/1: the rank-0 ``contested`` digit of encoded states (0 if absent)."""
        if self._contested_place is None:
            return np.zeros(np.shape(states), dtype=np.int64)
        return (np.asarray(states) // self._contested_place) % 2

    def encode(self, obs: np.ndarray) -> np.ndarray:
        digits: list[np.ndarray] = []
        if self._has_list:
            digits.append((obs[..., self._valid_all] > 0.5).any(axis=-1))
        digits.extend(obs[..., i] > 0.5 for i in self._valid)
        real_top = obs[..., self._valid_top] > 0.5
        for cols in self._best:
            digits.append(np.where(real_top, obs[..., cols], -np.inf).argmax(axis=-1))
        digits.extend(obs[..., i] > 0.0 for i in self._contested)
        digits.extend(obs[..., i] > 0.5 for i in self._repeat)
        if len(self._score_edges):
            digits.append(np.searchsorted(self._score_edges, obs[..., self._score], side="right"))
        if len(self._age_edges):
            digits.append(np.searchsorted(self._age_edges, obs[..., self._age], side="right"))
        if self._clicked is not None:
            digits.append(obs[..., self._clicked] > 0)
        state = np.zeros(obs.shape[:-1], dtype=np.int64)
        for digit, radix in zip(digits, self.radices):
            state = state * radix + digit
        return state


def _ranks(layout: dict[str, slice], part: str, ranks: int, k: int) -> np.ndarray:
    """Indices of the first ``ranks`` entries of ``part`` (none if the env lacks the part)."""
    if part not in layout:
        return np.arange(0)
    return np.arange(layout[part].start, layout[part].start + min(ranks, k))


def _edges(info: EnvInfo, index: int, bins: int, needed_by: str) -> np.ndarray:
    """Inner edges of ``bins`` equal-width bins over the Box bounds of one entry."""
    if bins <= 1:
        return np.zeros(0)
    low, high = float(info.obs_low[index]), float(info.obs_high[index])
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise LearnerError(
            f"{needed_by}: observation entry {index} has bounds [{low}, {high}]; binning it "
            "needs finite bounds"
        )
    return np.linspace(low, high, bins + 1)[1:-1]


# ------------------------------------------------------- MAQ-L's pair states, one per edge
EDGE_STATES = ("auto", "none", "contested", "collide", "joint")


class PairStates:
    """The state s_ij of each coordination-graph edge's payoff table (tabular MAQ-L).

    ``none``: one state; ``contested``: (is i's rank-0 candidate held by another agent too,
    is j's), 4 states; ``joint``: (s_i, s_j), |S|² states; ``collide``: bit c·R + c' set when
    agent i's rank-c candidate is agent j's rank-c' candidate (R = ``edge_ranks``), read from
    the shared ``cand_rival_rank`` board, 2^(R²) states; ``auto``: ``collide`` where the env
    has the board, else ``contested``. Encoded states are (B, N + E): the agents' abstract
    states, then (``collide`` only) each edge's code.
    """

    def __init__(self, info: EnvInfo, abstraction: StateAbstraction, edges: list[tuple[int, int]],
                 edge_state: str, edge_ranks: int) -> None:  # fmt: skip
        if edge_state == "auto":
            has_board = info.obs_layout is not None and "cand_rival_rank" in info.obs_layout
            edge_state = "collide" if has_board else "contested"
        self.kind = edge_state
        self.edges = edges
        self.n_agents = len(info.agents)
        self.abstraction = abstraction
        self.board = _Board.for_env(info, edge_ranks) if edge_state == "collide" else None
        s = abstraction.n_states
        self.n_states = {"none": 1, "contested": 4, "joint": s * s,
                         "collide": 2 ** (edge_ranks**2)}[edge_state]  # fmt: skip

    def encode(self, obs: np.ndarray, local: np.ndarray) -> np.ndarray:
        """(B, N [+ E]): the agents' states ``local``, then (``collide``) each edge's code."""
        if self.board is None or not self.edges:
            return local
        codes = [self.board.code(obs, i, j) for i, j in self.edges]
        return np.concatenate([local, np.stack(codes, axis=-1).reshape(len(local), -1)], axis=1)

    def index(self, states: np.ndarray, e: int) -> np.ndarray:
        """(B,) the state of edge e in each world."""
        if self.kind == "none":
            return np.zeros(len(states), dtype=np.int64)
        if self.kind == "collide":
            return states[:, self.n_agents + e]
        i, j = self.edges[e]
        if self.kind == "contested":
            top = self.abstraction.contested_top
            return 2 * top(states[:, i]) + top(states[:, j])
        return states[:, i] * self.abstraction.n_states + states[:, j]


class _Board:
    """``collide`` codes read from the ``cand_rival_rank`` board: bit (c · R + c') is set when
    agent i's rank-c candidate is agent j's rank-c' candidate (c, c' < R = ``edge_ranks``),
    i.e. when that action pair would show one item twice."""

    def __init__(self, start: int, n_agents: int, candidates: int, ranks: int) -> None:
        self.start, self.n_agents, self.k, self.ranks = start, n_agents, candidates, ranks

    @classmethod
    def for_env(cls, info: EnvInfo, ranks: int) -> _Board:
        if info.obs_layout is None or "cand_rival_rank" not in info.obs_layout:
            raise LearnerError(
                f"maql: edge_state='collide' reads the cand_rival_rank part of the observation, "
                f"and env {info.env_id!r} has none; use edge_state='contested' or 'none'"
            )
        part = info.obs_layout["cand_rival_rank"]
        n_agents = len(info.agents)
        k = (part.stop - part.start) // n_agents
        if not 1 <= ranks <= min(3, k):
            raise LearnerError(f"maql: edge_state='collide' needs 1 <= edge_ranks <= "
                               f"{min(3, k)}, got {ranks}")  # fmt: skip
        return cls(part.start, n_agents, k, ranks)

    def code(self, obs: np.ndarray, i: int, j: int) -> np.ndarray:
        code = np.zeros(obs.shape[0], dtype=np.int64)
        for c in range(self.ranks):
            held = obs[:, i, self.start + c * self.n_agents + j]  # 1 − rank / K, 0: not held
            for c2 in range(self.ranks):
                hit = np.abs(held - (1.0 - c2 / self.k)) < 0.5 / self.k
                code |= hit.astype(np.int64) << (c * self.ranks + c2)
        return code
