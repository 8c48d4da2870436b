"""Shared fixtures. The env list comes from the one registry, so new presets are tested."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import marec_env

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Text embeddings of test catalogs go to a throw-away cache unless the developer points
# MAREC_CACHE_DIR at a persistent one (which makes reruns faster).
os.environ.setdefault("MAREC_CACHE_DIR", tempfile.mkdtemp(prefix="marec-test-cache-"))

ENV_IDS = marec_env.list_envs()
MARKET_IDS = [spec.id for spec in marec_env.ENV_SPECS if spec.market]
SMALL_ITEMS, SMALL_USERS = 300, 40


def small(env_id: str) -> dict:
    """Overrides that shrink a market preset (same mechanisms, same share of late items)."""
    spec = marec_env.get_spec(env_id)
    if not spec.market:
        return {}
    config = spec.config()
    initial = round(config.initial_items * SMALL_ITEMS / config.n_items)
    return {"n_items": SMALL_ITEMS, "n_users": SMALL_USERS, "initial_items": initial}


def backbone_arrays(market) -> np.ndarray:
    """Every array the market's backbones keep, flattened into one (what they learned)."""
    return np.concatenate(
        [
            np.ravel(value).astype(np.float64)
            for backbone in market.backbones
            for value in vars(backbone).values()
            if isinstance(value, np.ndarray)
        ]
    )


def random_actions(env, rng: np.random.Generator) -> dict:
    return {a: int(rng.integers(env.action_space(a).n)) for a in env.agents}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
