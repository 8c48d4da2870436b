"""An exclusive, per-directory lock that names its holder.

Two processes writing one results directory would each rewrite every file from their own
memory, and one run's rows would vanish while both report success. ``DirLock`` takes an
``fcntl.flock`` on ``<dir>/.lock`` (released by the kernel when the holder exits, even on
``kill -9``, so a stale lock file never blocks anyone) and writes who holds it into the file,
so a refused writer can say whom it is waiting for.

Within one process the lock is shared (counted): a process never locks itself out.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"

_HELD: dict[str, tuple[int, int]] = {}  # real path -> (fd, holders in this process)
_GUARD = threading.Lock()


class DirLockedError(RuntimeError):
    """Another process holds the directory's lock; the message names it."""


def _holder_text(lock_path: Path) -> str:
    try:
        info: Any = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info:
        return "another process (holder unknown)"
    return (
        f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')} "
        f"(`{info.get('command')}`)"
    )


def _holder_info() -> str:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": now, "command": command}
    return json.dumps(info) + "\n"


class DirLock:
    """Hold the lock of ``directory`` (which must exist) until :meth:`release`."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / LOCK_FILE
        self._key = str(Path(directory).resolve())
        self._held = False
        self._acquire()

    def _acquire(self) -> None:
        import fcntl

        with _GUARD:
            if self._key in _HELD:
                fd, count = _HELD[self._key]
                _HELD[self._key] = (fd, count + 1)
                self._held = True
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise DirLockedError(
                    f"{self.path.parent} is in use by {_holder_text(self.path)}; wait for "
                    "that run to finish (or stop it), or choose another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, _holder_info().encode("utf-8"), 0)
            _HELD[self._key] = (fd, 1)
            self._held = True

    def release(self) -> None:
        """Give the lock back (the last holder in this process unlocks the file)."""
        with _GUARD:
            if not self._held:
                return
            self._held = False
            fd, count = _HELD[self._key]
            if count > 1:
                _HELD[self._key] = (fd, count - 1)
                return
            del _HELD[self._key]
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # no stale holder text once released
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> DirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()
