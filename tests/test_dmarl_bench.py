"""The DMARL throughput table carries the host's own two-process scaling as its peer."""

from __future__ import annotations

from benchmarks import dmarl_bench


def test_host_scaling_is_a_fraction_of_two_processes() -> None:
    scaling = dmarl_bench.host_scaling()
    # two processes can at best double one's work; timer noise allows a little above 1
    assert 0.2 < scaling < 1.3


def test_throughput_table_names_the_host_peer() -> None:
    row = {"samples_per_s": 100.0, "updates_per_s": 2.0, "scaling_efficiency": 1.0,
           "payload": 0.0, "wire": 0.0}  # fmt: skip
    result = {"env_id": "marec/coop-slate-v1", "overrides": {}, "num_envs": 8, "updates": 3,
              "rounds": 1, "table": {"W=1 all": row}, "host_scaling": 0.63}  # fmt: skip
    text = dmarl_bench.throughput_markdown(result)
    assert "| W=1 all | 100 | 2.00 | 1.00 | 0 | 0 |" in text
    assert "reach 0.63 of twice one process's throughput" in text
