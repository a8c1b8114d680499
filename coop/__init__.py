"""Operator and developer tooling: the `coop` CLI, demo data, benchmarks."""
