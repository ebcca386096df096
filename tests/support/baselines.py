"""Baseline files written for tests."""

from __future__ import annotations

#: A baseline file with one DWORD check, ``one``, whose states include ``any``.
TINY_BASELINE = """name: tiny
checks:
  - id: one
    title: One value
    registry: {path: 'HKLM:\\SOFTWARE\\Example', name: V, kind: DWord}
    meanings: {up: it is on, down: it is off}
    states:
      up: {expected: "up (1 (DWord))", means: up, value: 1}
      any: {expected: any}
    default_state: up
    values:
      - {equals: 1, means: up, text: DWORD 1, rule: registry-write-kind}
      - {means: down, text: "DWORD {value}", rule: registry-write-kind}
    absent:
      - {means: down, text: absent, rule: registry-write-kind}
    wrong_kind: {text: "{value} is not a DWORD", rule: registry-write-kind}
    references: {facts: registry-write-kind, urls: ['https://example.org/x']}
"""
