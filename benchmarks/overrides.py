"""``--set key.path=value`` overrides of a scenario, and the run command's shortcut flags.

Overrides edit the raw scenario mapping before validation, so the result is checked exactly
like a file. A path must name something that exists: a scenario field, a MarketConfig field
under ``env_overrides``, or a learner parameter under ``learners.<label or index>.params``
(present in the file or among the learner's defaults). The new value (parsed with
``yaml.safe_load``, so ``0.3``, ``true``, ``[cf, text]`` work) must have the existing type.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from benchmarks import registries
from benchmarks.scenario import (
    FIELD_TYPES,
    ScenarioError,
    is_type,
    type_name,
    unknown_key_error,
)


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"a.b=0.3"`` → (["a", "b"], 0.3)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(f"--set {text!r}: expected key.path=value")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        raise ScenarioError(f"--set {text!r}: value is not valid YAML") from None
    path = key.strip().split(".")
    if any(not part for part in path):
        raise ScenarioError(f"--set {text!r}: empty segment in key path {key!r}")
    return path, parsed


def _value_types(existing: Any) -> tuple[type, ...] | None:
    """Types a new value may have to replace ``existing`` (None: anything goes)."""
    if existing is None:
        return None
    if isinstance(existing, bool):
        return (bool,)
    if isinstance(existing, float):
        return (int, float)  # YAML reads 1 as an int; it is a fine float
    if isinstance(existing, int):
        return (int,)
    if isinstance(existing, (list, tuple)):
        return (list,)  # YAML lists stand for tuple config fields
    if isinstance(existing, dict):
        return (dict,)
    return (type(existing),)


def _check(where: str, existing: Any, value: Any) -> Any:
    types = _value_types(existing)
    if types is not None and not is_type(value, types):
        raise ScenarioError(f"--set {where}: expected {type_name(types)}, got {value!r}")
    return float(value) if isinstance(existing, float) else value


def _set_env_override(raw: dict[str, Any], path: list[str], value: Any) -> None:
    defaults = registries.market_defaults()
    overrides = raw.setdefault("env_overrides", {})
    if not isinstance(overrides, dict):
        raise ScenarioError("env_overrides: expected mapping")
    if len(path) != 2 or path[1] not in defaults:
        key = ".".join(path[1:]) or "(nothing)"
        raise ScenarioError(unknown_key_error("--set env_overrides", key, list(defaults)))
    existing = overrides.get(path[1], defaults[path[1]])
    overrides[path[1]] = _check(".".join(path), existing, value)


def _find_learner(learners: list[Any], ref: str) -> dict[str, Any]:
    entries = [{"name": e} if isinstance(e, str) else e for e in learners]
    learners[:] = entries  # normalise shorthands in place so the edit sticks
    if ref.isdigit() and int(ref) < len(entries):
        return entries[int(ref)]
    for entry in entries:
        if isinstance(entry, dict) and ref in (entry.get("label"), entry.get("name")):
            return entry
    labels = [str(e.get("label") or e.get("name")) for e in entries if isinstance(e, dict)]
    raise ScenarioError(unknown_key_error("--set learners", ref, labels))


def _set_learner_param(raw: dict[str, Any], path: list[str], value: Any) -> None:
    if len(path) != 4 or path[2] != "params":
        raise ScenarioError(
            f"--set {'.'.join(path)}: learner settings are learners.<label>.params.<key>"
        )
    entry = _find_learner(raw.get("learners") or [], path[1])
    params = entry.setdefault("params", {}) or {}
    entry["params"] = params
    defaults = registries.learner_param_defaults(str(entry.get("name"))) or {}
    known = {**defaults, **params}
    if path[3] not in known:
        where = f"--set learners.{path[1]}.params"
        raise ScenarioError(unknown_key_error(where, path[3], list(known) or ["(none)"]))
    params[path[3]] = _check(".".join(path), known[path[3]], value)


def apply_set(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Return a copy of the raw scenario mapping with one ``key.path=value`` applied."""
    path, value = parse_assignment(assignment)
    out = copy.deepcopy(raw)
    head = path[0]
    if head not in FIELD_TYPES:
        raise ScenarioError(unknown_key_error("--set", head, list(FIELD_TYPES)))
    if head == "env_overrides" and len(path) > 1:
        _set_env_override(out, path, value)
    elif head == "learners" and len(path) > 1:
        _set_learner_param(out, path, value)
    elif len(path) > 1:
        raise ScenarioError(f"--set {'.'.join(path)}: {head} has no sub-fields")
    elif not is_type(value, FIELD_TYPES[head]):
        types = type_name(FIELD_TYPES[head])
        raise ScenarioError(f"--set {head}: expected {types}, got {value!r}")
    else:
        out[head] = value
    return out


def apply_flags(
    raw: dict[str, Any],
    learners: list[str] | None = None,
    seeds: int | None = None,
    steps: int | None = None,
) -> dict[str, Any]:
    """The run command's shortcuts on the raw mapping.

    ``learners``: keep these (in this order); a name absent from the file is added with
    default params. ``seeds``: a count. ``steps``: the budget; eval_interval scales with it so a
    short smoke run still evaluates as often (relative to its length) as the full one.
    """
    out = copy.deepcopy(raw)
    if learners is not None:
        entries = [{"name": e} if isinstance(e, str) else e for e in out.get("learners") or []]
        by_ref = {}
        for e in entries:
            if isinstance(e, dict):
                by_ref.setdefault(e.get("name"), e)
                by_ref[e.get("label") or e.get("name")] = e
        out["learners"] = [by_ref.get(name, {"name": name}) for name in learners]
    if seeds is not None:
        out["seeds"] = seeds
    if steps is not None:
        old_steps, interval = out.get("steps"), out.get("eval_interval")
        ok = is_type(old_steps, (int,)) and is_type(interval, (int,)) and old_steps > 0
        if ok:
            out["eval_interval"] = max(1, min(steps, round(interval * steps / old_steps)))
        out["steps"] = steps
    return out
