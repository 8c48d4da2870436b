"""Checkpoints: one file, a JSON header plus arrays, written atomically.

Tables go to ``numpy.savez`` (read back with ``allow_pickle=False``); networks to
``torch.save`` (read back with ``weights_only=True``). Both carry the same header::

    {"format": "marec-learner", "learner": "iql", "version": 1,
     "env": {"env_id": ..., "agents": [...], "obs_shape": [D], "n_actions": A},
     "params": {...hyper-parameters...}, "state": {...counters, RNG state...}}

Neither format executes code on load. Files are written to a temporary name in the same
directory and moved into place with ``os.replace``, so a crash never leaves half a file
under the real name. A truncated, corrupt or mismatching file raises
:class:`CheckpointError` saying which.

The header also carries ``payload_sha256``, a digest of every array/tensor (dtype, shape and
bytes): one flipped bit in a weight is refused instead of loading as a parameter off by 1e36.
Non-finite floats are refused too (no learner stores NaN or inf). Learners validate a whole
checkpoint before changing anything, so a refused load leaves the learner as it was.
"""

from __future__ import annotations

import hashlib
import io
import json
import numbers
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

FORMAT = "marec-learner"
_HEADER_KEY = "__header__"
_DIGEST_KEY = "payload_sha256"
COUNTERS = ("updates", "messages", "steps_seen")


class CheckpointError(ValueError):
    """A checkpoint is unreadable, or was written by another learner, env or version."""


def make_header(learner: str, version: int, env: dict, params: dict, state: dict) -> dict[str, Any]:
    return {"format": FORMAT, "learner": learner, "version": version, "env": env,
            "params": params, "state": state}  # fmt: skip


def check_header(header: Any, learner: str, version: int, env: dict, params: dict) -> None:
    """Raise CheckpointError naming the first thing that does not match this learner."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError("not a marec learner checkpoint (missing or foreign header)")
    if header.get("learner") != learner:
        raise CheckpointError(
            f"checkpoint was written by learner {header.get('learner')!r}, not {learner!r}"
        )
    if header.get("version") != version:
        raise CheckpointError(
            f"checkpoint version {header.get('version')} of {learner!r}; this code reads "
            f"version {version}"
        )
    for key, value in env.items():
        theirs = header.get("env", {}).get(key)
        if theirs != value:
            raise CheckpointError(f"checkpoint env {key} is {theirs!r}, this env has {value!r}")
    saved = _jsonable(header.get("params", {}))
    diff = [k for k in set(saved) | set(params) if saved.get(k) != _jsonable(params).get(k)]
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} vs {params.get(k)!r}" for k in sorted(diff))
        raise CheckpointError(f"checkpoint hyper-parameters differ (saved vs this): {detail}")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples → lists, as they come back from a file


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(fh)`` on a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: str | os.PathLike[str], header: dict, arrays: dict[str, np.ndarray]) -> None:
    header = {**header, _DIGEST_KEY: payload_digest(arrays)}
    blob = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    atomic_write(path, lambda fh: np.savez(fh, **{_HEADER_KEY: blob}, **arrays))


def load_npz(path: str | os.PathLike[str]) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a table checkpoint; CheckpointError if it cannot be read."""
    raw = _read(path)
    if _kind(raw) == "torch":
        raise CheckpointError(
            f"{path}: is a network (torch) checkpoint; this learner stores a table"
        )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({exc})") from exc
    if _HEADER_KEY not in arrays:
        raise CheckpointError(f"{path}: not a marec learner checkpoint (no header)")
    header = _parse_header(path, arrays.pop(_HEADER_KEY).tobytes())
    _verify_payload(path, header, arrays)
    return header, arrays


def save_torch(path: str | os.PathLike[str], header: dict, tensors: dict[str, Any]) -> None:
    import torch

    header = {**header, _DIGEST_KEY: payload_digest(tensors)}
    payload = {"header": json.dumps(header), "tensors": tensors}
    atomic_write(path, lambda fh: torch.save(payload, fh))


def load_torch(path: str | os.PathLike[str]) -> tuple[dict, dict[str, Any]]:
    """(header, tensors) of a network checkpoint; CheckpointError if it cannot be read."""
    import torch

    raw = _read(path)
    if _kind(raw) == "npz":
        raise CheckpointError(f"{path}: is a table (npz) checkpoint; this learner stores a network")
    try:
        payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (RuntimeError, UnpicklingError, ...)
        raise CheckpointError(
            f"{path}: corrupt, truncated or not a torch checkpoint ({exc})"
        ) from exc
    if not isinstance(payload, dict) or "header" not in payload or "tensors" not in payload:
        raise CheckpointError(f"{path}: not a marec learner checkpoint (no header)")
    header = _parse_header(path, str(payload["header"]).encode())
    _verify_payload(path, header, payload["tensors"])
    return header, payload["tensors"]


def payload_digest(payload: Any) -> str:
    """sha256 over a nest of dicts/lists of arrays, tensors and scalars, in a fixed order."""
    digest = hashlib.sha256()
    _feed(digest, payload)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            digest.update(repr(str(key)).encode() + b":")
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    elif hasattr(value, "detach"):  # a torch tensor: hash it as the numpy array it holds
        _feed(digest, value.detach().cpu().contiguous().numpy())
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"array {array.dtype.str} {array.shape}:".encode())
        digest.update(array.tobytes())
    else:
        digest.update(f"{type(value).__name__} {value!r};".encode())


def _verify_payload(path: Any, header: dict, payload: Any) -> None:
    expected = header.get(_DIGEST_KEY)
    if not isinstance(expected, str):
        raise CheckpointError(
            f"{path}: checkpoint header has no payload checksum ({_DIGEST_KEY}); it was "
            "written by an older marec or edited: save it again with this version"
        )
    actual = payload_digest(payload)
    if actual != expected:
        raise CheckpointError(
            f"{path}: checkpoint payload is corrupt: sha256 {actual[:16]}… does not match "
            f"the header's {expected[:16]}…"
        )
    for name, array in _leaves("", payload):
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise CheckpointError(f"{path}: checkpoint array {name!r} holds NaN or inf")


def _leaves(prefix: str, value: Any) -> Any:
    """(dotted name, numpy array) of every array or tensor in a nest."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(f"{prefix}.{key}" if prefix else str(key), item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _leaves(f"{prefix}[{i}]", item)
    elif hasattr(value, "detach"):
        yield prefix, value.detach().cpu().numpy()
    elif isinstance(value, np.ndarray):
        yield prefix, value


def check_counters(path: Any, state: dict, names: tuple[str, ...] = COUNTERS) -> dict[str, int]:
    """The named counters of a header's state as ints >= 0, or CheckpointError naming one."""
    out = {}
    for name in names:
        value = state.get(name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise CheckpointError(
                f"{path}: checkpoint state {name!r} must be an integer >= 0, got {value!r}"
            )
        out[name] = int(value)
    return out


def check_rng_state(path: Any, rng: np.random.Generator, state: Any) -> None:
    """Raise CheckpointError unless ``state`` fits ``rng``'s bit generator (rng unchanged)."""
    probe = type(rng.bit_generator)()
    try:
        probe.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: checkpoint RNG state is malformed ({exc})") from None


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of either kind of checkpoint (to rebuild the learner it belongs to)."""
    return (load_npz(path) if _kind(_read(path)) == "npz" else load_torch(path))[0]


def _kind(raw: bytes) -> str:
    """``npz`` or ``torch`` (both are zip archives; only ours has a header entry)."""
    try:
        names = zipfile.ZipFile(io.BytesIO(raw)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "unknown"
    return "npz" if f"{_HEADER_KEY}.npy" in names else "torch"


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc


def _parse_header(path: Any, raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: checkpoint header is corrupt ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a marec learner checkpoint (foreign header)")
    for key, kind in (("env", dict), ("params", dict), ("state", dict), ("learner", str)):
        if not isinstance(header.get(key), kind):
            raise CheckpointError(
                f"{path}: checkpoint header is malformed: {key!r} is "
                f"{header.get(key)!r}, expected a {kind.__name__}"
            )
    return header
