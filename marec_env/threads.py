"""The env's own thread budget: BLAS/OpenMP and torch threads inside ``reset`` and ``step``.

The env's matrix products are small; on a busy machine every multi-threaded BLAS or torch
call waits for its worker threads (measured: ~16 ms a call on a loaded 2-core host, and a
vector env 3–8× faster at B ≤ 1,024 with one thread). So by default the env runs its own
work on one thread and restores the process settings afterwards: learners keep their own
thread counts. ``MarketConfig.num_threads`` changes it (0 leaves the process settings alone).

With ``n > 1`` the env's own row-wise kernels (top-K selection, the ideal-utility metric) also
split their rows over ``n`` threads (:func:`map_rows`); the kernels release the GIL, and each
row's result depends on that row only, so the output is identical for any ``n``. Calls with
fewer than :data:`ROWS_PER_THREAD` rows per thread stay on one: small calls would only wait.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from threadpoolctl import ThreadpoolController

F = TypeVar("F", bound=Callable[..., Any])

_controller: ThreadpoolController | None = None
_controller_saw_torch = False
_row_threads = 1
"""Threads :func:`map_rows` may use: ``n`` inside ``ThreadLimit(n)``, else 1."""
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
ROWS_PER_THREAD = 256
"""Rows a thread needs before :func:`map_rows` splits a call (below, one thread is faster)."""
R = TypeVar("R")


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
        self._row_threads = 1

    def __enter__(self) -> ThreadLimit:
        global _row_threads
        self._restore = []
        self._torch_threads = 0
        self._row_threads = _row_threads
        if self.n <= 0:
            return self
        _row_threads = self.n
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
        global _row_threads
        _row_threads = self._row_threads
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


def map_rows(n_rows: int, call: Callable[[int, int], R]) -> list[R]:
    """``call(start, stop)`` over consecutive row ranges covering ``range(n_rows)``, in order:
    one range, or one per thread of the enclosing ``ThreadLimit`` when every thread gets at
    least :data:`ROWS_PER_THREAD` rows (``call`` must release the GIL to gain anything)."""
    global _pool, _pool_size
    workers = min(_row_threads, n_rows // ROWS_PER_THREAD)
    if workers <= 1:
        return [call(0, n_rows)]
    if _pool is None or _pool_size < workers:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool, _pool_size = ThreadPoolExecutor(workers, thread_name_prefix="marec-rows"), workers
    bounds = [n_rows * i // workers for i in range(workers + 1)]
    futures = [_pool.submit(call, bounds[i], bounds[i + 1]) for i in range(workers)]
    return [future.result() for future in futures]
