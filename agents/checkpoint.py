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
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

FORMAT = "marec-learner"
_HEADER_KEY = "__header__"


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
    return _parse_header(path, arrays.pop(_HEADER_KEY).tobytes()), arrays


def save_torch(path: str | os.PathLike[str], header: dict, tensors: dict[str, Any]) -> None:
    import torch

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
    return _parse_header(path, str(payload["header"]).encode()), payload["tensors"]


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
    return header
