"""On-disk cache of text embeddings, keyed by model identity and by the sha256 of each text.

Layout under the cache root (``embedding_cache_dir``, else ``$MAREC_CACHE_DIR``, else
``$XDG_CACHE_HOME/marec`` or ``~/.cache/marec``)::

    embeddings/<model_key>/model.json          what the key stands for (for humans)
    embeddings/<model_key>/<random>.safetensors shards: "digest" (n, 32) uint8, "embedding" (n, d)

Every shard is written to a temporary file in the same directory and then moved into place
with :func:`os.replace`, so a reader never sees half a file, and concurrent processes never
write the same file. Shards are safetensors (no pickle). A shard whose metadata names another
model key, or whose shapes are wrong, is ignored with a warning: a cache of another model is
never reused. When shards pile up they are merged into one.

Each shard's metadata holds the sha256 of its contents: a shard that does not match (one
flipped bit in a stored embedding would silently change the simulation for every later
process), has no checksum or cannot be read is reported, moved aside into ``quarantine/`` and
its rows are encoded again on the next miss.

If the root cannot be written (read-only, or a path through a file) the cache warns once,
naming the directory and the fix, and keeps embeddings in memory for this process only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

FORMAT = "marec-embeddings-v1"
SHARD_SUFFIX = ".safetensors"
QUARANTINE = "quarantine"
COMPACT_AFTER = 16
"""Merge the shards of a model key into one once a process has loaded more than this many."""


class EmbeddingCacheWarning(UserWarning):
    """The embedding cache cannot be used as configured; embeddings stay in memory."""


def default_cache_root(configured: str | os.PathLike[str] | None = None) -> Path:
    """Where caches live: ``configured``, else ``$MAREC_CACHE_DIR``, else the user cache dir."""
    if configured is not None and str(configured) != "":
        return Path(configured).expanduser()
    env = os.environ.get("MAREC_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "marec"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes 0600 files; a cache shared through MAREC_CACHE_DIR must be readable.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def shard_checksum(digests: np.ndarray, vectors: np.ndarray) -> str:
    """sha256 over a shard's two tables (dtype, shape and bytes of each)."""
    h = hashlib.sha256()
    for array in (digests, vectors):
        array = np.ascontiguousarray(array)
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def unwritable_warning(root: Path, err: BaseException) -> None:
    """Warn that ``root`` cannot be written, naming the fix."""
    warnings.warn(
        f"marec: cannot write the text-embedding cache directory {str(root)!r} ({err}). "
        "Embeddings are kept in memory only and will be encoded again in every new process. "
        "Fix: make that directory writable, or set MarketConfig.embedding_cache_dir or the "
        "MAREC_CACHE_DIR environment variable to a writable directory.",
        EmbeddingCacheWarning,
        stacklevel=3,
    )


class EmbeddingCache:
    """Embeddings of one model identity: an in-memory index backed by shards on disk.

    ``root=None`` keeps everything in memory (no warning: the caller asked for it).
    """

    def __init__(
        self, root: Path | None, model_key: str, dim: int, description: dict[str, object]
    ) -> None:
        self.root = root
        self.model_key = model_key
        self.dim = dim
        self.directory: Path | None = None if root is None else root / "embeddings" / model_key
        self.writable = False
        # digest (32 raw bytes) -> float32 row; rows are views into loaded shard arrays.
        self._index: dict[bytes, np.ndarray] = {}
        self._loaded: set[str] = set()  # shard file names already read by this process
        self._good: set[str] = set()  # the subset whose rows are in the index
        if self.directory is not None:
            self.writable = self._prepare(description)
            self.refresh()

    def __len__(self) -> int:
        return len(self._index)

    def _prepare(self, description: dict[str, object]) -> bool:
        """Create the model directory and its model.json; False (with a warning) if we can't."""
        assert self.directory is not None and self.root is not None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            info = self.directory / "model.json"
            if not info.exists():
                payload = {"format": FORMAT, "model_key": self.model_key, **description}
                text = json.dumps(payload, indent=2, sort_keys=True, default=str)
                atomic_write_bytes(info, text.encode("utf-8"))
            else:
                # A writable directory is not proven by an existing file: probe it.
                fd, probe = tempfile.mkstemp(dir=self.directory, prefix=".probe-")
                os.close(fd)
                os.unlink(probe)
        except OSError as err:
            unwritable_warning(self.root, err)
            return False
        return True

    def refresh(self) -> None:
        """Read shards written since the last call (possibly by other processes)."""
        if self.directory is None:
            return
        try:
            names = sorted(
                n
                for n in os.listdir(self.directory)
                if n.endswith(SHARD_SUFFIX) and not n.startswith(".")
            )
        except OSError:
            return  # a missing or unreadable directory holds nothing for us
        for name in names:
            if name not in self._loaded:
                self._load_shard(name)
        if self.writable and len(self._good) > COMPACT_AFTER:
            self._compact()

    def _load_shard(self, name: str) -> None:
        from safetensors import safe_open

        assert self.directory is not None
        path = self.directory / name
        try:
            with safe_open(str(path), framework="numpy") as handle:
                meta = handle.metadata() or {}
                digests = handle.get_tensor("digest")
                vectors = handle.get_tensor("embedding")
        except FileNotFoundError:
            return  # merged away by another process between listdir and open
        except Exception as err:  # corrupt file: never fatal, never used
            self._loaded.add(name)
            self._quarantine(path, f"it is unreadable ({err})")
            return
        ok = (
            meta.get("format") == FORMAT
            and meta.get("model_key") == self.model_key
            and digests.dtype == np.uint8
            and digests.ndim == 2
            and digests.shape[1] == 32
            and vectors.dtype == np.float32
            and vectors.shape == (digests.shape[0], self.dim)
        )
        self._loaded.add(name)
        if not ok:
            warnings.warn(
                f"marec: ignoring embedding cache file {str(path)!r}: it does not belong to "
                f"model key {self.model_key} or is malformed.",
                EmbeddingCacheWarning,
                stacklevel=4,
            )
            return
        if meta.get("sha256") != shard_checksum(digests, vectors):
            why = (
                "its checksum does not match its contents (damaged on disk)"
                if "sha256" in meta
                else "it has no checksum (written by an older marec), so it cannot be verified"
            )
            self._quarantine(path, why)
            return
        if not np.isfinite(vectors).all():
            self._quarantine(path, "it holds non-finite embeddings")
            return
        for digest, row in zip(digests, vectors):
            self._index.setdefault(digest.tobytes(), row)
        self._good.add(name)

    def _quarantine(self, path: Path, why: str) -> None:
        """Report a damaged shard and move it aside; its texts are encoded again on demand."""
        moved = "left in place (the cache is read-only)"
        if self.writable:
            aside = path.parent / QUARANTINE / f"{path.name}.{os.urandom(4).hex()}"
            try:
                aside.parent.mkdir(exist_ok=True)
                os.replace(path, aside)
                moved = f"moved to {str(aside)!r}"
            except OSError as err:
                moved = f"could not be moved aside ({err})"
        warnings.warn(
            f"marec: damaged embedding cache file {str(path)!r}: {why}. Its rows are not used "
            f"and will be encoded again; the file was {moved}.",
            EmbeddingCacheWarning,
            stacklevel=5,
        )

    def lookup(self, digests: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Return (found mask, (n, dim) float32 rows; rows not found are zero)."""
        out = np.zeros((len(digests), self.dim), dtype=np.float32)
        found = np.zeros(len(digests), dtype=bool)
        for i, digest in enumerate(digests):
            row = self._index.get(digest)
            if row is not None:
                out[i] = row
                found[i] = True
        return found, out

    def add(self, digests: Sequence[bytes], vectors: np.ndarray) -> None:
        """Remember new embeddings in memory and, if possible, in one new shard on disk."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        for digest, row in zip(digests, vectors):
            self._index.setdefault(digest, row)
        if not self.writable or len(digests) == 0:
            return
        table = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(len(digests), 32)
        try:
            name = self._write_shard(table, vectors)
        except OSError as err:  # disk full, permissions changed under us, ...
            assert self.root is not None
            unwritable_warning(self.root, err)
            self.writable = False
            return
        self._loaded.add(name)
        self._good.add(name)

    def _write_shard(self, digests: np.ndarray, vectors: np.ndarray) -> str:
        from safetensors.numpy import save

        assert self.directory is not None
        data = save(
            {"digest": np.ascontiguousarray(digests), "embedding": vectors},
            metadata={
                "format": FORMAT,
                "model_key": self.model_key,
                "sha256": shard_checksum(digests, vectors),
            },
        )
        name = os.urandom(12).hex() + SHARD_SUFFIX
        atomic_write_bytes(self.directory / name, data)
        return name

    def _compact(self) -> None:
        """Merge every shard this process has read into one, then delete the merged ones.

        Only shards whose rows are in the index are deleted, and those rows are all in the
        merged shard, so a concurrent writer's new shard is never lost."""
        assert self.directory is not None
        old = sorted(self._good)
        keys = list(self._index)
        table = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
        vectors = np.stack([self._index[k] for k in keys]) if keys else np.zeros((0, self.dim))
        try:
            name = self._write_shard(table, vectors.astype(np.float32))
        except OSError:
            return  # compaction is an optimisation; the shards stay valid
        for stale in old:
            with contextlib.suppress(OSError):
                os.unlink(self.directory / stale)
        self._loaded.add(name)
        self._good = {name}
