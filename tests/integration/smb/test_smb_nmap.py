"""psfleet's signing line is nmap smb2-security-mode's, word for word, for the same server:
run nmap itself against real smbd and against lab hosts (skipped where nmap is missing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.smb.cli_helpers import SRV
from tests.support.nmap import INSTALL_HINT, find_nmap, run_smb2_security_mode, run_smb_protocols
from tests.support.samba import SambaServer
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec
from toolkit.smb.probe import probe_smb

REQUIRED = "Message signing enabled and required"
NOT_REQUIRED = "Message signing enabled but not required"

pytestmark = [
    pytest.mark.samba,
    pytest.mark.skipif(find_nmap() is None, reason=f"nmap not installed ({INSTALL_HINT})"),
]


@pytest.mark.parametrize("fixture", ["samba_signing_required", "samba_signing_disabled", "samba_smb3_02"])
def test_psfleet_says_what_nmap_says(fixture: str, request: pytest.FixtureRequest) -> None:
    server: SambaServer = request.getfixturevalue(fixture)

    nmap = run_smb2_security_mode([server.host], server.port)[server.host]
    probe = probe_smb(server.host, server.port, timeout=10)

    assert probe.signing_text == nmap.text
    assert probe.dialect == nmap.dialect
    # Where psfleet knows more: the same phrase per dialect, for every dialect the server speaks.
    by_dialect = {d.dialect: d.text for d in probe.per_dialect if d.supported}
    assert by_dialect[nmap.dialect] == nmap.text


LAB_SPEC = f"""users:
  - {{name: admin, password: 'Adm1n-Lab!', admin: true}}
hosts:
  - {{name: ws-win10, profile: win10}}
  - {{name: fs-2012r2, profile: server2012r2}}
  - name: dc-2022
    profile: server2022
    registry:
      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
"""


def test_nmap_reads_the_lab_as_psfleet_does(tmp_path: Path) -> None:
    with Fleet(loads_spec(LAB_SPEC, "nmap-lab.yml"), addressing="port", workdir=tmp_path) as fleet:
        seen = {}
        for host in fleet.hosts:
            assert host.smb_port
            nmap = run_smb2_security_mode([host.address], host.smb_port)[host.address]
            probe = probe_smb(host.address, host.smb_port, timeout=10, per_dialect=())
            seen[host.name] = (nmap.dialect, nmap.text, probe.dialect, probe.signing_text)

    assert seen == {
        "ws-win10": ("3.1.1", NOT_REQUIRED, "3.1.1", NOT_REQUIRED),
        "fs-2012r2": ("3.0.2", NOT_REQUIRED, "3.0.2", NOT_REQUIRED),
        "dc-2022": ("3.1.1", REQUIRED, "3.1.1", REQUIRED),
    }


SMB1_SPEC = """users:
  - {name: admin, password: 'Adm1n-Lab!', admin: true}
hosts:
  - {name: old-win7, profile: win7}
  - {name: fs-2012, profile: server2012}
  - {name: ws-win10, profile: win10}
"""


def test_nmap_smb_protocols_sees_the_same_smb1_and_dialects(tmp_path: Path, samba_smb1: SambaServer) -> None:
    seen = {}
    with Fleet(loads_spec(SMB1_SPEC, "nmap-smb1.yml"), addressing="port", workdir=tmp_path) as fleet:
        targets = [(h.name, h.address, h.smb_port or 0) for h in fleet.hosts]
        targets.append(("samba-nt1", samba_smb1.host, samba_smb1.port))
        for name, address, port in targets:
            nmap = run_smb_protocols([address], port)[address]
            probe = probe_smb(address, port, timeout=10)
            assert probe.smb1 is not None
            seen[name] = (nmap, (probe.smb1.accepted, probe.server_dialects))

    for name, (nmap, psfleet) in seen.items():
        assert psfleet == nmap, name
    assert seen["old-win7"][1] == (True, ("2.0.2", "2.1"))
    assert seen["ws-win10"][1][0] is False
    assert seen["samba-nt1"][1][0] is True
