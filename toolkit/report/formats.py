"""Report format names, importable without any renderer (help and completion use them)."""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("table", "json", "ndjson", "csv", "markdown", "junit")
