"""An animated GIF of one episode, drawn from the env's ``rgb_array`` frames.

    python -m benchmarks plot DIR --video          # DIR/episode.gif from DIR's scenario

Each frame is ``env.render()``: the page (slot border = agent colour, fill = item topics, white
frame = the click), the user's topic tastes, and running slot shares per agent. The policy is
greedy (every agent puts its backbone's top candidate first), so the picture shows the market
the backbones make on their own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.atomic import atomic_path

GIF_FILE = "episode.gif"


def greedy_actions(env: Any) -> dict[str, int]:
    """Top-ranked valid candidate (lowest bid in auctions) for every live agent."""
    masks = env.unwrapped.action_masks() if hasattr(env.unwrapped, "action_masks") else {}
    actions = {}
    for agent in env.agents:
        mask = masks.get(agent)
        actions[agent] = int(np.argmax(mask)) if mask is not None else 0
    return actions


def record_frames(env_id: str, overrides: dict[str, Any], seed: int, steps: int) -> list:
    import marec_env

    env = marec_env.parallel_env(env_id, **{**overrides, "render_mode": "rgb_array"})
    env.reset(seed=seed)
    frames = [env.render()]
    while env.agents and len(frames) <= steps:
        env.step(greedy_actions(env))
        frames.append(env.render())
    env.close()
    return frames


def write_gif(frames: list[np.ndarray], target: str | os.PathLike[str], fps: int = 4) -> Path:
    """Write ``frames`` (H, W, 3) uint8 as a looping GIF, atomically."""
    from PIL import Image  # Pillow ships with matplotlib

    if not frames:
        raise ValueError("write_gif: no frames to write")
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    target = Path(target)
    with atomic_path(target) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=int(1000 / fps),
            loop=0,
        )
    return target


def episode_gif(directory: Path, config: dict[str, Any], steps: int, seed: int = 0) -> Path:
    """Record the scenario's env (from a results dir's run record) into DIR/episode.gif."""
    env_id = config.get("env_id")
    if not env_id:
        raise ValueError(f"{directory}: the run record names no env_id to record")
    frames = record_frames(env_id, dict(config.get("env_overrides") or {}), seed, steps)
    return write_gif(frames, directory / GIF_FILE)
