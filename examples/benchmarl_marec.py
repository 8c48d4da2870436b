"""BenchMARL on marec: a ready task for every marec preset, any BenchMARL algorithm.

BenchMARL 1.5 wants torchrl < 0.12, so it runs in a venv of its own::

    examples/run_in_venv.sh benchmarl --algorithm mappo --task coop-slate-v0
    examples/run_in_venv.sh benchmarl --algorithm qmix --task mixed-v0 --frames 30000
    examples/run_in_venv.sh benchmarl --list

In your own code, ``MarecTask.COOP_SLATE_V0.get_task()`` is a BenchMARL ``TaskClass`` like
``VmasTask.BALANCE.get_from_yaml()``; ``get_task({"max_cycles": 50, ...})`` passes marec
config overrides. The task enum is generated from ``marec_env.list_envs()``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from typing import Any

import torch
from benchmarl.algorithms import algorithm_config_registry
from benchmarl.environments.common import Task, TaskClass
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.models.mlp import MlpConfig
from tensordict import TensorDictBase
from torchrl.data import Composite
from torchrl.envs import EnvBase, PettingZooWrapper
from torchrl.envs.utils import ExplorationType, set_exploration_type

import marec_env


def task_name(env_id: str) -> str:
    """``marec/coop-slate-v0`` → ``COOP_SLATE_V0``."""
    return env_id.split("/", 1)[1].replace("-", "_").upper()


ENV_IDS = {task_name(env_id): env_id for env_id in marec_env.list_envs()}


class MarecClass(TaskClass):
    """One marec preset as a BenchMARL task: box observations, discrete actions, and the
    env's ``state()`` as the global state (QMIX and MAPPO critics use it)."""

    def _overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.config.items() if k != "env_id"}

    def get_env_fun(
        self, num_envs: int, continuous_actions: bool, seed: int | None, device: Any
    ) -> Callable[[], EnvBase]:
        env_id, overrides = ENV_IDS[self.name], self._overrides()
        return lambda: PettingZooWrapper(
            marec_env.parallel_env(env_id, **overrides),
            categorical_actions=True,
            return_state=True,
            seed=seed,
            device=device,
        )

    def supports_continuous_actions(self) -> bool:
        return False

    def supports_discrete_actions(self) -> bool:
        return True

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        env_id = ENV_IDS[self.name]
        if marec_env.get_spec(env_id).market:
            return marec_env.make_config(env_id, **self._overrides()).max_cycles
        return marec_env.parallel_env(env_id, **self._overrides()).max_cycles

    def group_map(self, env: EnvBase) -> dict[str, list[str]]:
        return env.group_map

    def _only(self, env: EnvBase, key: str) -> Composite:
        spec = env.observation_spec.clone()
        for group in self.group_map(env):
            for name in list(spec[group].keys()):
                if name != key:
                    del spec[group][name]
        if "state" in spec.keys():  # noqa: SIM118 (a torchrl Composite, not a dict)
            del spec["state"]
        return spec

    def observation_spec(self, env: EnvBase) -> Composite:
        return self._only(env, "observation")

    def info_spec(self, env: EnvBase) -> Composite | None:
        return self._only(env, "info")

    def state_spec(self, env: EnvBase) -> Composite | None:
        return Composite({"state": env.observation_spec["state"].clone()})

    def action_mask_spec(self, env: EnvBase) -> Composite | None:
        return None  # box observations; the masked variant is shown in torchrl_mappo.py

    def action_spec(self, env: EnvBase) -> Composite:
        return env.full_action_spec

    @staticmethod
    def env_name() -> str:
        return "marec"


def _get_task(self: Task, config: dict[str, Any] | None = None) -> TaskClass:
    """Marec tasks need no yaml: the config is marec overrides (empty: the preset as is)."""
    return MarecClass(name=self.name, config=dict(config or {}))


MarecTask = Task("MarecTask", list(ENV_IDS))
MarecTask.associated_class = staticmethod(lambda: MarecClass)
MarecTask.get_task = _get_task


def run(
    algorithm: str, task: str, frames: int, seed: int = 0, **overrides: Any
) -> tuple[Experiment, float]:
    """Train ``algorithm`` on ``task`` for ``frames`` env steps; return the experiment and
    the mean per-agent return of one deterministic evaluation episode after training."""
    config = ExperimentConfig.get_from_yaml()
    batch = min(frames, 1_200)
    config.max_n_frames = frames
    config.on_policy_collected_frames_per_batch = batch
    config.off_policy_collected_frames_per_batch = batch
    config.on_policy_n_envs_per_worker = config.off_policy_n_envs_per_worker = 2
    config.off_policy_init_random_frames = 0
    config.evaluation = False
    config.loggers = ["csv"]
    config.create_json = False
    config.checkpoint_interval = 0
    config.sampling_device = config.train_device = config.buffer_device = "cpu"
    config.save_folder = tempfile.mkdtemp(prefix="marec-benchmarl-")
    experiment = Experiment(
        task=MarecTask[task_name(f"marec/{task}")].get_task(overrides),
        algorithm_config=algorithm_config_registry[algorithm].get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=seed,
        config=config,
    )
    experiment.run()
    return experiment, evaluate(experiment)


def evaluate(experiment: Experiment) -> float:
    env = experiment.task.get_env_fun(1, False, experiment.seed + 1, "cpu")()
    steps = experiment.task.max_steps(env)
    with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
        rollout: TensorDictBase = env.rollout(steps, policy=experiment.policy)
    rewards = [rollout["next", group, "reward"] for group in env.group_map]
    return float(torch.cat([r.sum(0).flatten() for r in rewards]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="mappo", choices=sorted(algorithm_config_registry))
    tasks = [env_id.split("/", 1)[1] for env_id in ENV_IDS.values()]
    parser.add_argument("--task", default="coop-slate-v0", choices=tasks)
    parser.add_argument("--frames", type=int, default=12_000, help="env steps of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true", help="print the tasks and algorithms")
    args = parser.parse_args()
    if args.list:
        print("tasks:", ", ".join(tasks))
        print("algorithms:", ", ".join(sorted(algorithm_config_registry)))
        return
    _, score = run(args.algorithm, args.task, args.frames, args.seed)
    print(f"{args.algorithm} on marec/{args.task}: evaluation return per agent {score:.3f}")


if __name__ == "__main__":
    main()
