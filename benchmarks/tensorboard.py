"""TensorBoard event files for training runs, written next to results.csv / results.jsonl.

``python -m benchmarks run|train --tensorboard DIR`` writes one TensorBoard run per
(learner label, seed) under ``DIR/<label>/seed<seed>``: every numeric column of each tidy
row (eval_return, team_return, return/<agent>, the env metrics, ...) as a scalar at the row's
env step. So ``tensorboard --logdir DIR`` overlays the seeds and learners of a scenario. The
CSV/JSONL rows stay the record of truth; the event files are a view of them.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from numbers import Real
from pathlib import Path
from typing import Any

from benchmarks.results import ID_COLUMNS, PROVENANCE_COLUMNS, Row

_SKIPPED = frozenset(ID_COLUMNS) | frozenset(PROVENANCE_COLUMNS)
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


class TensorBoardUnavailable(RuntimeError):
    """The ``tensorboard`` package, which torch's SummaryWriter needs, is not installed."""


def available() -> bool:
    """Whether event files can be written (checked before a run creates anything)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def run_name(label: str, seed: int) -> str:
    """The run's directory under the log dir (``iql/seed0``); labels become path-safe."""
    return f"{_UNSAFE.sub('_', label).strip('_') or 'learner'}/seed{seed}"


def scalars(row: Row) -> dict[str, float]:
    """The row's finite numeric columns that are measurements (not ids or provenance)."""
    return {
        key: float(value)
        for key, value in row.items()
        if key not in _SKIPPED
        and isinstance(value, Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    }


class TensorBoardLog:
    """Writes tidy rows as TensorBoard scalars; one ``SummaryWriter`` per (label, seed)."""

    def __init__(self, directory: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise TensorBoardUnavailable(
                f"--tensorboard needs the tensorboard package ({exc}); "
                "pip install tensorboard (or the project's dev/examples extra)"
            ) from exc
        self.directory = Path(directory)
        self._writer_class = SummaryWriter
        self._writers: dict[tuple[str, int], Any] = {}

    def __call__(self, row: Row) -> None:
        key = (str(row["learner"]), int(row["seed"]))
        if key not in self._writers:
            log_dir = self.directory / run_name(*key)
            self._writers[key] = self._writer_class(log_dir=str(log_dir))
        writer = self._writers[key]
        for tag, value in scalars(row).items():
            writer.add_scalar(tag, value, global_step=int(row["step"]))
        writer.flush()  # a run read while training shows every evaluation so far

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


@contextmanager
def optional_log(directory: str | Path | None):
    """A :class:`TensorBoardLog` for ``directory``, or ``None`` when no directory is given."""
    if directory is None:
        yield None
        return
    log = TensorBoardLog(directory)
    try:
        yield log
    finally:
        log.close()
