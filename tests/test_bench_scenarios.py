"""Scenario files, validation errors and --set overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import marec_env
from agents.registry import LEARNERS
from benchmarks import overrides, registries
from benchmarks import scenario as scen
from benchmarks.scenario import ScenarioError
from marec_env.config import FIELD_NAMES

FILES = scen.list_files()
BASE: dict[str, Any] = {
    "name": "t",
    "env_id": "marec/coop-slate-v0",
    "learners": [{"name": "random"}, {"name": "greedy"}],
    "steps": 1000,
    "eval_interval": 100,
}


def test_expected_scenarios_exist() -> None:
    names = {p.stem for p in FILES}
    expected = {"default", "smoke-v0", "coop-slate", "compete-auction", "mixed", "cold-start"}
    assert expected | {"filter-bubble", "large-market"} <= names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_scenario_loads(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#"), "each scenario starts with a comment on what it is for"
    s = scen.load(path)
    assert s.name == path.stem
    assert s.description
    assert set(s.env_overrides) <= set(FIELD_NAMES)
    known_learners = registries.learner_names()
    assert all(e.name in known_learners for e in s.learners)
    assert s.eval_interval <= s.steps


def test_harness_names_are_the_registries() -> None:
    # the harness keeps no copies: it names exactly what the two registries hold
    assert registries.learner_names() == tuple(LEARNERS)
    assert registries.env_ids() == tuple(marec_env.list_envs())
    assert registries.learner_param_defaults("no-such-learner") is None


def test_default_scenario_contents() -> None:
    s = scen.load("default")  # the README's main job runs on the v1 slate
    assert s.env_id == "marec/coop-slate-v1"
    assert [e.name for e in s.learners] == ["random", "greedy-dedup", "dmarl"]
    assert s.seeds == (0, 1, 2, 3, 4)
    smoke = scen.load("smoke-v0")  # the former main job, which the harness tests run
    assert smoke.env_id == "marec/coop-slate-v0"
    assert [e.name for e in smoke.learners] == ["random", "greedy", "iql", "maql"]


def test_large_market_and_filter_bubble() -> None:
    big = scen.load("large-market").env_overrides
    assert big["n_users"] >= 100_000 and big["n_items"] >= 10_000 and big["slots"] == 6
    assert big["backbones"] == ["cf", "content", "text", "cf", "content", "popularity"]
    bubble = scen.load("filter-bubble").env_overrides
    assert bubble["drift_rate"] >= 0.3 and bubble["max_cycles"] >= 500


def test_scenario_is_frozen_and_round_trips() -> None:
    s = scen.from_dict(dict(BASE, seeds=2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.steps = 5  # type: ignore[misc]
    assert scen.from_dict(s.to_dict()) == s
    assert s.seeds == (0, 1)


def test_config_hash_tracks_config_not_description() -> None:
    a = scen.from_dict(BASE)
    assert scen.config_hash(a) == scen.config_hash(scen.from_dict(dict(BASE, description="x")))
    assert scen.config_hash(a) != scen.config_hash(scen.from_dict(dict(BASE, steps=999)))
    assert len(scen.config_hash(a)) == 64


def test_unknown_key_names_it_and_suggests() -> None:
    with pytest.raises(ScenarioError) as err:
        scen.from_dict(dict(BASE, eval_intervall=5))
    msg = str(err.value)
    assert "eval_intervall" in msg and "did you mean eval_interval" in msg and "allowed:" in msg


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("steps", "many", "expected integer"),
        ("steps", True, "expected integer"),
        ("steps", 1.5, "expected integer"),
        ("env_overrides", [1], "expected mapping"),
        ("learners", "iql", "expected list"),
        ("seeds", "three", "expected integer or list"),
        ("name", 3, "expected string"),
    ],
)
def test_wrong_types_name_field_and_value(field: str, value: Any, expected: str) -> None:
    with pytest.raises(ScenarioError) as err:
        scen.from_dict(dict(BASE, **{field: value}))
    msg = str(err.value)
    assert msg.startswith(field) and expected in msg and repr(value) in msg


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"steps": 0}, "steps: must be >= 1"),
        ({"seeds": [0, 0]}, "duplicates"),
        ({"seeds": [-1]}, r"seeds\[0\]: must be >= 0"),
        ({"seeds": []}, "non-empty"),
        ({"learners": []}, "non-empty"),
        ({"learners": [{"name": "iqll"}]}, "unknown learner 'iqll'.*did you mean iql"),
        ({"learners": [{"name": "iql", "lr": 1}]}, r"learners\[0\]: unknown key 'lr'"),
        ({"learners": [{"name": "iql", "params": {"alpah": 1}}]}, r"params: .*alpah"),
        ({"learners": ["iql", "iql"]}, "duplicate labels"),
        ({"env_id": "marec/coop-slate-v9"}, "unknown env.*did you mean .*marec/coop-slate-v0"),
        ({"env_overrides": {"slotz": 3}}, "slotz.*did you mean slots"),
        ({"env_overrides": {"drift_rate": 7.0}}, "drift_rate must be"),
    ],
)
def test_invalid_values(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        scen.from_dict(dict(BASE, **change))


def test_missing_required_field() -> None:
    raw = {k: v for k, v in BASE.items() if k != "env_id"}
    with pytest.raises(ScenarioError, match="env_id: missing required field"):
        scen.from_dict(raw)


def test_learner_shorthand_and_labels() -> None:
    fast = {"name": "iql", "label": "iql-fast", "params": {"alpha": 0.5}}
    s = scen.from_dict(dict(BASE, learners=["random", fast]))
    assert [(e.name, e.label) for e in s.learners] == [("random", "random"), ("iql", "iql-fast")]


def test_bad_files(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        scen.load(bad_yaml)
    not_map = tmp_path / "list.yaml"
    not_map.write_text("- 1\n- 2\n")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        scen.load(not_map)
    with pytest.raises(ScenarioError, match=r"not found.*did you mean default"):
        scen.resolve_path("defualt")


def test_set_overrides_apply_and_keep_types() -> None:
    raw = dict(BASE, env_overrides={"drift_rate": 0.1})
    out = overrides.apply_set(raw, "env_overrides.drift_rate=1")  # int accepted for a float
    assert out["env_overrides"]["drift_rate"] == 1.0 and raw["env_overrides"]["drift_rate"] == 0.1
    out = overrides.apply_set(out, "env_overrides.backbones=[cf, text]")  # a MarketConfig field
    out = overrides.apply_set(out, "steps=500")
    s = scen.from_dict(out)
    assert s.steps == 500 and s.env_overrides["backbones"] == ["cf", "text"]


def test_set_learner_param() -> None:
    raw = dict(BASE, learners=[{"name": "iql", "params": {"alpha": 0.1}}])
    out = overrides.apply_set(raw, "learners.iql.params.alpha=0.5")
    assert scen.from_dict(out).learners[0].params == {"alpha": 0.5}
    out = overrides.apply_set(raw, "learners.0.params.alpha=1")  # int for a float: coerced
    assert out["learners"][0]["params"]["alpha"] == 1.0


@pytest.mark.parametrize(
    ("assignment", "match"),
    [
        ("stepz=5", "unknown key 'stepz'.*did you mean steps"),
        ("steps", "expected key.path=value"),
        ("steps=1.5", "--set steps: expected integer, got 1.5"),
        ("steps.x=1", "steps has no sub-fields"),
        ("env_overrides.drift=0.3", "unknown key 'drift'.*drift_rate"),
        ("env_overrides.n_users=many", "n_users: expected integer, got 'many'"),
        ("env_overrides.n_users=true", "n_users: expected integer, got True"),
        ("learners.nope.params.lr=1", "unknown key 'nope'"),
        ("learners.random.params.lr=1", "unknown key 'lr'"),
        ("learners.random.lr=1", r"learners.<label>.params.<key>"),
        ("env_overrides..x=1", "empty segment"),
    ],
)
def test_set_errors(assignment: str, match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        overrides.apply_set(dict(BASE), assignment)


def test_flags_scale_eval_interval_and_pick_learners() -> None:
    out = overrides.apply_flags(dict(BASE), learners=["greedy", "iql"], seeds=2, steps=100)
    s = scen.from_dict(out)
    assert s.steps == 100 and s.eval_interval == 10  # 1000/100 evals kept at 100/10
    assert [e.name for e in s.learners] == ["greedy", "iql"] and s.seeds == (0, 1)


def test_set_learner_default_param_not_in_file() -> None:
    raw = dict(BASE, learners=["iql"])
    out = overrides.apply_set(raw, "learners.iql.params.gamma=0.5")
    assert scen.from_dict(out).learners[0].params == {"gamma": 0.5}
    with pytest.raises(ScenarioError, match="gamma: expected number, got 'high'"):
        overrides.apply_set(raw, "learners.iql.params.gamma=high")


def test_team_reward_learner_on_a_competitive_env_is_refused_before_running() -> None:
    raw = dict(BASE, env_id="marec/compete-auction-v0", learners=[{"name": "maql"}])
    with pytest.raises(ScenarioError, match=r"learners\[0\] \(maql\).*maximise_team_reward"):
        scen.from_dict(raw)
    raw["learners"] = [{"name": "maql", "params": {"maximise_team_reward": True}}]
    assert scen.from_dict(raw).learners[0].params == {"maximise_team_reward": True}
    game = dict(BASE, env_id="marec/matrix-game-v0", env_overrides={"mode": "competitive"},
                learners=[{"name": "maql-deep"}])  # fmt: skip
    with pytest.raises(ScenarioError, match="supports_competitive=False"):
        scen.from_dict(game)
    for name in ("mixed", "cold-start", "filter-bubble"):  # maql there on purpose, and says so
        entry = next(e for e in scen.load(name).learners if e.name == "maql")
        assert entry.params == {"maximise_team_reward": True}


def test_eval_backend_is_validated_and_parallel_keeps_the_old_hash() -> None:
    assert scen.from_dict(BASE).eval_backend == "vector"  # the harness default
    with pytest.raises(ScenarioError, match=r"eval_backend: unknown value 'gpu'; allowed: vector"):
        scen.from_dict(dict(BASE, eval_backend="gpu"))
    parallel = scen.from_dict(dict(BASE, eval_backend="parallel"))
    assert '"eval_backend"' not in scen.canonical_json(parallel)  # runs from before the field
    assert scen.config_hash(parallel) != scen.config_hash(scen.from_dict(BASE))


def test_runner_evaluates_on_the_vector_env_unless_told_otherwise() -> None:
    from agents.train import TrainConfig
    from benchmarks.runner import make_config

    for backend, vector in (("vector", True), ("parallel", False)):
        scenario = scen.from_dict(dict(BASE, eval_backend=backend))
        assert make_config(TrainConfig, scenario, scenario.learners[0], 0).eval_vector is vector
