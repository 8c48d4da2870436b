"""Benchmark harness: scenarios, training runs, tidy results, statistics and plots.

Run from a checkout: ``python -m benchmarks run scenarios/default.yaml``. See ``benchmarks.cli``.
"""
