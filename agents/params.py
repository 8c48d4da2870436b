"""Hyper-parameters: frozen dataclasses with one docstring per field, checked on construction.

Unknown names raise :class:`ParamError` naming the bad key, the closest valid ones and the
whole allowed list; values are type-checked against the field annotation.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any, TypeVar

from marec_env.config import _field_docs

P = TypeVar("P")


class ParamError(ValueError):
    """A learner name or hyper-parameter is unknown or out of range."""


def unknown_name_error(kind: str, name: str, allowed: list[str]) -> ParamError:
    """``unknown <kind> 'x' (did you mean y?); allowed: a, b, c``."""
    close = difflib.get_close_matches(str(name), allowed, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    listed = ", ".join(allowed) if allowed else "none (it takes no hyper-parameters)"
    return ParamError(f"unknown {kind} {name!r}{hint}; allowed: {listed}")


def build_params(cls: type[P], base: P | None, overrides: dict[str, Any], learner: str) -> P:
    """``base`` (or ``cls()``) with ``overrides`` applied; unknown keys and bad types raise."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in overrides:
        if key not in names:
            raise unknown_name_error(f"hyper-parameter of learner {learner!r}:", key, names)
    base = cls() if base is None else base
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in overrides:
            values[f.name] = _coerce(learner, f.name, overrides[f.name], getattr(base, f.name))
    return dataclasses.replace(base, **values)  # type: ignore[type-var]


def _coerce(learner: str, name: str, value: Any, default: Any) -> Any:
    # YAML and JSON hand us ints for floats and lists for tuples; anything else must match.
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        value = tuple(value)
    ok = type(value) is type(default) or (default is None and value is not None)
    if not ok:
        raise ParamError(
            f"hyper-parameter {name!r} of learner {learner!r} must be "
            f"{type(default).__name__}, got {value!r}"
        )
    return value


def check(cond: bool, learner: str, name: str, value: Any, allowed: str) -> None:
    """Raise a ParamError naming the field and what is allowed unless ``cond``."""
    if not cond:
        raise ParamError(f"{learner}: hyper-parameter {name}={value!r} invalid; allowed: {allowed}")


def probability(learner: str, name: str, value: float) -> None:
    check(math.isfinite(value) and 0.0 <= value <= 1.0, learner, name, value, "[0, 1]")


def positive(learner: str, name: str, value: float) -> None:
    check(math.isfinite(value) and value > 0, learner, name, value, "> 0")


def field_docs(cls: type) -> dict[str, str]:
    """Field name → its attribute docstring, read from the class source (bases included)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass) and klass.__dataclass_fields__:
            docs.update(_field_docs(klass))  # the env's reader, one class at a time
    return docs
