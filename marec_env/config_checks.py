"""MarketConfig checks beyond types and choices: float ranges, numpy scalars, paths, memory.

Documented range of every float field (inclusive). The bounds are far beyond any sensible
market and keep every reward, info and observation finite (a weight of 1e39 overflows the
float32 observation and makes rewards inf/NaN):

=====================  ==================  =============================================
field                  range               why this bound
=====================  ==================  =============================================
reward_lambda          [0, 1]              a mixing weight
churn_rate             [0, 1]              a probability
drift_rate             [0, 1]              a step toward the consumed topics
fatigue_decay          [0, 1]              a per-step decay factor
diversity_weight       [0, 100]            ~100× the click reward at most
utility_scale          [0, 100]            inverse temperature; 100 is already argmax
quality_weight         [0, 100]            weight of hidden quality in the utility
position_decay         [0, 10]             slot weight 1/log2(p+2)^10 is already ~0
no_click_utility       [-50, 50]           exp(±50·scale) stays finite in float64
fatigue_rate           [0, 100]            fatigue per consumed topic mass
browse_cost            [0, 1e6]            budget units per page
budget_min             [0, 1e6]            engagement units
budget_max             [budget_min, 1e6]   engagement units
cf_learning_rate       [0, 10]             SGD step of the matrix factorisation
attribute_noise        [0, 100]            noise of the public item attributes
bait_appeal            [0, 100]            utility added to a pure bait item
bait_regret            [0, 1e6]            budget units a pure bait click costs
=====================  ==================  =============================================

Memory: :func:`estimate_bytes` is a lower bound of what a config allocates (the arrays that
grow with the world's size, measured on this code; see the constants); a config whose
estimate exceeds the machine's physical memory is refused before anything is allocated.
"""

from __future__ import annotations

import math
import os
from dataclasses import fields
from typing import Any

import numpy as np

FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "reward_lambda": (0.0, 1.0),
    "churn_rate": (0.0, 1.0),
    "drift_rate": (0.0, 1.0),
    "fatigue_decay": (0.0, 1.0),
    "diversity_weight": (0.0, 100.0),
    "utility_scale": (0.0, 100.0),
    "quality_weight": (0.0, 100.0),
    "position_decay": (0.0, 10.0),
    "no_click_utility": (-50.0, 50.0),
    "fatigue_rate": (0.0, 100.0),
    "browse_cost": (0.0, 1e6),
    "budget_min": (0.0, 1e6),
    "budget_max": (0.0, 1e6),
    "cf_learning_rate": (0.0, 10.0),
    "attribute_noise": (0.0, 100.0),
    "bait_appeal": (0.0, 100.0),
    "bait_regret": (0.0, 1e6),
}

# Bytes per unit, measured with RSS after reset() + one step (mixed-v0, cf/content/popularity,
# 64 worlds): a world costs ~3.2 MiB at the preset's size (2 MiB counted, so the estimate stays
# a lower bound); each item ~170 B per world (impression tracker, clicks, CF/popularity state),
# each user ~330 B per world (population, candidate caches), each step of an episode 8 B per
# slot per world (the exposure tracker's histogram). Shared by the worlds: ~460 B per item
# (catalog); a text backbone adds a 384-float embedding (1.5 KiB) per item and user profile.
PER_WORLD, PER_WORLD_ITEM, PER_WORLD_USER, PER_WORLD_SLOT_STEP = 2 * 2**20, 170, 330, 8
PER_ITEM, PER_TEXT_ROW = 460, 1536


def _error(message: str) -> Exception:
    from marec_env.config import ConfigError  # config imports this module

    return ConfigError(message)


def plain_scalars(cfg: Any) -> None:
    """Replace numpy scalars (``np.int64(4)``, ``np.float32(0.5)``) by Python numbers and a
    path-like ``embedding_cache_dir`` by its string, in place on the frozen dataclass."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, np.bool_):
            value = bool(value)
        elif isinstance(value, np.integer):
            value = int(value)
        elif isinstance(value, np.floating):
            value = float(value)
        elif f.name == "embedding_cache_dir" and isinstance(value, os.PathLike):
            value = os.fspath(value)
        else:
            continue
        object.__setattr__(cfg, f.name, value)


def check_paths(cfg: Any) -> None:
    """``embedding_cache_dir`` and ``text_model`` are strings (a path or a model name)."""
    if cfg.embedding_cache_dir is not None and not isinstance(cfg.embedding_cache_dir, str):
        raise _error(
            "embedding_cache_dir must be a directory path (str or os.PathLike) or None, got "
            f"{cfg.embedding_cache_dir!r} of type {type(cfg.embedding_cache_dir).__name__}"
        )
    if not isinstance(cfg.text_model, str) or not cfg.text_model:
        raise _error(
            "text_model must be 'default', a local model directory or a hub id (a non-empty "
            f"string), got {cfg.text_model!r}"
        )


def check_float_ranges(cfg: Any) -> None:
    """Every float field within its documented range (see the module docstring)."""
    for name, (low, high) in FLOAT_RANGES.items():
        if name == "budget_max" and _is_real(cfg.budget_min):
            low = max(low, float(cfg.budget_min))
        value = getattr(cfg, name)
        if not _is_real(value) or not low <= value <= high:
            raise _error(f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")


def _is_real(value: Any) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return ok and math.isfinite(value)


def estimate_bytes(cfg: Any, num_envs: int = 1) -> int:
    """A lower bound of the memory ``num_envs`` worlds of ``cfg`` allocate."""
    per_world = (
        PER_WORLD
        + PER_WORLD_ITEM * cfg.n_items
        + PER_WORLD_USER * cfg.n_users
        + PER_WORLD_SLOT_STEP * cfg.slots * cfg.max_cycles
    )
    shared = PER_ITEM * cfg.n_items
    if "text" in cfg.backbones:
        shared += PER_TEXT_ROW * (cfg.n_items + cfg.n_users)
    return num_envs * per_world + shared


def physical_memory() -> int | None:
    """Bytes of RAM of this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg: Any, num_envs: int = 1) -> None:
    """Refuse, naming the fields and the estimate, a world that cannot fit in memory."""
    need, have = estimate_bytes(cfg, num_envs), physical_memory()
    if have is None or need <= have:
        return
    sizes = f"n_items={cfg.n_items}, n_users={cfg.n_users}, max_cycles={cfg.max_cycles}"
    sizes += f", slots={cfg.slots}" + (f", num_envs={num_envs}" if num_envs != 1 else "")
    raise _error(
        f"this market needs at least {need / 2**30:,.1f} GiB ({sizes}), more than this "
        f"machine's {have / 2**30:,.1f} GiB of memory; make those fields smaller"
    )
