"""Benchmarks of confirmhub beside baselines; run with ``python -m bench`` (see README.md)."""
