"""Classification while another thread is importing requests.

The lean client's worker processes do not import requests; a host that falls back to pypsrp
imports it then, on its own thread. A host classified on another thread at that moment saw
``requests.exceptions`` in ``sys.modules`` only partly initialised, and a refused connection
became "internal error: ... partially initialized module 'requests.exceptions' has no
attribute 'ConnectTimeout'" (status error instead of unreachable; seen under load in
tests/integration/audit/test_audit_cli.py's fault hosts)."""

from __future__ import annotations

import sys
import types

import pytest

from toolkit.results import ErrorKind
from toolkit.transport.classify import classify

EP = "192.0.2.5:5985"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionRefusedError(111, "Connection refused"), ErrorKind.UNREACHABLE),
        (ConnectionResetError(104, "Connection reset by peer"), ErrorKind.UNREACHABLE),
        (TimeoutError("timed out"), ErrorKind.TIMEOUT),
    ],
)
def test_a_half_imported_requests_changes_no_verdict(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, kind: ErrorKind
) -> None:
    half = types.ModuleType("requests.exceptions")  # its classes not defined yet
    monkeypatch.setitem(sys.modules, "requests.exceptions", half)
    error = classify(exc, endpoint=EP, sent=False)
    assert error.kind is kind
    assert "internal error" not in error.message
