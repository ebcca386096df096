"""psfleet: audit and fix SMB validate-negotiate and signing settings across a Windows fleet."""

from __future__ import annotations

__version__ = "0.1.0"
