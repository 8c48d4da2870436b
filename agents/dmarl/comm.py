"""What DMARL's nodes exchange over ``torch.distributed``, and how many bytes it costs.

:class:`Exchange` is the learner's only contact with the network. Without an initialised
process group (one node) every method is a no-op, so the single-process learner is the
baseline of the distributed one, with the same code path.

Sharing modes (``DMARLParams.sharing``):

- ``all`` — after the local backward pass every node's gradients are summed by all-reduce and
  divided by W: each agent's replicas apply the same averaged gradient and stay identical.
  Gradients are flattened into buckets of at most ``bucket_bytes`` (one all-reduce per
  bucket, all launched asynchronously, then waited on), as DDP does.
- ``graph`` — decentralised SGD (D-PSGD, Lian et al. 2017): each node applies its *local*
  gradient, then replaces its parameters by a weighted average of its own and its graph
  neighbours' (a consensus step). Neighbours on a ``ring`` (r−1, r+1) or ``full`` graph;
  Metropolis weights w_ij = 1/(1 + max(deg_i, deg_j)), self weight 1 − Σ_j w_ij. The
  mixing matrix is symmetric and doubly stochastic, so a consensus step keeps the nodes'
  mean and shrinks their disagreement ‖θ_r − θ̄‖ by the second-largest |eigenvalue| of W:
  ring of n ≥ 3 nodes: |1/3 + 2/3·cos(2π/n)| (1/3 at n = 4); full graph or n = 2: 0 (exact
  average in one step). Implemented with point-to-point ``isend``/``irecv`` to the
  neighbours only (``batch_isend_irecv``), no global collective.
- ``none`` — nothing: W independent replicas, each learning from its own node's data.

Byte accounting (per node, per update, float32 = 4 bytes): ``payload`` is the size of the
tensors a node hands to collectives plus what it sends point-to-point; ``wire`` estimates
what it puts on the network: a ring all-reduce of S bytes sends 2(W−1)/W·S (the algorithm
gloo uses for large buffers and NCCL uses), a point-to-point send of S bytes sends S.

Backends: ``gloo`` on CPU; ``nccl`` when CUDA is present (buffers are copied to the node's
GPU for the collective and back; the networks themselves stay on the CPU next to the env).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist

SHARING = ("all", "graph", "none")
GRAPHS = ("ring", "full")


def neighbours(rank: int, world: int, graph: str) -> list[int]:
    """The ranks ``rank`` exchanges parameters with in ``graph`` sharing."""
    if graph == "full":
        return [r for r in range(world) if r != rank]
    return sorted({(rank - 1) % world, (rank + 1) % world} - {rank})


def mixing_weights(rank: int, world: int, graph: str) -> dict[int, float]:
    """Metropolis weights of ``rank``'s row of the mixing matrix (self included)."""
    degree = {r: len(neighbours(r, world, graph)) for r in range(world)}
    row = {j: 1.0 / (1 + max(degree[rank], degree[j])) for j in neighbours(rank, world, graph)}
    row[rank] = 1.0 - sum(row.values())
    return row


@dataclass
class ByteCounter:
    """Bytes exchanged by this node, in total and in the last update."""

    payload: int = 0
    wire: float = 0.0
    last_payload: int = 0
    last_wire: float = 0.0
    updates: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, payload: int, wire: float) -> None:
        self.payload += payload
        self.wire += wire
        self.last_payload += payload
        self.last_wire += wire
        self.by_kind[kind] = self.by_kind.get(kind, 0) + payload

    def start_update(self) -> None:
        self.last_payload, self.last_wire = 0, 0.0

    def end_update(self) -> None:
        self.updates += 1


class Exchange:
    """Gradient, statistic and parameter exchange of one node; see the module docstring."""

    def __init__(self, sharing: str, graph: str, bucket_bytes: int) -> None:
        self.sharing, self.graph, self.bucket_bytes = sharing, graph, bucket_bytes
        active = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if active else 0
        self.world = dist.get_world_size() if active else 1
        self.device = _collective_device() if active else torch.device("cpu")
        self.bytes = ByteCounter()

    @property
    def distributed(self) -> bool:
        return self.world > 1

    # -- collectives ---------------------------------------------------------------------
    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Every node starts from rank 0's parameters (not counted as per-update bytes)."""
        if not self.distributed:
            return
        tensors = [p.data for p in module.parameters()]
        for bucket in self._buckets(tensors):
            flat = torch.cat([t.reshape(-1) for t in bucket]).to(self.device)
            dist.broadcast(flat, src=0)
            _unflatten(flat.cpu(), bucket)

    def average_gradients(self, module: torch.nn.Module) -> None:
        """``all`` sharing: replace every gradient by its mean over the nodes."""
        if self.sharing != "all" or not self.distributed:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        pending = []
        for bucket in self._buckets(grads):
            flat = torch.cat([g.reshape(-1) for g in bucket]).to(self.device)
            pending.append((dist.all_reduce(flat, async_op=True), flat, bucket))
            self._count_all_reduce("gradients", flat)
        for work, flat, bucket in pending:
            work.wait()
            _unflatten(flat.cpu() / self.world, bucket)

    def sum_statistics(self, stats: torch.Tensor) -> torch.Tensor:
        """``all`` sharing: the nodes' sum of small statistics (advantage moments)."""
        if self.sharing != "all" or not self.distributed:
            return stats
        flat = stats.clone().to(self.device)
        dist.all_reduce(flat)
        self._count_all_reduce("statistics", flat)
        return flat.cpu()

    def consensus(self, module: torch.nn.Module) -> None:
        """``graph`` sharing: θ_r ← Σ_j w_rj θ_j over r's neighbours (point-to-point)."""
        if self.sharing == "graph" and self.distributed:
            mix_parameters(module, self.rank, self.world, self.graph, self.device, self.bytes)
        self.bytes.end_update()

    def control(self, stop: bool) -> bool:
        """True when any node wants to stop (keeps all nodes' update counts in step)."""
        if not self.distributed:
            return stop
        flag = torch.tensor([float(stop)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self._count_all_reduce("control", flag)
        return bool(flag.item() > 0)

    def counters(self) -> dict[str, float]:
        b = self.bytes
        per_update = max(b.updates, 1)
        return {"workers": self.world, "bytes_payload": b.payload, "bytes_wire": b.wire,
                "bytes_payload_per_update": b.payload / per_update,
                "bytes_wire_per_update": b.wire / per_update}  # fmt: skip

    # -- helpers ---------------------------------------------------------------------
    def _buckets(self, tensors: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        buckets: list[list[torch.Tensor]] = [[]]
        size = 0
        for t in tensors:
            nbytes = t.numel() * t.element_size()
            if buckets[-1] and size + nbytes > self.bucket_bytes:
                buckets.append([])
                size = 0
            buckets[-1].append(t)
            size += nbytes
        return [b for b in buckets if b]

    def _count_all_reduce(self, kind: str, flat: torch.Tensor) -> None:
        nbytes = flat.numel() * flat.element_size()
        self.bytes.add(kind, nbytes, 2 * (self.world - 1) / self.world * nbytes)


def mix_parameters(module: torch.nn.Module, rank: int, world: int, graph: str,
                   device: torch.device, counter: ByteCounter | None = None) -> None:  # fmt: skip
    """One consensus step on ``module``'s parameters with the graph neighbours."""
    params = [p.data for p in module.parameters()]
    own = torch.cat([p.reshape(-1) for p in params]).to(device)
    weights = mixing_weights(rank, world, graph)
    peers = neighbours(rank, world, graph)
    received = {j: torch.empty_like(own) for j in peers}
    ops = [dist.P2POp(dist.isend, own, j) for j in peers]
    ops += [dist.P2POp(dist.irecv, received[j], j) for j in peers]
    for work in dist.batch_isend_irecv(ops):
        work.wait()
    mixed = weights[rank] * own
    for j in peers:
        mixed += weights[j] * received[j]
    if counter is not None:
        nbytes = own.numel() * own.element_size()
        counter.add("parameters", nbytes * len(peers), float(nbytes * len(peers)))
    _unflatten(mixed.cpu(), params)


def _unflatten(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t))
        offset += n


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
