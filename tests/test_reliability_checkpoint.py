"""Issue 12 item 4: checkpoints carry a payload checksum, refuse non-finite tensors, are
validated completely before the learner changes, and a malformed header is a CheckpointError."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from agents import checkpoint
from agents.base import Batch
from agents.envs import open_env
from agents.registry import load_learner, make_learner
from agents.train import train_step

GAME = "marec/matrix-game-v0"
CheckpointError = checkpoint.CheckpointError


def trained(name: str, steps: int = 40):
    env = open_env(GAME, {"max_cycles": 3, "reward_noise": 1.0}, 1)
    learner = make_learner(name, env.info, {}, np.random.default_rng(0))
    batch = env.reset(seed=0)
    for _ in range(steps):
        batch, _, _ = train_step(env, learner, batch)
    return learner, env.info, Batch(batch.obs, batch.masks, None)


def fresh(name: str, info):
    return make_learner(name, info, {}, np.random.default_rng(7))


def snapshot(learner) -> tuple:
    """Everything a load may change: counters, Generator state, arrays or weights."""
    if hasattr(learner, "online"):
        arrays = {
            f"{net}.{k}": v.detach().numpy().copy()
            for net in ("online", "target")
            for k, v in getattr(learner, net).state_dict().items()
        }
        arrays["optimizer"] = repr(learner.optimizer.state_dict()["state"])
        arrays["torch_rng"] = learner.torch_rng.get_state().numpy().copy()
    else:
        arrays = {k: v.copy() for k, v in learner._arrays().items()}
    return (learner.updates, learner.messages, learner.steps_seen,
            json.dumps(learner.rng.bit_generator.state), arrays)  # fmt: skip


def assert_unchanged(before: tuple, learner) -> None:
    after = snapshot(learner)
    assert before[:4] == after[:4]
    assert before[4].keys() == after[4].keys()
    for key, value in before[4].items():
        assert np.array_equal(np.asarray(value), np.asarray(after[4][key])), key


def npz_parts(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return json.loads(arrays.pop("__header__").tobytes()), arrays


def test_item4_flipped_bit_in_dqn_weights_is_refused(tmp_path: Path) -> None:
    dqn, info, _ = trained("dqn", steps=10)
    path = tmp_path / "dqn.pt"
    dqn.save(str(path))
    raw = bytearray(path.read_bytes())
    weight = dqn.online.state_dict()
    name = next(iter(weight))
    data = weight[name].detach().numpy().tobytes()
    at = raw.find(data)
    assert at > 0
    raw[at + 3] ^= 0x40  # an exponent bit of the first float32 (little-endian): ~1e36 off
    path.write_bytes(bytes(raw))
    target = fresh("dqn", info)
    before = snapshot(target)
    with pytest.raises(CheckpointError, match="payload is corrupt"):
        target.load(str(path))
    assert_unchanged(before, target)


def test_item4_flipped_bit_in_a_q_table_is_refused(tmp_path: Path) -> None:
    iql, info, _ = trained("iql")
    path = tmp_path / "iql.npz"
    iql.save(str(path))
    header, arrays = npz_parts(path)
    arrays["q"].flat[0] = np.float64(3e36)
    with open(path, "wb") as fh:  # same header (its checksum is of the original table)
        blob = np.frombuffer(json.dumps(header).encode(), np.uint8)
        np.savez(fh, __header__=blob, **arrays)
    with pytest.raises(CheckpointError, match="payload is corrupt"):
        fresh("iql", info).load(str(path))


@pytest.mark.parametrize("name", ["iql", "maql", "dqn"])
def test_item4_non_finite_tensors_are_refused(name: str, tmp_path: Path) -> None:
    learner, info, _ = trained(name, steps=10)
    if hasattr(learner, "online"):
        with torch.no_grad():
            next(learner.online.parameters()).view(-1)[0] = float("nan")
    else:
        learner.value.q[...] = np.nan  # a Q-table of NaN, saved with a valid checksum
    path = tmp_path / "ckpt"
    learner.save(str(path))
    target = fresh(name, info)
    before = snapshot(target)
    with pytest.raises(CheckpointError, match="NaN or inf"):
        target.load(str(path))
    assert_unchanged(before, target)


def test_item4_table_load_checks_shapes_before_touching_counters_and_rng(tmp_path: Path) -> None:
    iql, info, _ = trained("iql")
    header = iql.header()
    header["state"]["updates"] = 999
    path = tmp_path / "bad-shape.npz"
    checkpoint.save_npz(path, header, {"q": np.zeros((1, 2, 3))})
    target = fresh("iql", info)
    before = snapshot(target)
    with pytest.raises(CheckpointError, match="shape"):
        target.load(str(path))
    assert_unchanged(before, target)


def test_item4_network_load_checks_the_optimizer_before_touching_the_weights(
    tmp_path: Path,
) -> None:
    dqn, info, _ = trained("dqn", steps=10)
    header = dqn.header()
    header["state"]["calls"] = 5
    tensors = {"online": dqn.online.state_dict(), "target": dqn.target.state_dict(),
               "optimizer": {"state": {}, "param_groups": []},
               "torch_rng": dqn.torch_rng.get_state()}  # fmt: skip
    path = tmp_path / "bad-opt.pt"
    checkpoint.save_torch(path, header, tensors)
    target = fresh("dqn", info)
    before = snapshot(target)
    with pytest.raises(CheckpointError, match="does not fit"):
        target.load(str(path))
    assert_unchanged(before, target)


def _rewrite_header(src: Path, dst: Path, change) -> None:
    header, arrays = npz_parts(src)
    header.pop("payload_sha256", None)
    change(header)
    checkpoint.save_npz(dst, header, arrays)


@pytest.mark.parametrize(
    "what, change",
    [
        ("missing state", lambda h: h.pop("state")),
        ("updates many", lambda h: h["state"].update(updates="many")),
        ("updates bool", lambda h: h["state"].update(updates=True)),
        ("env is a list", lambda h: h.update(env=[1, 2])),
        ("rng garbage", lambda h: h["state"].update(rng={"bit_generator": "PCG64"})),
        ("maql floats", lambda h: h["state"].update(floats="x")),
    ],
)
def test_item4_malformed_header_is_a_checkpoint_error(what: str, change, tmp_path: Path) -> None:
    maql, info, _ = trained("maql")
    good = tmp_path / "good.npz"
    maql.save(str(good))
    bad = tmp_path / "bad.npz"
    _rewrite_header(good, bad, change)
    target = fresh("maql", info)
    before = snapshot(target)
    with pytest.raises(CheckpointError) as caught:
        target.load(str(bad))
    assert type(caught.value) is CheckpointError, what
    assert_unchanged(before, target)


def test_item4_zip_whose_header_entry_is_not_npy(tmp_path: Path) -> None:
    iql, info, _ = trained("iql")
    for entry in ("__header__.npy", "__header__"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(entry, json.dumps(iql.header()))
            archive.writestr("q.npy", b"\x93NUMPY garbage")
        path = tmp_path / "odd.npz"
        path.write_bytes(buffer.getvalue())
        with pytest.raises(CheckpointError) as caught:
            fresh("iql", info).load(str(path))
        assert type(caught.value) is CheckpointError, entry
        with pytest.raises(CheckpointError) as caught:
            load_learner(str(path), info)
        assert type(caught.value) is CheckpointError, entry


@pytest.mark.parametrize("name", ["iql", "maql", "dqn", "iql-linear", "maql-linear"])
def test_item4_round_trip_still_exact(name: str, tmp_path: Path) -> None:
    learner, info, batch = trained(name, steps=10)
    path = tmp_path / "ckpt"
    learner.save(str(path))
    target = fresh(name, info)
    target.load(str(path))
    assert snapshot(target)[:4] == snapshot(learner)[:4]
    assert np.array_equal(target.act(batch, explore=True), learner.act(batch, explore=True))
