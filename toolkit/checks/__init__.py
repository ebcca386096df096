"""Checks: the probe (what to read), facts (what was read) and verdicts (pure judgements)."""
