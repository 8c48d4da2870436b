"""Learners for marec: baselines, independent Q-learning, MAQ-L, and the training loop.

Runs from a checkout (it is not part of the ``marec-env`` wheel; the import name ``agents``
is also the OpenAI Agents SDK's). Learners see only what the env returns — observations,
rewards, action masks, ``obs_layout`` — never ``marec_env.core``.

- :mod:`agents.base` — the protocol (act / observe / update / save / load), batches
- :mod:`agents.registry` — :data:`~agents.registry.LEARNERS`, capabilities, hyper-parameters
- :mod:`agents.baselines` — random, greedy, oracle (evaluation only)
- :mod:`agents.iql` / :mod:`agents.abstraction` — tabular IQL on a state abstraction
- :mod:`agents.dqn` — independent DQN (torch)
- :mod:`agents.maql` / :mod:`agents.maxplus` — MAQ-L: coordination graph + max-plus messages
- :mod:`agents.train` — ``train(TrainConfig) -> TrainResult`` (docs/CONTRACTS.md)
- :mod:`agents.envs` — env ids → adapters (ParallelEnv, vector env); :mod:`agents.checkpoint`
- ``python -m agents.compare`` — learners × seeds on one env: IQM, bootstrap CI, throughput
"""
