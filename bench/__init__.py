"""Benchmarks that print ratio tables (``python -m bench.<name>``); never part of the tests."""
