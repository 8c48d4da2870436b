"""Tidy result rows and the results directory.

One row per (scenario, learner, seed, step) evaluation, with every metric as a column and the
provenance (git commit, config hash, library versions) repeated on each row so a row stays
meaningful when copied out of its directory. A results directory holds::

    run.json        scenario, config hash, provenance, status, finished (learner, seed) units
    results.csv     the rows, for spreadsheets and pandas
    results.jsonl   the same rows with types kept; what the harness reads back
    summary.md, report.md, plots/*.png

Every file is rewritten atomically (appending = rewriting), so a crash or Ctrl-C leaves the
previous complete version. A directory recorded for another scenario or config is refused.
A writer holds the directory's exclusive lock (``.lock``, see :mod:`benchmarks.dirlock`)
from ``open`` to ``close``: a second process is refused with the holder's pid and command.
Saving never drops rows that another writer put on disk meanwhile (they are merged back).
"""

from __future__ import annotations

import csv
import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from benchmarks import atomic
from benchmarks.dirlock import LOCK_FILE, DirLock, DirLockedError
from benchmarks.scenario import Scenario, config_hash

ID_COLUMNS = ("scenario", "learner", "seed", "step")
RECORD_COLUMNS = ("wall_time", "eval_return", "team_return", "updates", "messages")
PROVENANCE_COLUMNS = (
    "git_commit",
    "config_hash",
    "python_version",
    "numpy_version",
    "torch_version",
    "pettingzoo_version",
    "marec_env_version",
)
META_FILE, CSV_FILE, JSONL_FILE = "run.json", "results.csv", "results.jsonl"
Row = dict[str, Any]


class ResultsDirError(ValueError):
    """The output directory cannot be used (a file, unwritable, or another run's results)."""


@cache
def git_commit(cwd: str | None = None) -> str:
    """HEAD of the checkout holding the harness, or "unknown" outside a git repository."""
    cwd = cwd or str(Path(__file__).resolve().parent)
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _version(dist: str, module: str | None = None) -> str:
    # Distribution metadata first: it does not import (torch takes seconds to import).
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        mod = __import__(module or dist)
    except ImportError:
        return "n/a"
    return str(getattr(mod, "__version__", "checkout"))


@cache
def provenance(scenario_hash: str) -> dict[str, str]:
    """The provenance columns of every row of a run."""
    return {
        "git_commit": git_commit(),
        "config_hash": scenario_hash,
        "python_version": platform.python_version(),
        "numpy_version": _version("numpy"),
        "torch_version": _version("torch"),
        "pettingzoo_version": _version("pettingzoo"),
        "marec_env_version": _version("marec-env", "marec_env"),
    }


def record_to_row(scenario: str, learner: str, seed: int, record: Any, prov: dict) -> Row:
    """Flatten an ``agents.train.EvalRecord`` into one tidy row."""
    row: Row = {"scenario": scenario, "learner": learner, "seed": seed, "step": record.step}
    row.update({col: getattr(record, col) for col in RECORD_COLUMNS})
    row.update({f"return/{a}": v for a, v in sorted(record.agent_returns.items())})
    row.update(dict(sorted(record.metrics.items())))
    row.update(prov)
    return row


def columns(rows: Iterable[Row]) -> list[str]:
    """Identity and record columns first, then metrics (sorted), then provenance."""
    seen = dict.fromkeys(k for row in rows for k in row)
    fixed = [c for c in (*ID_COLUMNS, *RECORD_COLUMNS) if c in seen]
    tail = [c for c in PROVENANCE_COLUMNS if c in seen]
    middle = sorted(c for c in seen if c not in fixed and c not in tail)
    return fixed + middle + tail


def _jsonable(value: Any) -> Any:
    # NaN/inf are not JSON; null keeps the file readable by any JSON parser.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return value


def write_rows(directory: str | os.PathLike[str], rows: list[Row]) -> None:
    """Rewrite results.csv and results.jsonl in ``directory`` atomically."""
    directory = Path(directory)
    cols = columns(rows)

    def write_csv(fh: Any) -> None:
        writer = csv.DictWriter(fh, fieldnames=cols, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if (v := _jsonable(row[k])) is None else v for k in row})

    def write_jsonl(fh: Any) -> None:
        for row in rows:
            fh.write(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n")

    atomic.write_with(directory / JSONL_FILE, write_jsonl)
    atomic.write_with(directory / CSV_FILE, write_csv)


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def read_rows(directory: str | os.PathLike[str]) -> list[Row]:
    """Rows of a results directory: JSONL (typed) if present, else the CSV.

    A damaged file raises ResultsDirError naming it, the line, and how to recover."""
    directory = Path(directory)
    if (directory / JSONL_FILE).is_file():
        return _read_jsonl(directory / JSONL_FILE)
    if (directory / CSV_FILE).is_file():
        try:
            with open(directory / CSV_FILE, encoding="utf-8", newline="") as fh:
                return [{k: _parse_cell(v) for k, v in r.items()} for r in csv.DictReader(fh)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ResultsDirError(
                f"{directory / CSV_FILE} is damaged ({exc}); restore it from a backup, or "
                f"delete it and {META_FILE} to run the scenario again"
            ) from None
    return []


def _read_jsonl(path: Path) -> list[Row]:
    rows: list[Row] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
                    rows.append(row)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsDirError(
            f"{path} is damaged after row {len(rows)} ({exc}). To recover: if {CSV_FILE} "
            f"next to it is intact, delete {JSONL_FILE} (the rows are then read from the "
            "CSV); otherwise delete the damaged line(s): a unit left incomplete is trained "
            "again on resume"
        ) from None
    return rows


def read_meta(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    path = Path(directory) / META_FILE
    if not path.is_file():
        return None
    how = (
        "To recover: restore it from a backup, or run the scenario again with another --out; "
        f"the finished rows stay in {JSONL_FILE}/{CSV_FILE} (delete {META_FILE} to re-plot them)"
    )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsDirError(f"{path}: unreadable run record ({exc}). {how}") from None
    completed = meta.get("completed", []) if isinstance(meta, dict) else None
    units_ok = isinstance(completed, list) and all(
        isinstance(u, list) and len(u) == 2 and isinstance(u[0], str) and isinstance(u[1], int)
        for u in completed
    )
    if not isinstance(meta, dict) or not units_ok:
        raise ResultsDirError(f"{path}: damaged run record (not a marec run.json). {how}")
    return meta


def check_rows_present(path: Path, meta: dict[str, Any], rows: list[Row]) -> None:
    """ResultsDirError if run.json records finished units whose rows are gone (every finished
    unit has at least its final evaluation)."""
    have = {_unit(r) for r in rows}
    lost = [(str(a), b) for a, b in meta.get("completed", []) if (a, b) not in have]
    if lost:
        files = f"{JSONL_FILE}/{CSV_FILE}"
        raise ResultsDirError(
            f"{path / META_FILE} records {len(lost)} finished run(s) whose rows are missing "
            f"from {files} (e.g. {lost[0][0]} seed {lost[0][1]}). To recover: restore "
            f"{files} from a backup, or delete {META_FILE} to run the scenario again"
        )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(path: Path) -> None:
    """Create ``path`` if needed; raise ResultsDirError if it is a file or not writable."""
    if path.exists() and not path.is_dir():
        raise ResultsDirError(f"output path {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ResultsDirError(f"output directory {path} is not writable: {exc.strerror}") from None


class ResultsDir:
    """A results directory bound to one scenario configuration; rows kept in memory."""

    def __init__(
        self, path: Path, meta: dict[str, Any], rows: list[Row], lock: DirLock | None = None
    ) -> None:
        self.path = path
        self.meta = meta
        self.rows = rows
        self.lock = lock
        self._owned: set[tuple[Any, Any]] = set()  # units whose rows this store wrote
        self._disk_stamp = _stamp(path / JSONL_FILE)  # the rows file as this store knows it

    @staticmethod
    def check(path: str | os.PathLike[str], scenario: Scenario) -> dict[str, Any] | None:
        """Raise ResultsDirError unless ``path`` can take ``scenario``'s results; writes nothing.

        Refused: a file, an unwritable place, a non-empty directory that is not a results
        directory, or one recorded for another scenario or configuration. Returns the run
        record of a directory to resume, else None.
        """
        path = Path(path)
        target = _nearest_existing(path)
        if not target.is_dir():
            raise ResultsDirError(f"output path {target} exists and is not a directory")
        if not os.access(target, os.W_OK | os.X_OK):
            raise ResultsDirError(f"output directory {target} is not writable")
        if target != path.absolute() or not any(p.name != LOCK_FILE for p in path.iterdir()):
            return None
        meta = read_meta(path)
        if meta is None:
            raise ResultsDirError(
                f"{path} is not empty and holds no {META_FILE}; refusing to write into it "
                "(choose another --out)"
            )
        _check_same_run(path, meta, scenario.name, config_hash(scenario))
        return meta

    @classmethod
    def open(cls, path: str | os.PathLike[str], scenario: Scenario) -> ResultsDir:
        """Open ``path`` for ``scenario``: new, or resuming the same configuration."""
        path = Path(path)
        cls.check(path, scenario)
        check_writable_dir(path)
        lock = lock_dir(path)
        try:
            meta = cls.check(path, scenario)  # again: another writer may have finished meanwhile
        except BaseException:
            lock.release()
            raise
        if meta is not None:
            try:
                rows = read_rows(path)
                check_rows_present(path, meta, rows)
            except BaseException:
                lock.release()
                raise
            return cls(path, meta, rows, lock)
        digest = config_hash(scenario)
        meta = {
            "format": 1,
            "scenario": scenario.name,
            "config_hash": digest,
            "config": scenario.to_dict(),
            "provenance": provenance(digest),
            "created": _now(),
            "status": "new",
            "completed": [],
        }
        return cls(path, meta, [], lock)

    def close(self) -> None:
        """Release the directory's lock (idempotent)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> ResultsDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def completed(self) -> set[tuple[str, int]]:
        return {(str(label), int(seed)) for label, seed in self.meta.get("completed", [])}

    def replace_unit(self, learner: str, seed: int, rows: list[Row]) -> None:
        """Set the rows of one (learner, seed) unit (dropping a previous partial attempt)."""
        kept = [r for r in self.rows if (r.get("learner"), r.get("seed")) != (learner, seed)]
        self.rows = kept + rows
        self._owned.add((learner, seed))

    def mark_complete(self, learner: str, seed: int) -> None:
        if (learner, seed) not in self.completed:
            self.meta["completed"] = [*self.meta.get("completed", []), [learner, seed]]

    def save(self, status: str | None = None) -> None:
        """Rewrite the rows and run.json atomically."""
        if status is not None:
            self.meta["status"] = status
        self.meta["updated"] = _now()
        self._merge_foreign_rows()
        write_rows(self.path, self.rows)
        self._disk_stamp = _stamp(self.path / JSONL_FILE)
        atomic.write_text(self.path / META_FILE, json.dumps(self.meta, indent=2) + "\n")

    def _merge_foreign_rows(self) -> None:
        """Keep rows another writer saved since we last looked (the lock should prevent it,
        but a writer without the lock, e.g. an older marec, must still not lose rows)."""
        if _stamp(self.path / JSONL_FILE) == self._disk_stamp:
            return
        theirs = read_rows(self.path)
        mine = [r for r in self.rows if _unit(r) in self._owned]
        self.rows = [r for r in theirs if _unit(r) not in self._owned] + mine
        done = (read_meta(self.path) or {}).get("completed", [])
        for learner, seed in done if isinstance(done, list) else []:
            self.mark_complete(learner, seed)


def _unit(row: Row) -> tuple[Any, Any]:
    return row.get("learner"), row.get("seed")


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def lock_dir(path: str | os.PathLike[str]) -> DirLock:
    """The exclusive lock of an existing results directory, or ResultsDirError naming the
    process that holds it."""
    try:
        return DirLock(path)
    except DirLockedError as exc:
        raise ResultsDirError(str(exc)) from None
    except OSError as exc:
        raise ResultsDirError(f"cannot lock results directory {path}: {exc.strerror}") from None


def _check_same_run(path: Path, meta: dict[str, Any], name: str, digest: str) -> None:
    if meta.get("scenario") != name:
        raise ResultsDirError(
            f"{path} holds results of scenario {meta.get('scenario')!r}, not {name!r}; "
            "choose another --out"
        )
    if meta.get("config_hash") != digest:
        raise ResultsDirError(
            f"{path} holds results of scenario {name!r} with another configuration "
            f"(config hash {str(meta.get('config_hash'))[:12]}…, now {digest[:12]}…); "
            "choose another --out to keep both" + _backend_hint(meta)
        )


def _backend_hint(meta: dict[str, Any]) -> str:
    """Results written before scenarios had ``eval_backend`` were evaluated on the ParallelEnv."""
    config = meta.get("config")
    if not isinstance(config, dict) or "eval_backend" in config:
        return ""
    return (
        "; it was written before scenarios had eval_backend (its evaluations ran on the "
        "ParallelEnv): add 'eval_backend: parallel' to the scenario to resume it"
    )
