"""The evaluation gate: datasets, metrics, checks, profile and report."""
