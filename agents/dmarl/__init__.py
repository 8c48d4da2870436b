"""DMARL: distributed multi-agent policy-gradient learning with gradient sharing.

- :mod:`agents.dmarl.learner` — the A2C-per-agent learner (runs on one node as the baseline);
- :mod:`agents.dmarl.comm` — what nodes exchange over ``torch.distributed`` (``all`` /
  ``graph`` / ``none``) and the bytes it costs;
- :mod:`agents.dmarl.trainer` — one node's training loop under ``torchrun`` (rank-0-only
  evaluation, results and checkpoints; per-rank env seeds; bounded failure);
- :mod:`agents.dmarl.launch` — ``--workers W``: local processes without typing ``torchrun``.

torch is imported only when this package is (the registry imports it lazily).
"""

from agents.dmarl.learner import DMARL, DMARLParams

__all__ = ["DMARL", "DMARLParams"]
