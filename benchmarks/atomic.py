"""Atomic file writes: a reader (or a crash, or Ctrl-C) never sees a half-written file.

Each write goes to a temporary file in the target's own directory (``os.replace`` is atomic
only within one filesystem) and is renamed over the target when complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it replaces ``target``."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared and read
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        # BaseException too: an interrupted write must not leave temp files behind.
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_with(target: str | os.PathLike[str], writer: Callable[[IO[str]], None]) -> None:
    """Atomically write ``target`` by calling ``writer`` on an open text file."""
    with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer(fh)
