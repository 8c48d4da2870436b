"""A text model loaded on first use: what the embedding cache needs, read without loading it.

The embedding cache is keyed by the model's identity (sha256 of its weight and tokenizer
files), its width and its maximum length. For a local model directory (the default model is
one) all of that is in small files: ``config.json``, ``tokenizer_config.json`` and the
weights' sha256, which :func:`file_sha256` remembers across processes. So an env whose texts
are all cached never imports torch or transformers, and a pickled env carries the model's
identity, not its 90 MB of weights. Hub ids are loaded at once: their identity is a commit
that only the hub client resolves.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marec_env.recommenders.text_model import (
    DEFAULT_MODEL_SHA256,
    LoadedModel,
    ModelSource,
    TextModelError,
    _identity,
    _weight_files,
    load_model,
    resolve_device,
)

_UNBOUNDED = 1 << 30
"""Stands for "no limit" in max lengths (transformers uses an even larger integer)."""


@dataclass(frozen=True)
class ModelDescription:
    """What a text model is, as far as the embedding cache is concerned."""

    identity: dict[str, Any]
    dim: int
    max_positions: int
    tokenizer_max_length: int


def _read_json(path: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        value = json.loads(path.read_text("utf-8"))
        return value if isinstance(value, dict) else None
    return None


def _length(value: Any) -> int:
    """A max length from a config file; absent or odd values mean unbounded."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return _UNBOUNDED
    return int(min(value, _UNBOUNDED))


def describe_local_model(source: ModelSource, memo_root: Path | None) -> ModelDescription | None:
    """The description of a local model read from its files, or ``None`` when it must be
    loaded to be described (a hub id, missing weights, an unreadable config, default weights
    that fail their sha256: loading then raises the error that names the fix)."""
    if source.path is None or not _weight_files(source.path):
        return None
    config = _read_json(source.path / "config.json")
    if config is None:
        return None
    dim = config.get("hidden_size")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        return None
    tokenizer_config = _read_json(source.path / "tokenizer_config.json") or {}
    identity = _identity(source, None, memo_root)
    if source.is_default and identity["files"].get("model.safetensors") != DEFAULT_MODEL_SHA256:
        return None
    return ModelDescription(
        identity=identity,
        dim=dim,
        max_positions=_length(config.get("max_position_embeddings")),
        tokenizer_max_length=_length(tokenizer_config.get("model_max_length")),
    )


def describe_loaded_model(loaded: LoadedModel) -> ModelDescription:
    """The description of a model already in memory."""
    tokenizer_max = getattr(loaded.tokenizer, "model_max_length", 0) or _UNBOUNDED
    return ModelDescription(
        identity=loaded.identity,
        dim=loaded.dim,
        max_positions=_length(loaded.max_positions),
        tokenizer_max_length=_length(tokenizer_max),
    )


def device_name(device: str) -> str:
    """:func:`resolve_device` without importing torch for the common ``"cpu"``."""
    return "cpu" if device == "cpu" else resolve_device(device)


class LazyModel:
    """Holds a text model that is loaded on the first :meth:`get`, not before.

    ``lazy=False`` loads at once (errors in the weights surface at construction). Either way
    :attr:`description` is available immediately; a model loaded later must match it, or the
    cache keys derived from it would be wrong.
    """

    def __init__(
        self, source: ModelSource, device: str, memo_root: Path | None, lazy: bool = True
    ) -> None:
        self.source = source
        self.device = device_name(device)  # a bad device name fails here, not at first use
        self.memo_root = memo_root
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()
        description = describe_local_model(source, memo_root) if lazy else None
        if description is None:
            self._loaded = load_model(source, self.device, memo_root)
            description = describe_loaded_model(self._loaded)
        self.description = description

    @property
    def is_loaded(self) -> bool:
        """Whether the weights are in memory (False while every text came from the cache)."""
        return self._loaded is not None

    def get(self) -> LoadedModel:
        """The loaded model, loading (and checking) it on first call."""
        with self._lock:
            if self._loaded is None:
                loaded = load_model(self.source, self.device, self.memo_root)
                found = describe_loaded_model(loaded)
                if found != self.description:
                    raise TextModelError(
                        f"the text model in {self.source.path} changed on disk since this "
                        f"encoder was built (expected {self.description}, found {found}); "
                        "build the env again"
                    )
                self._loaded = loaded
            return self._loaded

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(
            "LazyModel is not pickled: TextEncoder pickles its settings and identity instead"
        )
