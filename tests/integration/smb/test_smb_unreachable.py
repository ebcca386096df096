"""Network failures become error kinds within the time bound, never exceptions."""

from __future__ import annotations

import time

import pytest

from toolkit.results import ErrorKind
from toolkit.smb.diagnose import DiagnosisStatus, diagnose_validate_negotiate
from toolkit.smb.probe import probe_smb


def test_closed_port_is_unreachable(closed_port: int) -> None:
    probe = probe_smb("127.0.0.1", closed_port, timeout=5)

    assert not probe.ok
    assert probe.error is not None and probe.error.kind is ErrorKind.UNREACHABLE
    assert "refused" in probe.error.message.lower()
    assert probe.per_dialect == ()


def test_closed_port_diagnosis_is_unreachable(closed_port: int) -> None:
    result = diagnose_validate_negotiate("127.0.0.1", closed_port, username="u", password="p", timeout=5)

    assert result.status is DiagnosisStatus.ERROR
    assert result.error is not None and result.error.kind is ErrorKind.UNREACHABLE


@pytest.mark.parametrize("timeout", [1.0, 2.5])
def test_silent_server_times_out_within_bound(silent_server: int, timeout: float) -> None:
    started = time.monotonic()
    probe = probe_smb("127.0.0.1", silent_server, timeout=timeout)
    elapsed = time.monotonic() - started

    assert probe.error is not None and probe.error.kind is ErrorKind.TIMEOUT
    assert timeout * 0.9 <= elapsed < timeout + 1.0


def test_silent_server_diagnosis_times_out_within_bound(silent_server: int) -> None:
    started = time.monotonic()
    result = diagnose_validate_negotiate("127.0.0.1", silent_server, username="u", password="p", timeout=1.5)
    elapsed = time.monotonic() - started

    assert result.status is DiagnosisStatus.ERROR
    assert result.error is not None and result.error.kind is ErrorKind.TIMEOUT
    assert elapsed < 2.5
