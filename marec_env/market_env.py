"""The PettingZoo ParallelEnv over one world of the market."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from marec_env import render as rendering
from marec_env.config import MarketConfig
from marec_env.frontend import AgentInterface
from marec_env.market import Market
from marec_env.step import INFO_KEYS
from marec_env.threads import env_threads
from marec_env.validation import check_seed, require_reset

ONE_WORLD = np.zeros(1, np.int64)


class MarketEnv(ParallelEnv):
    """A recommendation market: N recommender agents fill the S slots of one page per step.

    Each step one user (the one currently in session) is shown a page. Every agent's backbone
    (collaborative filtering, content-based, text or popularity) has already put its top-K
    candidates for this user in the agent's observation; the agent picks one (and a bid, in
    auctions), an allocation mechanism fills the page, the user clicks at most one item by a
    choice model over hidden utilities, and the backbones learn from the feedback.

    ## Observation
    ``Box(-1, 1, (7K + K·N + 7 + N,), float32)``, identical for every agent. Parts (see
    ``obs_layout``), K values each for the agent's candidates, best first:
    ``cand_score`` tanh of the backbone score (−1 for fillers), ``cand_age`` item age /
    ``cold_start_window`` capped at 1, ``cand_popularity`` log clicks, ``cand_valid`` 1 for a
    real candidate, ``cand_ctr`` the item's smoothed click-through rate in this market,
    ``cand_overlap`` the share of other agents that also hold the item (a duplicate wastes a
    slot), ``cand_repeat_topic`` 1 if its genre is the one the user just consumed (fatigue).
    ``cand_rival_rank`` (K × N, candidate-major) is the shared candidate board: for candidate
    k and agent j, 1 − rank / K of the item in j's list, 0 if j does not hold it (the agent's
    own column is 1 − k / K); it tells which agents would put the same item on the page.
    Then ``user`` session length, clicks, last page clicked, misses / patience; ``agent``
    last-step slot share and clicks plus a one-hot agent id; ``time`` t / ``max_cycles``.
    With ``observation="dict"``:
    ``Dict(observation=Box, action_mask=Box(0, 1, (n_actions,), int8))``.

    ## Action
    ``Discrete(K)``: the candidate to put first (the agent's other candidates follow in rank
    order). In auctions ``Discrete(K × bid_levels)``: ``action = candidate × bid_levels + level``,
    bid = (level + 1) / bid_levels per click. (The mechanism, ``allocation``, is a plug-in of
    :mod:`marec_env.mechanisms` and says how many bid levels an action carries.)

    ## Reward
    r_i = λ·own_i + (1 − λ)·team. own_i = engagement of clicks on agent i's items minus its
    auction payments; team = engagement of the whole page (+ ``diversity_weight`` × intra-list
    diversity). With ``reward_mode="expected"`` clicks are replaced by their probabilities.

    ## Termination and truncation
    With ``episode_end="cycles"`` (every preset but clickbait) markets do not terminate;
    every agent is truncated after ``max_cycles`` steps, and users come and go inside an
    episode (budgets, patience, churn). With ``episode_end="session"`` an episode is one
    user's visit: every agent terminates when the user leaves (out of budget or patience),
    and is truncated at ``max_cycles`` if the user is still there.

    ## Info
    Every agent, every step, the same numeric keys: ``INFO_KEYS`` (own/team reward, clicks,
    slot share, revenue, payment, CTR, engagement, NDCG@S, diversity, coverage, novelty,
    exposure Gini, cold-start exposure, welfare, backbone id).

    ## Rendering
    ``render_mode="ansi"`` returns one line (step, user, the page as item@agent with the click
    starred, running slot shares); ``"rgb_array"`` a (270, 480, 3) uint8 picture (slots framed
    in the owning agent's colour and filled with the item's topic mix, the click outlined in
    white, the user's topic tastes, running slot shares); ``"human"`` prints the ansi line
    every step (no window: these envs run headless).

    ## How a step runs
    :func:`marec_env.step.advance` is the whole step as named stages over the world's state
    (:class:`marec_env.world.World`): decode → propose → fill the page → choose → settle →
    update users → feed back → measure → turn over sessions → tick → refresh candidates.

    ## Arguments
    ``MarketEnv(config)`` with a :class:`~marec_env.config.MarketConfig`; normally built by
    ``marec_env.parallel_env(env_id, **overrides)``. Field docs: ``MarketConfig.field_docs()``.

    ## Version history
    * v0: initial release (before it, the ``cand_rival_rank`` board joined the observation).
      Since the pipeline release, backbone scores are float64 products rounded to float32,
      so a user's candidate list no longer depends on how many users are scored together:
      float32 products reordered equal-score items in the vector env, so its worlds did not
      match a ParallelEnv. The fix changes which of two tied items is listed first. At B=1,
      coop-slate, mixed and cold-start are unchanged over 420 steps; compete-auction diverges
      from step 266. Vector-env runs of every v0 preset differ from earlier releases.
    * v1 presets (``marec/*-v1``; v0 presets unchanged): engagement calibrated to click
      logs (``utility_scale`` 3, ``no_click_utility`` 6, ``position_decay`` 2); positions
      decided by the mechanism (``slate``: ``Discrete(K × S)``, action = candidate × S +
      claimed position; ``shuffled``: random); ``gsp`` auctions with one entry per agent,
      reserve price and budgets; ``public_features`` append ``cand_match``,
      ``cand_quality_signal``, ``cand_evidence``, ``cand_session_match``,
      ``cand_session_seen``, ``cand_tags``
      (K × T), ``user_stated`` (T), ``user_session_topics`` (T), ``agent_budget`` after
      ``time``; noisy texts; satisfaction-driven sessions and churn; ``long_run``.
    * ``marec/clickbait-v1`` (new preset; no other preset changes): ``episode_end="session"``
      (an episode is one user's visit; agents terminate when the user leaves) and bait
      (``bait_topic``, ``bait_appeal``, ``bait_regret``).
    * ``marec/filter-bubble-v2`` (new preset; v1 unchanged): filter-bubble-v1 with a
      trending agent (backbone ``popularity``) in place of the text agent. Ranking by the
      clicks the platform's own pages produced closes the feedback loop of Chaney et al.
      (2018): over a long run greedy pages raise exposure concentration and cross-user
      overlap relative to random ones, which v1's personalising backbones do not
      (``docs/VALIDITY.md``, ``benchmarks/bubble.py``).
    * No dynamics change, v0 and v1: the vector env's ``reset(seed=[s_0, …, s_{B-1}])``
      gives world b the random streams of a ParallelEnv reset with ``s_b`` (an int seed
      behaves as before), so vector evaluation plays exactly the ParallelEnv's episodes.
      One-world fast paths and compiled kernels give the same candidates, pages and clicks
      as the general path, with numba on or off (``tests/test_one_world.py``).
    * v1 sign-up texts: the two stated interests a profile text names are picked by a stable
      sort, so users with fewer than two positive ones get the lowest tied topic on every
      CPU (numpy's default sort may order ties by CPU-specific sorting networks). On the
      AVX2 machines measured every trajectory is unchanged; a CPU whose default sort ordered
      those ties otherwise now plays what these do.
    """

    metadata = {
        "name": "marec_market_v0",
        "render_modes": ["ansi", "rgb_array", "human"],
        "is_parallelizable": True,
        "render_fps": 4,
    }

    def __init__(self, config: MarketConfig, env_id: str = "marec/custom") -> None:
        self.config = config
        self.env_id = env_id
        self.render_mode = config.render_mode
        self.market = Market(config, num_worlds=1)
        self.interface = AgentInterface(
            config.n_agents, self.market.layout.size, config.n_actions, config.observation
        )
        self.possible_agents = list(self.interface.possible_agents)
        self.agents: list[str] = []
        self.backbone_kinds = dict(zip(self.possible_agents, config.backbones))
        self.obs_layout = self.market.layout.slices
        self.state_space = self.interface.state_space
        self._seeded = False
        self._obs = np.zeros((config.n_agents, self.market.layout.size), np.float32)
        self.shares = np.zeros(config.n_agents)

    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.interface.observation_space(agent)

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        return self.interface.action_space(agent)

    @env_threads
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
        seed = check_seed(seed)
        if seed is not None or not self._seeded:
            self.market.seed(np.random.SeedSequence(seed))
            self._seeded = True
        self.market.reset_worlds(ONE_WORLD)
        self.agents = list(self.possible_agents)
        self.shares = np.zeros(self.config.n_agents)
        self._obs = self.market.observations()[0]
        infos = {a: dict.fromkeys(INFO_KEYS, 0.0) for a in self.agents}
        for agent, kind in zip(self.agents, self.market.setup.backbone_ids):
            infos[agent]["backbone_id"] = float(kind)
        return self._package(), infos

    @env_threads
    def step(self, actions: dict[str, Any]):
        require_reset(self._seeded, "step()")
        joint = self.interface.joint_action(
            actions, self.agents, lambda: self.market.action_masks()[0]
        )
        result = self.market.step(joint[None, :])
        self._obs = self.market.observations()[0]
        self.shares += result.info["slot_share"][0]
        truncated, terminated = bool(result.truncated[0]), bool(result.terminated[0])
        rewards = dict(zip(self.agents, result.rewards[0].tolist()))
        per_agent = result.info_table[:, 0, :].T.tolist()  # one list of values per agent
        infos = {a: dict(zip(INFO_KEYS, values)) for a, values in zip(self.agents, per_agent)}
        observations = self._package()
        terminations = dict.fromkeys(self.agents, terminated)
        truncations = dict.fromkeys(self.agents, truncated)
        if truncated or terminated:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def _package(self) -> dict[str, Any]:
        return self.interface.pack(self._obs, lambda: self.market.action_masks()[0])

    def state(self) -> np.ndarray:
        """All agents' observations, concatenated (for centralised critics)."""
        return self._obs.reshape(-1).copy()

    def action_masks(self) -> dict[str, np.ndarray]:
        require_reset(self._seeded, "action_masks()")
        return self.interface.per_agent(self.market.action_masks()[0])

    def oracle_action_values(self) -> dict[str, np.ndarray]:
        """True utility of each action's candidate for the current user. Evaluation only:
        it reads hidden state, so learners must never call it."""
        require_reset(self._seeded, "oracle_action_values()")
        return self.interface.per_agent(self.market.oracle_action_values()[0])

    def best_response_action_values(self) -> dict[str, np.ndarray]:
        """Each agent's expected own reward per action this step, the others playing their
        backbone's top candidate at the middle bid (:mod:`marec_env.counterfactual`).
        Evaluation only: it reads hidden state, so learners must never call it."""
        require_reset(self._seeded, "best_response_action_values()")
        return self.interface.per_agent(self.market.best_response_action_values()[0])

    def render(self) -> Any:
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode=...")
            return None
        if self.render_mode == "rgb_array":
            return rendering.rgb_array(self.market, self.shares)
        text = rendering.ansi(self.market, self.possible_agents, self.shares)
        if self.render_mode == "ansi":
            return text
        print(text)
        return None

    def close(self) -> None:
        """Nothing to release: the market holds only arrays."""
