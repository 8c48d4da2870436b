"""A two-recommender, one-user matrix game whose equilibria can be computed by hand.

Registered as ``marec/matrix-game-v0``. Two recommenders each put one item on a two-slot
page shown to a single user type; the page's value is a fixed table (expected values, so
rewards are deterministic unless ``reward_noise`` > 0). Each agent observes its own backbone's
three candidates in the same flat layout as the market env (``obs_layout``), so every learner
that runs on the market runs here unchanged; the observation never changes within a game of
``max_cycles=1`` steps, so tabular learners see a single state.

Games (``game=``; the default follows ``mode``):

``climbing`` (cooperative default; Claus & Boutilier's climbing game in recommender terms).
Agent 0's backbone ranks [headphones H, flagship phone F, budget phone D]; agent 1's ranks
[headphones H, budget case d, flagship case f]. Alone, a phone or a case is worth nothing
(nobody buys a case without its phone), the bestselling headphones are worth 5. A phone with
its own case sells as a bundle (F+f: 11, D+d: 7); a phone with the wrong case is returned
(-30); the budget phone plus headphones is a good deal (6); a flagship or a case next to the
headphones mixes intents and the page is ignored (0); H twice wastes a slot (5)::

                 a1 = H     d      f
        a0 = H      5       0      0
             F      0     -30     11
             D      6       7    -30

Team optimum: (F, f) = 11, unique. Pure Nash equilibria of this common-payoff game: (F, f)
and (D, d) (from (H, H) agent 0 gains by moving to D: 6 > 5). Why independent learners miss
(F, f): against a uniformly exploring partner agent 0's actions are worth H 5/3, F -19/3,
D -17/3 and agent 1's H 11/3, d -23/3, f -19/3, so both first settle on H. Against a partner
that now plays H with probability 1 - 2ε/3, D is worth 6 - 2ε/3·(6 - (7 - 30)/2) ≈ 5.4 to
agent 0 at ε = 0.05, barely above H's 4.8, and each rare (D, f) = -30 sample knocks its
estimate far down again, so independent learners stay on the duplicate page (H, H) = 5 or at
best climb to (D, d) = 7, which no single agent leaves (each unilateral move toward the
optimum costs -30). A learner that values the *joint* action (a coordination graph) finds 11.
The greedy baseline (both backbones' top-1) shows the headphones twice: 5.

``penalty`` (cooperative): the penalty game with k = ``penalty`` (default -10): agent 0 ranks
[x, y, z], agent 1 ranks [x', y', z']; (x, x') and (z, z') are complementary bundles (10),
(y, y') a safe page (2), (x, z') and (z, x') clash (k), everything else 0. Two optima (10).

``trending`` (competitive default). Both backbones rank the trending item T first, then a
niche item n_i of their own, then a weak item x_i. The user clicks by a multinomial logit with
attractions T 4, n 1, x 0.25 and no-click 1; an agent's own reward is the click probability of
its own item. If both show T the page holds it once (the other slot is wasted) and they split
its clicks: 0.8 / 2. Agent 0's own payoff (agent 1's is the transpose)::

                 a1 = T      n       x
        a0 = T    0.400   0.667   0.762
             n    0.167   0.333   0.444
             x    0.048   0.111   0.167

T strictly dominates n and x for each agent (column by column), so (T, T) is the unique Nash
equilibrium (pure or mixed): total clicks 0.8, while the team optimum (T, n) gets 0.833.

``mode="competitive"`` pays each agent its own value (half the page value in the two
cooperative games), ``mode="cooperative"`` pays both the team value (page value; total clicks
in ``trending``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from marec_env.validation import check_seed

AGENTS = ("recommender_0", "recommender_1")
N_CAND = 3
INFO_KEYS = (
    "own_reward", "team_reward", "clicks", "slots", "slot_share", "revenue", "payment", "ctr",
    "engagement", "ndcg", "diversity", "coverage", "novelty", "exposure_gini",
    "cold_start_exposure", "welfare", "backbone_id",
)  # fmt: skip


class MatrixGameError(ValueError):
    """A matrix-game override or action is invalid."""


@dataclass(frozen=True)
class Game:
    """Payoffs of one game: own[i][a0, a1] is agent i's own value, team[a0, a1] the page's."""

    name: str
    items: tuple[tuple[str, ...], tuple[str, ...]]
    own: np.ndarray
    team: np.ndarray
    score: tuple[float, ...]
    """Backbone score of ranks 0..2 (descending), the same for both agents."""
    age: tuple[tuple[float, ...], tuple[float, ...]]
    popularity: tuple[tuple[float, ...], tuple[float, ...]]


def _common_payoff(name: str, items: Any, table: list[list[float]]) -> Game:
    team = np.asarray(table, dtype=np.float64)
    return Game(
        name=name, items=items, own=np.stack([team / 2, team / 2]), team=team,
        score=(0.9, 0.6, 0.3), age=((0.8, 0.1, 0.5), (0.8, 0.5, 0.1)),
        popularity=((0.9, 0.3, 0.5), (0.9, 0.4, 0.2)),
    )  # fmt: skip


def _trending() -> Game:
    attraction = np.array([4.0, 1.0, 0.25])  # T, n_i, x_i; no-click has attraction 1
    own = np.zeros((2, N_CAND, N_CAND))
    for a0 in range(N_CAND):
        for a1 in range(N_CAND):
            if a0 == a1 == 0:  # both show T: one slot wasted, clicks split
                p = attraction[0] / (1 + attraction[0])
                own[:, a0, a1] = p / 2
            else:
                denom = 1 + attraction[a0] + attraction[a1]
                own[0, a0, a1] = attraction[a0] / denom
                own[1, a0, a1] = attraction[a1] / denom
    return Game(
        name="trending", items=(("T", "n0", "x0"), ("T", "n1", "x1")), own=own,
        team=own.sum(axis=0), score=(0.9, 0.5, 0.2), age=((0.1, 0.6, 0.9), (0.1, 0.6, 0.9)),
        popularity=((1.0, 0.3, 0.1), (1.0, 0.3, 0.1)),
    )  # fmt: skip


def make_game(name: str, penalty: float = -10.0) -> Game:
    if name == "climbing":
        items = (("H", "F", "D"), ("H", "d", "f"))
        return _common_payoff(name, items, [[5, 0, 0], [0, -30, 11], [6, 7, -30]])
    if name == "penalty":
        items = (("x", "y", "z"), ("x'", "y'", "z'"))
        return _common_payoff(name, items, [[10, 0, penalty], [0, 2, 0], [penalty, 0, 10]])
    if name == "trending":
        return _trending()
    raise MatrixGameError(f"game must be one of {list(GAMES)}, got {name!r}")


GAMES = ("climbing", "penalty", "trending")
MODES = ("cooperative", "competitive")
RENDER_MODES = ("ansi", "rgb_array", "human")


@dataclass(frozen=True)
class MatrixGameConfig:
    mode: str = "cooperative"
    """``cooperative``: both agents get the team value; ``competitive``: each its own value."""
    game: str | None = None
    """``climbing``, ``penalty`` or ``trending``; None picks climbing (cooperative) or
    trending (competitive)."""
    penalty: float = -10.0
    """Miscoordination payoff k of the penalty game."""
    max_cycles: int = 1
    """Repetitions of the game; the last one terminates the episode."""
    reward_noise: float = 0.0
    """Std of Gaussian noise added to rewards (0: deterministic expected values)."""
    observation: str = "box"
    """``box`` (flat float32) or ``dict`` ({"observation", "action_mask"})."""
    render_mode: str | None = None
    """``ansi``, ``rgb_array``, ``human`` or None."""

    def __post_init__(self) -> None:
        checks = {
            "mode": self.mode in MODES,
            "game": self.game is None or self.game in GAMES,
            "observation": self.observation in ("box", "dict"),
            "render_mode": self.render_mode is None or self.render_mode in RENDER_MODES,
            "max_cycles": isinstance(self.max_cycles, int) and self.max_cycles >= 1,
            "reward_noise": np.isfinite(self.reward_noise) and self.reward_noise >= 0,
            "penalty": np.isfinite(self.penalty),
        }
        allowed = {
            "mode": MODES, "game": (None, *GAMES), "observation": ("box", "dict"),
            "render_mode": (None, *RENDER_MODES), "max_cycles": "an integer >= 1",
            "reward_noise": "a finite number >= 0", "penalty": "a finite number",
        }  # fmt: skip
        for name, ok in checks.items():
            if not ok:
                raise MatrixGameError(
                    f"{name}: got {getattr(self, name)!r}; allowed: {allowed[name]}"
                )


def _config(overrides: dict[str, Any]) -> MatrixGameConfig:
    names = [f.name for f in dataclasses.fields(MatrixGameConfig)]
    for key in overrides:
        if key not in names:
            hint = difflib.get_close_matches(key, names, n=3)
            extra = f" (did you mean {', '.join(hint)}?)" if hint else ""
            raise MatrixGameError(
                f"unknown matrix-game key {key!r}{extra}. Allowed keys: {', '.join(names)}"
            )
    return MatrixGameConfig(**overrides)


def _layout() -> dict[str, slice]:
    sizes = {"cand_score": N_CAND, "cand_age": N_CAND, "cand_popularity": N_CAND,
             "cand_valid": N_CAND, "user": 1, "agent": 2 + len(AGENTS), "time": 1}  # fmt: skip
    layout, start = {}, 0
    for key, size in sizes.items():
        layout[key] = slice(start, start + size)
        start += size
    return layout


class MatrixGameEnv(ParallelEnv):
    """Two recommenders, one user type, one fixed payoff table; see the module docstring.

    The ``agent`` part of the observation is [last slot share, last expected clicks, one-hot
    agent id]; ``time`` is step / max_cycles.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": list(RENDER_MODES),
        "name": "matrix_game_v0",
        "render_fps": 4,
    }

    def __init__(self, **overrides: Any) -> None:
        self.config = _config(overrides)
        cfg = self.config
        self.mode = cfg.mode
        self.game = make_game(cfg.game or ("climbing" if cfg.mode == "cooperative" else "trending"),
                              cfg.penalty)  # fmt: skip
        self.max_cycles = cfg.max_cycles
        self.render_mode = cfg.render_mode
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.obs_layout = _layout()
        self.obs_dim = max(s.stop for s in self.obs_layout.values())
        box = gymnasium.spaces.Box(0.0, 1.0, (self.obs_dim,), np.float32)
        mask = gymnasium.spaces.Box(0, 1, (N_CAND,), np.int8)
        self._obs_space = (
            box if cfg.observation == "box"
            else gymnasium.spaces.Dict({"observation": box, "action_mask": mask})
        )  # fmt: skip
        self._act_space = gymnasium.spaces.Discrete(N_CAND)
        self.state_space = gymnasium.spaces.Box(0.0, 1.0, (len(AGENTS) * self.obs_dim,),
                                                np.float32)  # fmt: skip
        self._rng = np.random.default_rng(np.random.SeedSequence())
        self._t = 0
        self._last = np.zeros((len(AGENTS), 2), np.float32)  # slot share, clicks
        self._last_joint: tuple[int, int] | None = None
        self._last_rewards = np.zeros(len(AGENTS))

    @functools.cache  # noqa: B019 - PettingZoo wants the same object back
    def observation_space(self, agent: str) -> gymnasium.Space:
        self._check_agent(agent)
        return self._obs_space

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> gymnasium.Space:
        self._check_agent(agent)
        return self._act_space

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise MatrixGameError(f"unknown agent {agent!r}; agents: {self.possible_agents}")

    # ------------------------------------------------------------------ dynamics
    def reset(self, seed: int | None = None, options: dict | None = None):
        seed = check_seed(seed)
        if seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence(seed))
        self.agents = list(AGENTS)
        self._t = 0
        self._last[:] = 0.0
        self._last_joint = None
        self._last_rewards = np.zeros(len(AGENTS))
        return self._observations(), {a: self._info(i, None) for i, a in enumerate(AGENTS)}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise MatrixGameError("step() called after the game ended; call reset() first")
        joint = self._parse(actions)
        own = self.game.own[:, joint[0], joint[1]]
        team = float(self.game.team[joint])
        rewards = own if self.mode == "competitive" else np.full(len(AGENTS), team)
        if self.config.reward_noise > 0:
            rewards = rewards + self._rng.normal(0.0, self.config.reward_noise, len(AGENTS))
        self._t += 1
        self._last_joint = joint
        self._last_rewards = rewards
        duplicate = self.game.items[0][joint[0]] == self.game.items[1][joint[1]]
        self._last[:, 0] = 0.25 if duplicate else 0.5  # a duplicate wastes one of two slots
        self._last[:, 1] = np.clip(own / max(1.0, np.abs(self.game.own).max()), 0.0, 1.0)
        done = self._t >= self.max_cycles
        obs = self._observations()
        infos = {a: self._info(i, joint) for i, a in enumerate(AGENTS)}
        out = (
            obs,
            {a: float(rewards[i]) for i, a in enumerate(AGENTS)},
            dict.fromkeys(AGENTS, done),  # known horizon (time is observed): terminal
            dict.fromkeys(AGENTS, False),
            infos,
        )
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return out

    def _parse(self, actions: dict[str, Any]) -> tuple[int, int]:
        for agent in actions:
            self._check_agent(agent)
        missing = [a for a in AGENTS if a not in actions]
        if missing:
            raise MatrixGameError(f"missing actions for {missing}; both agents act every step")
        joint = []
        for agent in AGENTS:
            value = actions[agent]
            if not (np.issubdtype(np.asarray(value).dtype, np.integer) and np.ndim(value) == 0):
                raise MatrixGameError(f"action of {agent} must be an integer, got {value!r}")
            if not 0 <= int(value) < N_CAND:
                raise MatrixGameError(f"action of {agent} must be in [0, {N_CAND}), got {value}")
            joint.append(int(value))
        return joint[0], joint[1]

    def _observations(self) -> dict[str, Any]:
        out = {}
        for i, agent in enumerate(AGENTS):
            obs = self._observe(i)
            if self.config.observation == "dict":
                out[agent] = {"observation": obs, "action_mask": np.ones(N_CAND, np.int8)}
            else:
                out[agent] = obs
        return out

    def _observe(self, i: int) -> np.ndarray:
        g, lay = self.game, self.obs_layout
        obs = np.zeros(self.obs_dim, np.float32)
        obs[lay["cand_score"]] = g.score
        obs[lay["cand_age"]] = g.age[i]
        obs[lay["cand_popularity"]] = g.popularity[i]
        obs[lay["cand_valid"]] = 1.0
        obs[lay["user"]] = 1.0
        agent_part = np.zeros(2 + len(AGENTS), np.float32)
        agent_part[:2] = self._last[i]
        agent_part[2 + i] = 1.0
        obs[lay["agent"]] = agent_part
        obs[lay["time"]] = self._t / self.max_cycles
        return obs

    def _info(self, i: int, joint: tuple[int, int] | None) -> dict[str, float]:
        info = dict.fromkeys(INFO_KEYS, 0.0)
        info["backbone_id"] = float(i)
        if joint is None:
            return info
        own, team = float(self.game.own[i][joint]), float(self.game.team[joint])
        distinct = self.game.items[0][joint[0]] != self.game.items[1][joint[1]]
        best = float(self.game.team.max())
        info.update(
            own_reward=float(self._last_rewards[i]), team_reward=team, clicks=own, revenue=own,
            slots=1.0 if distinct else 0.5, slot_share=0.5 if distinct else 0.25,
            engagement=team, welfare=team,
            ctr=team / 2 if self.game.name == "trending" else 0.0,
            ndcg=team / best if best > 0 else 0.0, diversity=float(distinct),
            coverage=(2.0 if distinct else 1.0) / 6.0,
        )  # fmt: skip
        return info

    # ------------------------------------------------------------------ hooks
    def state(self) -> np.ndarray:
        return np.concatenate([self._observe(i) for i in range(len(AGENTS))])

    def action_masks(self) -> dict[str, np.ndarray]:
        return {a: np.ones(N_CAND, np.int8) for a in AGENTS}

    def reference_joint_action(self) -> tuple[int, int]:
        """The team optimum (cooperative mode) or the pure Nash equilibrium (competitive)."""
        if self.mode == "cooperative":
            flat = int(np.argmax(self.game.team))
            return flat // N_CAND, flat % N_CAND
        return _pure_nash(self.game.own)[0]

    def oracle_action_values(self) -> dict[str, np.ndarray]:
        """Evaluation only: the reward of each own action when the other agent plays its part
        of :meth:`reference_joint_action` (the oracle thus plays that joint action)."""
        ref = self.reference_joint_action()
        payoff = self.game.own if self.mode == "competitive" else np.stack([self.game.team] * 2)
        return {
            AGENTS[0]: payoff[0][:, ref[1]].astype(np.float32),
            AGENTS[1]: payoff[1][ref[0], :].astype(np.float32),
        }

    # ------------------------------------------------------------------ render
    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without render_mode; pass render_mode=...")
            return None
        if self.render_mode == "rgb_array":
            return self._rgb()
        text = self._ansi()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def _ansi(self) -> str:
        g = self.game
        rows = [f"{g.name} ({self.mode}) step {self._t}/{self.max_cycles}",
                "a0\\a1 " + " ".join(f"{x:>7}" for x in g.items[1])]  # fmt: skip
        for a0, item in enumerate(g.items[0]):
            cells = []
            for a1 in range(N_CAND):
                mark = "*" if self._last_joint == (a0, a1) else " "
                cells.append(f"{g.team[a0, a1]:>6.2f}{mark}")
            rows.append(f"{item:>5} " + " ".join(cells))
        if self._last_joint is not None:
            rows.append(f"rewards {np.round(self._last_rewards, 3).tolist()}")
        return "\n".join(rows)

    def _rgb(self) -> np.ndarray:
        cell = 24
        team = self.game.team
        span = max(float(np.ptp(team)), 1e-9)
        shade = ((team - team.min()) / span * 200 + 30).astype(np.uint8)
        img = np.zeros((N_CAND * cell, N_CAND * cell, 3), np.uint8)
        for a0 in range(N_CAND):
            for a1 in range(N_CAND):
                block = img[a0 * cell : (a0 + 1) * cell, a1 * cell : (a1 + 1) * cell]
                block[...] = (shade[a0, a1], shade[a0, a1] // 2, 255 - shade[a0, a1])
                if self._last_joint == (a0, a1):
                    block[:3], block[-3:], block[:, :3], block[:, -3:] = 255, 255, 255, 255
        return img

    def close(self) -> None:
        pass


def _pure_nash(own: np.ndarray) -> list[tuple[int, int]]:
    """All pure Nash equilibria of the bimatrix game own[0], own[1]."""
    eqs = []
    for a0 in range(own.shape[1]):
        for a1 in range(own.shape[2]):
            if own[0][a0, a1] >= own[0][:, a1].max() and own[1][a0, a1] >= own[1][a0, :].max():
                eqs.append((a0, a1))
    return eqs
