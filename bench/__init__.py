"""Benchmarks of the export path (``python -m bench``); never run as tests. See ``docs/benchmarks.md``."""
