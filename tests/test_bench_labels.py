"""Plot legends name each agent with its backbone kind, taken from the run's env config."""

from __future__ import annotations

from benchmarks.cli import agent_labels
from benchmarks.plots import with_agent_labels


def test_agent_labels_come_from_the_resolved_env_config():
    meta = {
        "config": {
            "env_id": "marec/mixed-v0",
            "env_overrides": {"backbones": ["text", "cf", "popularity"]},
        }
    }
    assert agent_labels(meta) == {
        "recommender_0": "recommender_0 (text)",
        "recommender_1": "recommender_1 (cf)",
        "recommender_2": "recommender_2 (popularity)",
    }
    assert agent_labels({"config": {"env_id": "marec/matrix-game-v0"}}) == {}
    assert agent_labels({"config": {"env_id": "marec/nope-v0"}}) == {}


def test_with_agent_labels_renames_only_per_agent_columns():
    rows = [{"ctr": 0.1, "clicks/recommender_0": 2.0, "scenario": "s"}]
    renamed = with_agent_labels(rows, {"recommender_0": "recommender_0 (cf)"})
    assert renamed == [{"ctr": 0.1, "clicks/recommender_0 (cf)": 2.0, "scenario": "s"}]
