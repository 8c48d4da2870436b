"""Baselines that do not learn: random, greedy (backbone top-1) and the evaluation-only oracle.

None of them has ``observe``/``update``, so the training loop never trains them; their
checkpoints hold only the header (and the random policy's Generator state).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.base import BaseLearner, Batch, EnvInfo, LearnerError, masked_argmax


@dataclass(frozen=True)
class NoParams:
    """This learner has no hyper-parameters."""


class RandomLearner(BaseLearner):
    """Uniform over the allowed actions, from its own seeded Generator (also when evaluated)."""

    name = "random"

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        keys = np.where(batch.masks, self.rng.random(batch.masks.shape), -1.0)
        return keys.argmax(axis=-1)


class GreedyLearner(BaseLearner):
    """Each agent shows its backbone's top-1 valid candidate, with the middle bid level.

    Candidates come in descending backbone score, so top-1 is the first rank whose
    ``cand_valid`` is set and whose action is allowed; in auctions (A = K × bid_levels) the
    bid is ``bid_levels // 2``. Needs ``obs_layout`` (capability needs_obs_layout).
    """

    name = "greedy"

    def __init__(self, info: EnvInfo, params: NoParams, rng: np.random.Generator) -> None:
        super().__init__(info, params, rng)
        valid = info.layout_part("cand_valid", needed_by=self.name)
        self._valid = valid
        self.candidates = valid.stop - valid.start
        if info.n_actions % self.candidates:
            raise LearnerError(
                f"greedy: {info.n_actions} actions is not a multiple of K={self.candidates} "
                "candidates; cannot tell candidates from bid levels"
            )
        self.bid_levels = info.n_actions // self.candidates
        self.bid = self.bid_levels // 2

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        valid = batch.obs[..., self._valid] > 0.5  # (B, N, K)
        rank_actions = np.arange(self.candidates) * self.bid_levels + self.bid
        allowed = valid & batch.masks[..., rank_actions]
        actions = rank_actions[allowed.argmax(axis=-1)]  # first True = best-scored rank
        fallback = ~allowed.any(axis=-1)  # no valid top-k action allowed: first allowed action
        if fallback.any():
            first = batch.masks.argmax(axis=-1)
            actions = np.where(fallback, first, actions)
        return actions


class OracleLearner(BaseLearner):
    """Plays the action with the highest true value from ``env.unwrapped.oracle_action_values()``.

    Evaluation only (regret reference): it reads privileged information, so it has no
    ``update`` and the registry marks it ``evaluation_only``; the loop fetches the oracle
    values for it and never for a learner that trains.
    """

    name = "oracle"
    oracle_hook = "oracle_action_values"
    """The env method whose per-agent values the loop puts in ``batch.oracle``."""

    def act(self, batch: Batch, explore: bool = True) -> np.ndarray:
        if batch.oracle is None:
            raise LearnerError(
                f"{self.name} needs the env's {self.oracle_hook}() hook in batch.oracle; the "
                "training loop passes it only to learners flagged reads_oracle"
            )
        return masked_argmax(batch.oracle, batch.masks)


class BestResponseLearner(OracleLearner):
    """The competitive reference: every agent plays its best response, for its *own*
    expected reward this step, to the others bidding like ``greedy`` (level-1 reasoning;
    ``best_response_action_values``, :mod:`marec_env.counterfactual`). Reads hidden
    utilities; myopic (it does not plan budgets ahead); evaluation only."""

    name = "best-response"
    oracle_hook = "best_response_action_values"
