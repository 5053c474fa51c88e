"""Benchmarks (not part of the installed package): see bench/throughput.py."""
