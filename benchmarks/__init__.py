"""Benchmarks: durable_async against the reference SDK on the same handlers.

Run ``python -m benchmarks.run`` (``make bench``); see ``benchmarks/README.md`` for the method
and the latest figures.
"""
