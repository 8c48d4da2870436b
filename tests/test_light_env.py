"""Light envs: a pickle carries the text model's identity, not the model, and an env whose
texts are all cached never loads the model (nor imports torch)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import marec_env
from marec_env.recommenders.encoder import TextEncoder, TextModelError, _rebuild_encoder
from tests.conftest import MARKET_IDS, small

ROOT = Path(__file__).resolve().parents[1]
PICKLE_BOUND_BYTES = 4 * 2**20
"""A full-size preset (1,000 items) pickles to ~2.4 MB: mostly its item embeddings."""


def _step_many(env, actions_rng: np.random.Generator, steps: int) -> list:
    trace = []
    for _ in range(steps):
        if not env.agents:
            trace.append(env.reset())
            continue
        actions = {a: int(actions_rng.integers(env.action_space(a).n)) for a in env.agents}
        trace.append(env.step(actions))
    return trace


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("env_id", marec_env.list_envs())
def test_a_full_size_env_pickles_to_a_few_megabytes(env_id: str) -> None:
    env = marec_env.parallel_env(env_id)
    env.reset(seed=0)
    size = len(pickle.dumps(env))
    assert size < PICKLE_BOUND_BYTES, f"{env_id} pickles to {size / 2**20:.1f} MiB"


@pytest.mark.parametrize("env_id", MARKET_IDS)
def test_an_unpickled_env_steps_like_the_original(env_id: str) -> None:
    env = marec_env.parallel_env(env_id, **small(env_id), max_cycles=40)
    env.reset(seed=3)
    _step_many(env, np.random.default_rng(0), 15)  # mid-episode: user and backbone state
    copy = pickle.loads(pickle.dumps(env))
    original = _step_many(env, np.random.default_rng(1), 60)
    assert _equal(original, _step_many(copy, np.random.default_rng(1), 60))
    # And after a fresh seeded reset: same seed, same trajectory.
    first = [env.reset(seed=11), *_step_many(env, np.random.default_rng(2), 30)]
    second = [copy.reset(seed=11), *_step_many(copy, np.random.default_rng(2), 30)]
    assert _equal(first, second)


def test_a_fresh_process_with_a_warm_cache_never_loads_the_model(tmp_path: Path) -> None:
    """Build (warming the cache), pickle, then build and unpickle in a fresh process."""
    env = marec_env.parallel_env("marec/coop-slate-v0")
    env.reset(seed=0)
    pickled = tmp_path / "env.pkl"
    pickled.write_bytes(pickle.dumps(env))
    code = (
        "import pickle, sys, marec_env\n"
        "from marec_env.recommenders.encoder import encoder_from_config\n"
        "env = marec_env.parallel_env('marec/coop-slate-v0'); env.reset(seed=0)\n"
        f"copy = pickle.loads(open({str(pickled)!r}, 'rb').read())\n"
        "copy.step({a: 0 for a in copy.agents})\n"
        "print(encoder_from_config(env.config).model_loaded, 'torch' in sys.modules, "
        "'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False"]


def test_a_lazy_encoder_loads_the_model_on_the_first_cache_miss(tmp_path: Path) -> None:
    lazy = TextEncoder(cache_dir=tmp_path, lazy=True)
    assert not lazy.model_loaded and lazy.dim == 384
    eager = TextEncoder(cache_dir=tmp_path)
    assert eager.model_loaded and eager.model_key == lazy.model_key  # same cache either way
    vectors = lazy.encode(["a quiet film about the sea", "a loud one about space"])
    assert lazy.model_loaded and lazy.sentences_encoded == 2
    again = TextEncoder(cache_dir=tmp_path, lazy=True)
    assert np.array_equal(again.encode(["a loud one about space"]), vectors[1:])
    assert not again.model_loaded and again.forward_calls == 0


def test_a_pickled_encoder_is_small_and_refuses_another_model(tmp_path: Path) -> None:
    encoder = TextEncoder(cache_dir=tmp_path, lazy=True)
    blob = pickle.dumps(encoder)
    assert len(blob) < 2_000
    copy = pickle.loads(blob)
    assert copy.model_key == encoder.model_key and not copy.model_loaded
    rebuild, (settings, _key) = encoder.__reduce__()
    with pytest.raises(TextModelError, match="not the model it was pickled with"):
        rebuild(dict(settings), "0" * 64)
    assert rebuild is _rebuild_encoder
