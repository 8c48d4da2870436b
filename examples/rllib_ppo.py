"""Shared-policy PPO (RLlib, new API stack) on a marec market via ``ParallelPettingZooEnv``.

RLlib pins its own gymnasium, so run it in a venv of its own::

    examples/run_in_venv.sh rllib --env marec/coop-slate-v0 --iterations 5
    examples/run_in_venv.sh rllib --env marec/compete-auction-v0 --mask   # action masking

Each env runner builds its env from the registered creator; an env also pickles to ~2 MB
(the text model is rebuilt from its identity, not shipped). ``--mask`` uses the Dict
observation and RLlib's action-masking RLModule, which samples only allowed actions.
"""

from __future__ import annotations

import argparse
from typing import Any

from pettingzoo.utils.wrappers import BaseParallelWrapper
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

import marec_env


class RLlibMaskKeys(BaseParallelWrapper):
    """RLlib's action-masking module reads ``{"action_mask", "observations"}``; marec's Dict
    observation says ``"observation"``: rename that one key."""

    def observation_space(self, agent: str):
        import gymnasium

        space = self.env.observation_space(agent)
        return gymnasium.spaces.Dict(
            {"observations": space["observation"], "action_mask": space["action_mask"]}
        )

    @staticmethod
    def _rename(obs: dict[str, Any]) -> dict[str, Any]:
        return {
            a: {"observations": o["observation"], "action_mask": o["action_mask"]}
            for a, o in obs.items()
        }

    def reset(self, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._rename(obs), infos

    def step(self, actions):
        obs, *rest = self.env.step(actions)
        return (self._rename(obs), *rest)


def make_env(config: dict[str, Any]) -> ParallelPettingZooEnv:
    overrides = dict(config.get("overrides", {}))
    if config.get("mask"):
        env = marec_env.parallel_env(config["env_id"], observation="dict", **overrides)
        return ParallelPettingZooEnv(RLlibMaskKeys(env))
    return ParallelPettingZooEnv(marec_env.parallel_env(config["env_id"], **overrides))


def build(env_id: str, mask: bool, seed: int, runners: int, **overrides: Any):
    register_env("marec", make_env)
    module = RLModuleSpec()
    if mask:
        from ray.rllib.examples.rl_modules.classes.action_masking_rlm import (
            ActionMaskingTorchRLModule,
        )

        module = RLModuleSpec(module_class=ActionMaskingTorchRLModule)
    config = (
        PPOConfig()
        .environment("marec", env_config={"env_id": env_id, "mask": mask, "overrides": overrides})
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, *a, **k: "shared")
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={"shared": module}))
        # Generous timeout: on a busy machine the first remote samples take a while.
        .env_runners(num_env_runners=runners, rollout_fragment_length="auto", sample_timeout_s=600)
        .training(
            train_batch_size_per_learner=1200, minibatch_size=200, num_epochs=4, lr=3e-4, gamma=0.95
        )
        .debugging(seed=seed)
    )
    return config.build_algo()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="marec/coop-slate-v0", choices=marec_env.list_envs())
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--mask", action="store_true", help="Dict observation + action mask")
    parser.add_argument(
        "--runners", type=int, default=0, help="env runner processes (0: sample in this one)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    algo = build(args.env, args.mask, args.seed, args.runners)
    for iteration in range(args.iterations):
        result = algo.train()
        value = result.get("env_runners", {}).get("episode_return_mean", float("nan"))
        agents = len(marec_env.parallel_env(args.env).possible_agents)
        print(f"iteration {iteration}: episode return {value:.3f} (sum over {agents} agents)")
    algo.stop()


if __name__ == "__main__":
    main()
