"""Learners for marec: baselines, independent Q-learning, MAQ-L, and the training loop.

Runs from a checkout (it is not part of the ``marec-env`` wheel; the import name ``agents``
is also the OpenAI Agents SDK's). Learners see only what the env returns — observations,
rewards, action masks, ``obs_layout`` — never ``marec_env.core``.

- :mod:`agents.base` — the protocol (act / observe / update / save / load), batches
- :mod:`agents.registry` — :data:`~agents.registry.LEARNERS`, capabilities, hyper-parameters
- :mod:`agents.baselines` — random, greedy, oracle (evaluation only)
- :mod:`agents.td` — the one temporal-difference learner: a value function and an acting
  rule (:mod:`agents.acting`: independent argmax, max-plus), passed in
- :mod:`agents.tabular` — tabular IQL and MAQ-L (tables over :mod:`agents.abstraction`)
- :mod:`agents.linear` — linear IQL and MAQ-L (values over :mod:`agents.features`)
- :mod:`agents.maxplus` — coordination graphs, max-plus messages; :mod:`agents.exploration`
- :mod:`agents.dqn`, :mod:`agents.maql_deep` — independent DQN, deep MAQ-L (torch)
- :mod:`agents.train` — ``train(TrainConfig) -> TrainResult`` (docs/CONTRACTS.md)
- :mod:`agents.envs` — env ids → adapters (ParallelEnv, vector env); :mod:`agents.checkpoint`

Comparing learners over seeds is the benchmark harness's job (one statistics module,
``benchmarks/stats.py``): ``python -m benchmarks run coop-slate --learners maql,iql,random
--seeds 5 --steps 20000``.
"""
