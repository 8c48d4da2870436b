"""The joint oracle on public features: what the observation lets a policy reach."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import public_oracle
from tests.conftest import small

ENV = "marec/coop-slate-v1"


def test_fit_recovers_a_linear_utility_and_its_intercept():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, 8, 4))
    coef = np.array([0.5, -2.0, 0.0, 1.5, 0.25])  # the last is the intercept
    utility = features @ coef[:-1] + coef[-1]
    fitted = public_oracle.fit(features, utility)
    np.testing.assert_allclose(fitted, coef, atol=1e-9)
    np.testing.assert_allclose(public_oracle.predict(features, fitted), utility, atol=1e-9)


def test_it_plays_the_joint_oracle_rule_on_the_predicted_utility():
    """A fit that predicts the public match exactly must act as the joint oracle does when
    handed the match as its values (feature order, levels and the rule all line up)."""
    from agents.base import Batch
    from agents.heuristics import JointOracleLearner, JointOracleParams
    from benchmarks.policies import open_vector

    env, info = open_vector(ENV, 4, small(ENV))
    env.reset(seed=3)
    market, cfg = env.market, env.market.config
    obs = market.observations()
    masks = market.action_masks().astype(bool)
    features = public_oracle.public_features(obs, info.obs_layout, cfg.candidates, cfg.n_topics)
    column = len(public_oracle.V0_PARTS)  # cand_match, the first v1 part
    coef = np.zeros(features.shape[-1] + 1)
    coef[column] = 1.0
    match = obs[..., info.obs_layout["cand_match"]]
    np.testing.assert_array_equal(features[..., column], match)
    levels = info.n_actions // cfg.candidates
    rule = JointOracleLearner(info, JointOracleParams(), np.random.default_rng(0))
    expected = rule.act(Batch(obs, masks, np.repeat(match, levels, axis=-1)), explore=False)
    played = public_oracle.act(info, coef, cfg.candidates, cfg.n_topics)(obs, masks, market)
    np.testing.assert_array_equal(played, expected)
    assert len(np.unique(expected)) > 1  # the values did steer the actions
    env.close()


def test_public_information_buys_part_of_the_gap_on_the_cooperative_slate():
    """Fit on random play, then play: above random, below the joint oracle that reads the
    hidden utilities (seed 0, 8 worlds × 100 steps at the preset's size; the full validity
    table, 8 worlds × 200 steps, gives 0.72 of the gap)."""
    from benchmarks.policies import learner_act, open_vector
    from benchmarks.validity import rollout

    overrides = {"max_cycles": 100}
    rng = np.random.default_rng(0)

    def random_act(obs, masks, market):
        return np.where(masks, rng.random(masks.shape), -1.0).argmax(axis=-1)

    rand = rollout(ENV, random_act, 8, 100, 0, overrides, record_features=True)
    coef = public_oracle.fit(np.concatenate(rand.features), np.concatenate(rand.utilities))
    env, info = open_vector(ENV, 1, overrides)
    cfg = env.market.config
    public = rollout(ENV, public_oracle.act(info, coef, cfg.candidates, cfg.n_topics), 8, 100, 0,
                     overrides).returns.mean()  # fmt: skip
    joint = rollout(ENV, learner_act("oracle-joint", info, 0), 8, 100, 0, overrides)
    assert rand.returns.mean() < public < joint.returns.mean()
    assert public - rand.returns.mean() > 0.1 * (joint.returns.mean() - rand.returns.mean())
    env.close()


@pytest.mark.parametrize("part", public_oracle.V0_PARTS)
def test_every_v0_part_is_in_the_v1_layout(part):
    from benchmarks.policies import open_vector

    env, info = open_vector(ENV, 1, small(ENV))
    assert part in info.obs_layout
    env.close()
