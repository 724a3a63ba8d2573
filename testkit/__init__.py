"""Test support that is not installed: synthetic fleets, a sample audit, a TSDB backfill.

The tests, the benchmarks and the demo script import it from the checkout (they run from
the repository root); ``pip install`` ships ``src/baton`` only, so none of this reaches users.
"""
