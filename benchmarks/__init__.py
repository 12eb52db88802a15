"""Benchmarks: each prints measured ratios and ends with one JSON line."""
