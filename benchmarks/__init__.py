"""Benchmarks of aixgo (``make bench``). Never part of ``make test``."""
