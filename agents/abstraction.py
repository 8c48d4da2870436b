"""The finite state that tabular learners (IQL, MAQ-L) see: a coarse view of the observation.

A learner's action picks a candidate *rank* (× bid level in auctions), so what matters is how
good and how fresh the top of its list is, whether the lower ranks exist, and whether the user
just clicked on its item. The state is a mixed-radix number built from, in this order:

1. ``valid_ranks`` bits: is the candidate at rank 0, 1, ... real (``cand_valid``)?
2. the top candidate's backbone score (``cand_score[0]``) in ``score_bins`` equal-width bins
   over the observation space's bounds for that entry;
3. the top candidate's age (``cand_age[0]``) in ``age_bins`` equal-width bins over its bounds
   (young items are cold-start items the CF backbone cannot judge);
4. if ``use_clicked``: did this agent's item get a click last step (``agent`` part, entry 1:
   own last-step clicks > 0, as documented in docs/CONTRACTS.md).

With the defaults (2, 3, 2, True) there are 4 · 3 · 2 · 2 = 48 states per agent. In the matrix
game the observation never changes within a one-step game, so the state is constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.base import EnvInfo, LearnerError
from agents.params import check


@dataclass(frozen=True)
class AbstractionParams:
    """Hyper-parameters of the state abstraction (shared by the tabular learners)."""

    valid_ranks: int = 2
    """How many top candidate ranks contribute a 'is this candidate real' bit."""
    score_bins: int = 3
    """Equal-width bins of the top candidate's backbone score."""
    age_bins: int = 2
    """Equal-width bins of the top candidate's (scaled) age."""
    use_clicked: bool = True
    """Add a bit: did this agent's item get clicked last step."""

    def check_abstraction(self, learner: str) -> None:
        check(self.valid_ranks >= 0, learner, "valid_ranks", self.valid_ranks, "an int >= 0")
        check(self.score_bins >= 1, learner, "score_bins", self.score_bins, "an int >= 1")
        check(self.age_bins >= 1, learner, "age_bins", self.age_bins, "an int >= 1")


class StateAbstraction:
    """Maps observations (..., obs_dim) to state indices (...,) in [0, n_states)."""

    def __init__(self, info: EnvInfo, params: AbstractionParams, needed_by: str) -> None:
        if info.obs_layout is None:
            raise LearnerError(
                f"{needed_by} has capability discrete_obs_only: it learns a table over a "
                f"state abstraction built from env.unwrapped.obs_layout, and env "
                f"{info.env_id!r} has no obs_layout (Box{(info.obs_dim,)} observations)"
            )
        valid = info.layout_part("cand_valid", needed_by)
        score = info.layout_part("cand_score", needed_by)
        age = info.layout_part("cand_age", needed_by)
        self._valid = np.arange(
            valid.start, valid.start + min(params.valid_ranks, valid.stop - valid.start)
        )
        self._score, self._age = score.start, age.start
        self._score_edges = _edges(info, score.start, params.score_bins, needed_by)
        self._age_edges = _edges(info, age.start, params.age_bins, needed_by)
        self._clicked = info.layout_part("agent", needed_by).start + 1 if params.use_clicked \
            else None  # fmt: skip
        self.radices = (
            [2] * len(self._valid) + [params.score_bins, params.age_bins]
            + ([2] if params.use_clicked else [])
        )  # fmt: skip
        self.n_states = int(np.prod(self.radices))

    def encode(self, obs: np.ndarray) -> np.ndarray:
        digits = [obs[..., i] > 0.5 for i in self._valid]
        digits.append(np.searchsorted(self._score_edges, obs[..., self._score], side="right"))
        digits.append(np.searchsorted(self._age_edges, obs[..., self._age], side="right"))
        if self._clicked is not None:
            digits.append(obs[..., self._clicked] > 0)
        state = np.zeros(obs.shape[:-1], dtype=np.int64)
        for digit, radix in zip(digits, self.radices):
            state = state * radix + digit
        return state


def _edges(info: EnvInfo, index: int, bins: int, needed_by: str) -> np.ndarray:
    """Inner edges of ``bins`` equal-width bins over the Box bounds of one entry."""
    low, high = float(info.obs_low[index]), float(info.obs_high[index])
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise LearnerError(
            f"{needed_by}: observation entry {index} has bounds [{low}, {high}]; binning it "
            "needs finite bounds"
        )
    return np.linspace(low, high, bins + 1)[1:-1]
