"""``benchmarks train`` on several nodes: under torchrun, or spawning local ones (--workers W).

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process runs :func:`train_node`: it joins the
process group, and only rank 0 opens the results directory, shows progress, writes rows and
checkpoints (``<out>/checkpoints/<label>-s<seed>.pt``), all atomically; the other ranks
train and write nothing. Rank 0 decides whether the unit is already complete (resume) and
tells the others, so no rank trains alone.

``--workers W`` without torchrun (:func:`spawn_local`) starts the same command under
``python -m torch.distributed.run --nproc-per-node W`` (c10d rendezvous on 127.0.0.1 at a
free port, or ``--rdzv-endpoint``), with an explicit ``--out`` so every rank agrees on it.
torchrun watches the workers: when one dies it stops the others, and this command exits 1.
"""

from __future__ import annotations

import argparse
import functools
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from benchmarks import runner
from benchmarks.results import ResultsDir
from benchmarks.scenario import Scenario

EXIT_FAILED = 1


class LaunchError(ValueError):
    """Bad distributed launch input (a port in use, a learner that cannot share)."""


def launched() -> bool:
    """True in a worker started by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def exit_worker(code: int) -> NoReturn:
    """End a torchrun worker without interpreter teardown, once its group is destroyed and
    rank 0's results are written.

    Gloo objects still alive in C++ can abort the process while the interpreter shuts down
    ("terminate called without an active exception", SIGABRT). That happened in about 1 of
    10 two-node runs on a loaded 2-core machine, after every result had been written; the
    worker's launcher then failed the job and took the rendezvous store down under the other
    node's launcher. Nothing is left to clean up here: results are renamed into place, the
    results lock is released and the group is gone.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def check_learner_shares(name: str) -> None:
    from agents.registry import get_spec

    if not get_spec(name).capabilities.shares_gradients:
        raise LaunchError(
            f"--workers/torchrun: learner {name!r} does not share gradients (capability "
            "shares_gradients); run it with one worker"
        )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LaunchError(
                f"--rdzv-endpoint {host}:{port}: port {port} is already in use ({exc.strerror}); "
                "choose another port or omit --rdzv-endpoint to pick a free one"
            ) from None


def parse_endpoint(text: str | None) -> tuple[str, int]:
    if text is None:
        return "127.0.0.1", free_port()
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LaunchError(f"--rdzv-endpoint must be HOST:PORT (port 1-65535), got {text!r}")
    return host, int(port)


def child_argv(argv: list[str], out: Path) -> list[str]:
    """The `train` command line each worker runs: without --workers/--rdzv-endpoint/--out."""
    drop_with_value = {"--workers", "--rdzv-endpoint", "--out"}
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in drop_with_value:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return [*kept, "--out", str(out)]


def spawn_local(args: argparse.Namespace, scenario: Scenario, out: Path) -> int:
    """Run the command on ``args.workers`` local processes under torchrun; its exit code."""
    check_learner_shares(scenario.learners[0].name)
    ResultsDir.check(out, scenario)  # refuse a bad --out before starting any process
    host, port = parse_endpoint(args.rdzv_endpoint)
    check_port_free(host, port)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
        "--nproc-per-node", str(args.workers), "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"{host}:{port}", "--max-restarts", "0", "--monitor-interval", "1",
        "-m", "benchmarks", *child_argv(args.argv, out),
    ]  # fmt: skip
    print(f"starting {args.workers} workers (rendezvous {host}:{port})", file=sys.stderr)
    code = subprocess.call(command)
    if code != 0:
        print(
            f"error: distributed training failed (torchrun exit code {code}); the failing "
            f"worker's message is above. Results and checkpoints in {out} are the last good ones.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


def train_node(scenario: Scenario, out: Path, progress: bool) -> int:
    """One torchrun worker of `benchmarks train`: rank 0 writes, the others only train."""
    import torch.distributed as dist

    from agents.dmarl import trainer

    entry, seed = scenario.learners[0], scenario.seeds[0]
    store = None
    try:
        check_learner_shares(entry.name)
        node = trainer.join()
        if node.rank == 0:
            store = ResultsDir.open(out, scenario)
        decision = [store is not None and (entry.label, seed) in store.completed]
        dist.broadcast_object_list(decision, src=0)
        if decision[0]:
            if node.rank == 0:
                print(f"{out}: this run is already complete", file=sys.stderr)
            return 0
        ckpt = out / "checkpoints" / f"{entry.label}-s{seed}.pt"
        train_fn = functools.partial(trainer.train_distributed, checkpoint_path=str(ckpt))
        _, factory = runner.load_trainer()
        stop = runner.StopFlag()
        with stop.installed():
            if store is None:
                cfg = runner.make_config(factory, scenario, entry, seed)
                train_fn(cfg, should_stop=stop.is_set)
                return 0
            outcome = runner.run_scenario(scenario, store, train_fn, factory, stop, progress)
        print(f"results in {out} ({outcome.units_done}/{outcome.units_total} runs finished, "
              f"{node.world} workers)")  # fmt: skip
        return 130 if outcome.interrupted else 0
    except trainer.DistributedError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    finally:
        if store is not None:
            store.close()  # the results directory's lock
        trainer.leave()
