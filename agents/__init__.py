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

Comparing learners over seeds is the benchmark harness's job (one statistics module,
``benchmarks/stats.py``): ``python -m benchmarks run coop-slate --learners maql,iql,random
--seeds 5 --steps 20000``.
"""
