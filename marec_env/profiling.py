"""Opt-in stage timer: where a step spends its time (``python -m benchmarks throughput``).

Off by default, and then ``stage(name)`` returns one shared do-nothing context manager, so
instrumented code pays one function call and one flag test. The step should wrap each of
its stages (proposals, mechanism, page, choice, rewards, user update, backbone feedback,
candidates, observations, metrics, reset) in ``with profiling.stage("name"):``;
:func:`instrument` wraps an existing function from outside for code not yet instrumented.
Nested stages are charged to both (shares of a breakdown can exceed 100 % when nested).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

_enabled = False
_seconds: dict[str, float] = {}
_calls: dict[str, int] = {}


class _Off:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_OFF = _Off()


class _Timer:
    __slots__ = ("name", "start")

    def __init__(self, name: str) -> None:
        self.name = name
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        _seconds[self.name] = _seconds.get(self.name, 0.0) + elapsed
        _calls[self.name] = _calls.get(self.name, 0) + 1


def stage(name: str) -> _Off | _Timer:
    """Context manager charging the enclosed time to ``name`` (no-op unless enabled)."""
    return _Timer(name) if _enabled else _OFF


def enable(on: bool = True) -> None:
    """Start (or stop) collecting stage times; collected totals are kept until :func:`clear`."""
    global _enabled
    _enabled = on


def clear() -> None:
    _seconds.clear()
    _calls.clear()


def totals() -> dict[str, tuple[float, int]]:
    """Stage name → (seconds, calls) collected since the last :func:`clear`."""
    return {name: (_seconds[name], _calls[name]) for name in _seconds}


def instrument(owner: Any, attribute: str, name: str) -> Callable[[], None]:
    """Wrap ``owner.attribute`` (a function or method) in ``stage(name)``; returns an undo."""
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with stage(name):
            return original(*args, **kwargs)

    setattr(owner, attribute, timed)
    return lambda: setattr(owner, attribute, original)
