"""``psfleet probe smb`` starts without the diagnosis: the validate-negotiate side (smbprotocol)
is imported only by ``diagnose validate-negotiate``, and its exit codes still cover every
diagnosis status."""

from __future__ import annotations

import subprocess
import sys

from toolkit.cli.smb_cmd import EXIT_BY_DIAGNOSIS
from toolkit.smb.diagnose import DiagnosisStatus


def test_every_diagnosis_status_has_its_exit_code() -> None:
    assert {EXIT_BY_DIAGNOSIS[s] for s in DiagnosisStatus} == {0, 4, 8}
    assert set(EXIT_BY_DIAGNOSIS) == {s.value for s in DiagnosisStatus}


def test_the_probe_command_does_not_import_the_diagnosis() -> None:
    code = (
        "import sys, toolkit.cli.smb_cmd; "
        "print(sorted(m for m in sys.modules if m in ('toolkit.smb.diagnose', 'smbprotocol', 'toolkit.fanout.runner')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
