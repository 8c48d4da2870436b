"""Scenario files: YAML (``yaml.safe_load``) → validated, frozen dataclasses.

A scenario names an env id, env overrides, the learners to compare, the training budget and
the seeds. Example::

    name: coop-slate
    description: cooperative slate filling
    env_id: marec/coop-slate-v0
    env_overrides: {slots: 4}
    learners:
      - name: random
      - {name: iql, params: {lr: 0.1}}
    steps: 20000
    eval_interval: 2000
    eval_episodes: 5
    seeds: 3          # a count (seeds 0, 1, 2) or a list of ints
    num_envs: 1
    eval_backend: vector   # or parallel: where the evaluation episodes are played
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks import registries

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file or override is malformed; the message names the field and the fix."""


@dataclass(frozen=True)
class LearnerEntry:
    """One learner to train in a scenario."""

    name: str
    """Registry name of the learner (``python -m benchmarks list`` shows them)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Hyper-parameters that override the learner's defaults."""
    label: str = ""
    """Name in results and plots; defaults to ``name``. Set it to compare one learner with
    two parameter sets."""


@dataclass(frozen=True)
class Scenario:
    """A validated experiment: what to train, on which env, how long, over which seeds."""

    name: str
    """Short identifier, used in result rows and the default output directory name."""
    description: str
    """One or two sentences: what the scenario is for."""
    env_id: str
    """Registered env id, e.g. ``marec/coop-slate-v0``."""
    env_overrides: dict[str, Any]
    """MarketConfig fields that override the env id's preset."""
    learners: tuple[LearnerEntry, ...]
    """Learners to train, each on every seed."""
    steps: int
    """Env steps of training per (learner, seed)."""
    eval_interval: int
    """Env steps between evaluations (each evaluation is one result row)."""
    eval_episodes: int
    """Episodes per evaluation."""
    seeds: tuple[int, ...]
    """Training seeds; in YAML a list of ints or a count n (seeds 0..n-1)."""
    num_envs: int
    """Parallel worlds per training run (1 = the PettingZoo env, more = the vector env)."""
    eval_backend: str = "vector"
    """Where evaluation plays its ``eval_episodes`` episodes: ``vector`` (default) on one
    vector env, world k seeded with episode k's seed, all stepped together; ``parallel`` one
    ParallelEnv episode per seed after another. Both play the same episodes (world k is the
    ParallelEnv's episode with seed k, see agents/fast_eval.py); ``parallel`` is the
    reference and the check. Learners that are not ``vectorised`` and envs that are not
    markets always use ``parallel``."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON/YAML-safe) that :func:`from_dict` reads back."""
        return {
            "name": self.name,
            "description": self.description,
            "env_id": self.env_id,
            "env_overrides": dict(self.env_overrides),
            "learners": [
                {"name": e.name, "params": dict(e.params), "label": e.label} for e in self.learners
            ],
            "steps": self.steps,
            "eval_interval": self.eval_interval,
            "eval_episodes": self.eval_episodes,
            "seeds": list(self.seeds),
            "num_envs": self.num_envs,
            "eval_backend": self.eval_backend,
        }

    def learner(self, label: str) -> LearnerEntry:
        for entry in self.learners:
            if entry.label == label:
                return entry
        raise ScenarioError(f"scenario {self.name!r} has no learner {label!r}")


# Expected YAML types per field, and defaults of the optional ones (None = required).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "description": (str,),
    "env_id": (str,),
    "env_overrides": (dict,),
    "learners": (list,),
    "steps": (int,),
    "eval_interval": (int,),
    "eval_episodes": (int,),
    "seeds": (int, list),
    "num_envs": (int,),
    "eval_backend": (str,),
}
DEFAULTS: dict[str, Any] = {
    "description": "",
    "env_overrides": {},
    "eval_episodes": 5,
    "seeds": 3,
    "num_envs": 1,
    "eval_backend": "vector",
}
EVAL_BACKENDS = ("vector", "parallel")
LEARNER_KEYS = ("name", "params", "label")


def type_name(types: tuple[type, ...]) -> str:
    if set(types) == {int, float}:
        return "number"
    names = {int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def is_type(value: Any, types: tuple[type, ...]) -> bool:
    """isinstance, except that a bool is not an integer (YAML ``yes`` must not be 1)."""
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def unknown_key_error(
    where: str, key: str, allowed: tuple[str, ...] | list[str], what: str = "key"
) -> str:
    """``where: unknown <what> 'x' (did you mean y?); allowed: a, b``."""
    hint = difflib.get_close_matches(key, list(allowed), n=3)
    did = f" (did you mean {', '.join(hint)}?)" if hint else ""
    return f"{where}: unknown {what} {key!r}{did}; allowed: {', '.join(allowed)}"


def _check_type(where: str, value: Any, types: tuple[type, ...]) -> None:
    if not is_type(value, types):
        raise ScenarioError(f"{where}: expected {type_name(types)}, got {value!r}")


def _positive(where: str, value: int, minimum: int = 1) -> int:
    if value < minimum:
        raise ScenarioError(f"{where}: must be >= {minimum}, got {value!r}")
    return value


def _learner(i: int, raw: Any) -> LearnerEntry:
    where = f"learners[{i}]"
    if isinstance(raw, str):  # shorthand: `- random`
        raw = {"name": raw}
    _check_type(where, raw, (dict,))
    for key in raw:
        if key not in LEARNER_KEYS:
            raise ScenarioError(unknown_key_error(where, str(key), LEARNER_KEYS))
    if "name" not in raw:
        raise ScenarioError(f"{where}: missing required key 'name'")
    _check_type(f"{where}.name", raw["name"], (str,))
    params = raw.get("params") or {}
    _check_type(f"{where}.params", params, (dict,))
    label = raw.get("label") or raw["name"]
    _check_type(f"{where}.label", label, (str,))
    known = registries.learner_names()
    if raw["name"] not in known:
        raise ScenarioError(unknown_key_error(f"{where}.name", raw["name"], known, "learner"))
    _check_params(where, raw["name"], params)
    return LearnerEntry(name=raw["name"], params=dict(params), label=label)


def _check_params(where: str, name: str, params: dict[str, Any]) -> None:
    try:
        registries.check_learner_params(name, params)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(f"{where}.params: {exc}") from None


def _seeds(raw: Any) -> tuple[int, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return tuple(range(_positive("seeds", raw)))
    if not raw:
        raise ScenarioError("seeds: expected a non-empty list of integers or a count >= 1")
    for i, s in enumerate(raw):
        _check_type(f"seeds[{i}]", s, (int,))
        _positive(f"seeds[{i}]", s, 0)
    if len(set(raw)) != len(raw):
        raise ScenarioError(f"seeds: duplicates in {raw!r}")
    return tuple(raw)


def _env(env_id: str, overrides: dict[str, Any], num_envs: int = 1) -> None:
    known = registries.env_ids()
    if env_id not in known:
        raise ScenarioError(unknown_key_error("env_id", env_id, known, "env"))
    for key in overrides:
        _check_type("env_overrides key", key, (str,))
    try:
        registries.check_env_overrides(env_id, overrides)
        _check_buildable(env_id, overrides, num_envs)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(f"env_overrides: {exc}") from None


def _check_buildable(env_id: str, overrides: dict[str, Any], num_envs: int) -> None:
    """What else a run would only find out while training, checked before anything is
    written: a non-market env is built (the matrix game checks its own keys), a market's
    ``num_envs`` worlds must fit in memory and its text model must exist (no model is loaded)."""
    try:
        import marec_env
        from marec_env.config_checks import check_memory
    except ImportError:
        return  # the harness without the env package: nothing more to check here
    spec = marec_env.get_spec(env_id)
    if not spec.market:
        marec_env.parallel_env(env_id, **overrides).close()
        return
    cfg = spec.config(**overrides)
    check_memory(cfg, num_envs)
    if "text" in cfg.backbones:
        from marec_env.recommenders.text_model import TextModelError, resolve_model_source

        try:
            resolve_model_source(cfg.text_model)
        except TextModelError as exc:
            raise ValueError(str(exc)) from None


def from_dict(raw: Any, default_name: str = "scenario") -> Scenario:
    """Validate a scenario mapping (as loaded from YAML) and build the :class:`Scenario`."""
    _check_type("scenario", raw, (dict,))
    for key in raw:
        if key not in FIELD_TYPES:
            raise ScenarioError(unknown_key_error("scenario", str(key), list(FIELD_TYPES)))
    values = {"name": default_name, **DEFAULTS, **raw}
    for key, types in FIELD_TYPES.items():
        if key not in values:
            raise ScenarioError(f"{key}: missing required field ({type_name(types)})")
        _check_type(key, values[key], types)
    if not values["learners"]:
        raise ScenarioError("learners: expected a non-empty list")
    learners = tuple(_learner(i, r) for i, r in enumerate(values["learners"]))
    labels = [e.label for e in learners]
    if len(set(labels)) != len(labels):
        raise ScenarioError(f"learners: duplicate labels {labels}; add a distinct 'label'")
    num_envs = _positive("num_envs", values["num_envs"])
    backend = _eval_backend(values["eval_backend"])
    eval_worlds = _positive("eval_episodes", values["eval_episodes"]) if backend == "vector" else 1
    _env(values["env_id"], values["env_overrides"], max(num_envs, eval_worlds))  # both must fit
    for i, entry in enumerate(learners):
        try:
            registries.check_learner_fits_env(entry.name, entry.params, values["env_id"],
                                              values["env_overrides"])  # fmt: skip
        except ValueError as exc:
            raise ScenarioError(f"learners[{i}] ({entry.label}): {exc}") from None
    return Scenario(
        name=values["name"],
        description=values["description"].strip(),
        env_id=values["env_id"],
        env_overrides=dict(values["env_overrides"]),
        learners=learners,
        steps=_positive("steps", values["steps"]),
        eval_interval=_positive("eval_interval", values["eval_interval"]),
        eval_episodes=_positive("eval_episodes", values["eval_episodes"]),
        seeds=_seeds(values["seeds"]),
        num_envs=num_envs,
        eval_backend=backend,
    )


def _eval_backend(value: str) -> str:
    if value not in EVAL_BACKENDS:
        raise ScenarioError(
            f"eval_backend: unknown value {value!r}; allowed: {', '.join(EVAL_BACKENDS)}"
        )
    return value


def resolve_path(spec: str | Path) -> Path:
    """A scenario path, or a bare name looked up in scenarios/ (``coop-slate``)."""
    path = Path(spec)
    if path.is_file():
        return path
    for candidate in (SCENARIO_DIR / f"{spec}.yaml", SCENARIO_DIR / f"{spec}"):
        if candidate.is_file():
            return candidate
    names = [p.stem for p in sorted(SCENARIO_DIR.glob("*.yaml"))]
    hint = difflib.get_close_matches(str(spec), names, n=3)
    did = f" (did you mean {', '.join(hint)}?)" if hint else ""
    raise ScenarioError(f"scenario file not found: {spec}{did}; known: {', '.join(names)}")


def read_raw(path: str | Path) -> dict[str, Any]:
    """The YAML mapping of a scenario file (not yet validated)."""
    path = resolve_path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario fields, got {raw!r}")
    return raw


def load(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    path = resolve_path(path)
    try:
        return from_dict(read_raw(path), default_name=path.stem)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def canonical_json(scenario: Scenario) -> str:
    """Sorted-key compact JSON of everything that changes results (not the description)."""
    data = scenario.to_dict()
    data.pop("description")
    if data["eval_backend"] == "parallel":  # what every run did before the field existed
        data.pop("eval_backend")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(scenario: Scenario) -> str:
    """sha256 of :func:`canonical_json`: two runs are comparable iff their hashes agree."""
    return hashlib.sha256(canonical_json(scenario).encode("utf-8")).hexdigest()


def list_files(directory: Path = SCENARIO_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))
