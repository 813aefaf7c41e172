"""Benchmarks of Life Organiser, run as ``python -m bench NAME``; kept out of the package."""
