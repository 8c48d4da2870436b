"""The env's own thread budget: BLAS/OpenMP and torch threads inside ``reset`` and ``step``.

The env's matrix products are small; on a busy machine every multi-threaded BLAS or torch
call waits for its worker threads (measured: ~16 ms a call on a loaded 2-core host, and a
vector env 3–8× faster at B ≤ 1,024 with one thread). So by default the env runs its own
work on one thread and restores the process settings afterwards: learners keep their own
thread counts. ``MarketConfig.num_threads`` changes it (0 leaves the process settings alone).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable[..., Any])

_controller: ThreadpoolController | None = None
_controller_saw_torch = False


def _libraries() -> list:
    """The loaded BLAS/OpenMP runtimes (rescanned once torch is imported: it brings its own)."""
    global _controller, _controller_saw_torch
    has_torch = "torch" in sys.modules
    if _controller is None or has_torch != _controller_saw_torch:
        _controller = ThreadpoolController()
        _controller_saw_torch = has_torch
    return _controller.lib_controllers


class ThreadLimit:
    """Context manager: at most ``n`` threads in every thread pool while inside (n ≥ 1);
    ``n = 0`` does nothing. Pools already at ``n`` are left untouched (cheap when nested)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._restore: list[tuple[Any, int]] = []
        self._torch_threads = 0

    def __enter__(self) -> ThreadLimit:
        self._restore = []
        self._torch_threads = 0
        if self.n <= 0:
            return self
        for lib in _libraries():
            current = lib.num_threads
            if current != self.n:
                lib.set_num_threads(self.n)
                self._restore.append((lib, current))
        torch = sys.modules.get("torch")
        if torch is not None:
            current = torch.get_num_threads()
            if current != self.n:
                torch.set_num_threads(self.n)
                self._torch_threads = current
        return self

    def __exit__(self, *exc: object) -> None:
        for lib, threads in reversed(self._restore):
            lib.set_num_threads(threads)
        self._restore = []
        if self._torch_threads:
            sys.modules["torch"].set_num_threads(self._torch_threads)
            self._torch_threads = 0


def env_threads(method: F) -> F:
    """Decorator for env methods: run under ``ThreadLimit(self.config.num_threads)``."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with ThreadLimit(self.config.num_threads):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
