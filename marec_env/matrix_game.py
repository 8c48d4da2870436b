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

``payoffs=`` (any game). A nested list or array of shape (N, A_0, …, A_{N-1}): agent i's own
value of every joint action, for N >= 2 agents with A_i >= 1 actions each; ``team=`` (shape
(A_0, …, A_{N-1}), default the sum of the own values) is the page's value. The env is the same
one: N recommenders, each showing its rank-a candidate as action a; an agent with fewer actions
than the largest A has the rest masked (``action_masks``, ``cand_valid``). Learner tests and
users' own studies run on games nobody tuned on.

``mode="competitive"`` pays each agent its own value (half the page value in the two
cooperative games), ``mode="cooperative"`` pays both the team value (page value; total clicks
in ``trending``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from marec_env import config as market_config
from marec_env.config import ConfigError, check_choice, check_int, check_known_keys, check_real
from marec_env.frontend import AgentInterface
from marec_env.observation import ObservationLayout
from marec_env.step import INFO_KEYS
from marec_env.validation import ActionError, EpisodeOverError, check_seed

N_CAND = 3
OBSERVED_PARTS = (
    "cand_score",
    "cand_age",
    "cand_popularity",
    "cand_valid",
    "user",
    "agent",
    "time",
)
"""The market observation's parts this game fills, in the market's order; ``user`` is one
value (the single user type is always present)."""


class MatrixGameError(ActionError, ConfigError, EpisodeOverError):
    """A matrix-game override or action is invalid (catchable as the market envs' errors)."""


@contextlib.contextmanager
def _game_errors() -> Iterator[None]:
    """The shared checks raise the market's error classes; this game raises its own."""
    try:
        yield
    except MatrixGameError:
        raise
    except (ActionError, EpisodeOverError, KeyError) as err:
        raise MatrixGameError(err.args[0] if err.args else str(err)) from err


@dataclass(frozen=True)
class Game:
    """Payoffs of one game: own[i][a] is agent i's own value of joint action a, team[a] the
    page's (a = (a_0, …, a_{N-1}))."""

    name: str
    items: tuple[tuple[str, ...], ...]
    own: np.ndarray
    team: np.ndarray
    score: tuple[float, ...]
    """Backbone score of ranks 0..K-1 (descending), the same for every agent."""
    age: tuple[tuple[float, ...], ...]
    popularity: tuple[tuple[float, ...], ...]

    @property
    def n_agents(self) -> int:
        return self.own.shape[0]

    @property
    def n_actions(self) -> tuple[int, ...]:
        """A_i of every agent."""
        return self.team.shape


def custom_game(payoffs: Any, team: Any = None) -> Game:
    """A game from an own-payoff tensor (N, A_0, …, A_{N-1}) and an optional team tensor."""
    try:
        own = np.asarray(payoffs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MatrixGameError(f"payoffs must be a numeric nested list or array ({exc})") from None
    if own.ndim < 3 or own.shape[0] != own.ndim - 1 or min(own.shape[1:]) < 1:
        raise MatrixGameError(
            f"payoffs must have shape (N, A_0, ..., A_(N-1)) with N >= 2 agents (agent i's own "
            f"value of each joint action), got shape {own.shape}"
        )
    team_values = own.sum(axis=0) if team is None else np.asarray(team, dtype=np.float64)
    if team_values.shape != own.shape[1:]:
        raise MatrixGameError(f"team must have shape {own.shape[1:]}, got {team_values.shape}")
    if not (np.all(np.isfinite(own)) and np.all(np.isfinite(team_values))):
        raise MatrixGameError("payoffs and team must be finite")
    k = max(own.shape[1:])
    ranks = np.linspace(0.9, 0.3, k) if k > 1 else np.array([0.9])
    items = tuple(tuple(f"a{i}.{a}" for a in range(n)) for i, n in enumerate(own.shape[1:]))
    flat = tuple((0.5,) * k for _ in items)
    return Game(name="custom", items=items, own=own, team=team_values,
                score=tuple(float(s) for s in ranks), age=flat, popularity=flat)  # fmt: skip


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
    payoffs: Any = None
    """Own payoffs (N, A_0, …, A_{N-1}) of any game (nested lists); replaces ``game``."""
    team: Any = None
    """Team payoffs (A_0, …, A_{N-1}) with ``payoffs``; default: the sum of own payoffs."""
    reward_noise: float = 0.0
    """Std of Gaussian noise added to rewards (0: deterministic expected values)."""
    observation: str = "box"
    """``box`` (flat float32) or ``dict`` ({"observation", "action_mask"})."""
    render_mode: str | None = None
    """``ansi``, ``rgb_array``, ``human`` or None."""

    def __post_init__(self) -> None:
        error = MatrixGameError
        check_choice(self, "mode", MODES, error)
        check_choice(self, "game", (None, *GAMES), error)
        check_choice(self, "observation", market_config.OBSERVATION_MODES, error)
        check_choice(self, "render_mode", market_config.RENDER_MODES, error)
        check_int(self, "max_cycles", 1, error)
        check_real(self, "reward_noise", 0.0, error=error)
        check_real(self, "penalty", -math.inf, error=error)
        if self.payoffs is None and self.team is not None:
            raise MatrixGameError("team is given without payoffs: pass both (or only payoffs)")
        if self.payoffs is not None and self.game is not None:
            raise MatrixGameError(f"give either game ({self.game!r}) or payoffs, not both")


def _config(overrides: dict[str, Any]) -> MatrixGameConfig:
    names = tuple(f.name for f in dataclasses.fields(MatrixGameConfig))
    check_known_keys(overrides, names, "matrix-game", MatrixGameError)
    return MatrixGameConfig(**overrides)


def _layout(n_agents: int, n_cand: int) -> dict[str, slice]:
    return ObservationLayout(n_cand, n_agents).select(OBSERVED_PARTS, user=1)


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
        if cfg.payoffs is not None:
            self.game = custom_game(cfg.payoffs, cfg.team)
        else:
            default = "climbing" if cfg.mode == "cooperative" else "trending"
            self.game = make_game(cfg.game or default, cfg.penalty)
        self.n = self.game.n_agents
        self.k = max(self.game.n_actions)
        self._masks = np.array([[a < n for a in range(self.k)] for n in self.game.n_actions],
                               np.int8)  # fmt: skip
        self.max_cycles = cfg.max_cycles
        self.render_mode = cfg.render_mode
        self.agents: list[str] = []
        self.obs_layout = _layout(self.n, self.k)
        self.obs_dim = max(s.stop for s in self.obs_layout.values())
        self.interface = AgentInterface(
            self.n, self.obs_dim, self.k, cfg.observation, bounds=(0.0, 1.0)
        )
        self.possible_agents = list(self.interface.possible_agents)
        self.state_space = self.interface.state_space
        self._rng = np.random.default_rng(np.random.SeedSequence())
        self._t = 0
        self._last = np.zeros((self.n, 2), np.float32)  # slot share, clicks
        self._last_joint: tuple[int, ...] | None = None
        self._last_rewards = np.zeros(self.n)

    @property
    def cooperative(self) -> bool:
        """Every agent is paid the same reward (learners that maximise the team sum read it)."""
        return self.mode == "cooperative" or bool(np.all(self.game.own == self.game.own[0]))

    def observation_space(self, agent: str) -> gymnasium.Space:
        with _game_errors():
            return self.interface.observation_space(agent)

    def action_space(self, agent: str) -> gymnasium.Space:
        with _game_errors():
            return self.interface.action_space(agent)

    # ------------------------------------------------------------------ dynamics
    def reset(self, seed: int | None = None, options: dict | None = None):
        seed = check_seed(seed)
        if seed is not None:
            self._rng = np.random.default_rng(np.random.SeedSequence(seed))
        self.agents = list(self.possible_agents)
        self._t = 0
        self._last[:] = 0.0
        self._last_joint = None
        self._last_rewards = np.zeros(self.n)
        return self._observations(), {a: self._info(i, None) for i, a in enumerate(self.agents)}

    def step(self, actions: dict[str, Any]):
        with _game_errors():
            joint = tuple(self.interface.joint_action(actions, self.agents).tolist())
        for i, (a, n) in enumerate(zip(joint, self.game.n_actions, strict=True)):
            if a >= n:
                raise MatrixGameError(f"action {a} of {self.possible_agents[i]} is masked: that "
                                      f"agent has {n} actions (0..{n - 1})")  # fmt: skip
        own = self.game.own[(slice(None), *joint)]
        team = float(self.game.team[joint])
        rewards = own if self.mode == "competitive" else np.full(self.n, team)
        if self.config.reward_noise > 0:
            rewards = rewards + self._rng.normal(0.0, self.config.reward_noise, self.n)
        self._t += 1
        self._last_joint = joint
        self._last_rewards = rewards
        distinct = self._distinct(joint)
        self._last[:, 0] = distinct / self.n**2  # each slot holds one item; duplicates waste
        self._last[:, 1] = np.clip(own / max(1.0, np.abs(self.game.own).max()), 0.0, 1.0)
        done = self._t >= self.max_cycles
        agents = self.possible_agents
        obs = self._observations()
        infos = {a: self._info(i, joint) for i, a in enumerate(agents)}
        out = (
            obs,
            {a: float(rewards[i]) for i, a in enumerate(agents)},
            dict.fromkeys(agents, done),  # known horizon (time is observed): terminal
            dict.fromkeys(agents, False),
            infos,
        )
        if done:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return out

    def _distinct(self, joint: tuple[int, ...]) -> int:
        """Different items on the page (two agents showing one item waste a slot)."""
        return len({self.game.items[i][a] for i, a in enumerate(joint)})

    def _observations(self) -> dict[str, Any]:
        obs = np.stack([self._observe(i) for i in range(self.n)])
        return self.interface.pack(obs, lambda: self._masks.copy())

    def _observe(self, i: int) -> np.ndarray:
        g, lay = self.game, self.obs_layout
        obs = np.zeros(self.obs_dim, np.float32)
        obs[lay["cand_score"]] = g.score
        obs[lay["cand_age"]] = g.age[i]
        obs[lay["cand_popularity"]] = g.popularity[i]
        obs[lay["cand_valid"]] = self._masks[i]
        obs[lay["user"]] = 1.0
        agent_part = np.zeros(2 + self.n, np.float32)
        agent_part[:2] = self._last[i]
        agent_part[2 + i] = 1.0
        obs[lay["agent"]] = agent_part
        obs[lay["time"]] = self._t / self.max_cycles
        return obs

    def _info(self, i: int, joint: tuple[int, ...] | None) -> dict[str, float]:
        info = dict.fromkeys(INFO_KEYS, 0.0)
        info["backbone_id"] = float(i)
        if joint is None:
            return info
        own, team = float(self.game.own[i][joint]), float(self.game.team[joint])
        distinct = self._distinct(joint)
        best = float(self.game.team.max())
        info.update(
            own_reward=float(self._last_rewards[i]), team_reward=team, clicks=own, revenue=own,
            slots=distinct / self.n, slot_share=distinct / self.n**2,
            engagement=team, welfare=team,
            ctr=team / 2 if self.game.name == "trending" else 0.0,
            ndcg=team / best if best > 0 else 0.0, diversity=float(distinct == self.n),
            coverage=distinct / sum(self.game.n_actions),
        )  # fmt: skip
        return info

    # ------------------------------------------------------------------ hooks
    def state(self) -> np.ndarray:
        return np.concatenate([self._observe(i) for i in range(self.n)])

    def action_masks(self) -> dict[str, np.ndarray]:
        return self.interface.per_agent(self._masks.copy())

    def reference_joint_action(self) -> tuple[int, ...]:
        """The team optimum (cooperative mode) or the first pure Nash equilibrium
        (competitive; MatrixGameError when the game has none)."""
        if self.mode == "cooperative":
            return tuple(int(a) for a in np.unravel_index(np.argmax(self.game.team),
                                                          self.game.team.shape))  # fmt: skip
        equilibria = _pure_nash(self.game.own)
        if not equilibria:
            raise MatrixGameError("this game has no pure Nash equilibrium: no oracle reference")
        return equilibria[0]

    def oracle_action_values(self) -> dict[str, np.ndarray]:
        """Evaluation only: the reward of each own action when the other agents play their
        parts of :meth:`reference_joint_action` (the oracle thus plays that joint action);
        actions an agent does not have are worth -inf."""
        ref = self.reference_joint_action()
        payoff = self.game.own if self.mode == "competitive" else [self.game.team] * self.n
        out = {}
        for i, agent in enumerate(self.possible_agents):
            row = payoff[i][(*ref[:i], slice(None), *ref[i + 1 :])]
            values = np.full(self.k, -np.inf, np.float32)
            values[: len(row)] = row
            out[agent] = values
        return out

    def best_response_action_values(self) -> dict[str, np.ndarray]:
        """Evaluation only: each own action's expected reward against uniformly random
        others (level-1 reasoning over a uniform level 0: the game has no backbone to
        stand for "greedy", as in the markets)."""
        payoff = self.game.own if self.mode == "competitive" else [self.game.team] * self.n
        out = {}
        for i, agent in enumerate(self.possible_agents):
            others = tuple(axis for axis in range(self.n) if axis != i)
            row = np.asarray(payoff[i], np.float64).mean(axis=others)
            values = np.full(self.k, -np.inf, np.float32)
            values[: len(row)] = row
            out[agent] = values
        return out

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
        rows = [f"{g.name} ({self.mode}) step {self._t}/{self.max_cycles}"]
        if self.n != 2:  # no table to draw: the joint action and its team value
            if self._last_joint is not None:
                rows.append(f"joint {list(self._last_joint)} team {g.team[self._last_joint]:.3f}")
                rows.append(f"rewards {np.round(self._last_rewards, 3).tolist()}")
            return "\n".join(rows)
        rows.append("a0\\a1 " + " ".join(f"{x:>7}" for x in g.items[1]))
        for a0, item in enumerate(g.items[0]):
            cells = []
            for a1 in range(g.team.shape[1]):
                mark = "*" if self._last_joint == (a0, a1) else " "
                cells.append(f"{g.team[a0, a1]:>6.2f}{mark}")
            rows.append(f"{item:>5} " + " ".join(cells))
        if self._last_joint is not None:
            rows.append(f"rewards {np.round(self._last_rewards, 3).tolist()}")
        return "\n".join(rows)

    def _rgb(self) -> np.ndarray:
        cell = 24
        team = self.game.team.reshape(self.game.team.shape[0], -1)  # agent 0 × the others
        span = max(float(np.ptp(team)), 1e-9)
        shade = ((team - team.min()) / span * 200 + 30).astype(np.uint8)
        rows, cols = team.shape
        img = np.zeros((rows * cell, cols * cell, 3), np.uint8)
        last = None
        if self._last_joint is not None:
            rest = np.ravel_multi_index(self._last_joint[1:], self.game.team.shape[1:])
            last = (self._last_joint[0], int(rest))
        for a0 in range(rows):
            for a1 in range(cols):
                block = img[a0 * cell : (a0 + 1) * cell, a1 * cell : (a1 + 1) * cell]
                block[...] = (shade[a0, a1], shade[a0, a1] // 2, 255 - shade[a0, a1])
                if last == (a0, a1):
                    block[:3], block[-3:], block[:, :3], block[:, -3:] = 255, 255, 255, 255
        return img

    def close(self) -> None:
        pass


def _pure_nash(own: np.ndarray) -> list[tuple[int, ...]]:
    """All pure Nash equilibria of the N-player game own[i][a_0, …, a_{N-1}] (row-major)."""
    best_reply = np.ones(own.shape[1:], dtype=bool)
    for i in range(own.shape[0]):  # a_i is a best reply when no own deviation pays more
        best_reply &= own[i] >= own[i].max(axis=i, keepdims=True)
    return [tuple(int(a) for a in joint) for joint in np.argwhere(best_reply)]
