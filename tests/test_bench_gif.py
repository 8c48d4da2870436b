"""An episode GIF from rgb_array frames: real frames, real file, animation that changes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks.episode_gif import GIF_FILE, episode_gif
from tests.conftest import small


def test_episode_gif_has_one_frame_per_step(tmp_path):
    env_id = "marec/mixed-v0"
    config = {"env_id": env_id, "env_overrides": {**small(env_id), "max_cycles": 30}}
    path = episode_gif(tmp_path, config, steps=12)
    assert path == tmp_path / GIF_FILE
    with Image.open(path) as gif:
        assert gif.n_frames == 13  # the reset frame plus one per step
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
    assert frames[0].shape == (270, 480, 3)
    assert any(not np.array_equal(frames[1], f) for f in frames[2:])
    assert [p.name for p in tmp_path.iterdir()] == [GIF_FILE]  # no temp file left behind
