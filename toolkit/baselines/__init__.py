"""Checks as data: baselines (YAML files of checks), their loader and the engine that judges
and plans with them. Shipped baselines are in ``data/``; the format is in docs/baselines.md."""
