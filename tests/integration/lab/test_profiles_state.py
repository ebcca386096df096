"""OS profiles as a client reads them over WinRM (docs/windows-facts.md#os-currentversion-values, #smbshare-availability) and registry persistence
across lab restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypsrp.complex_objects import PSInvocationState
from pypsrp.powershell import PowerShell

from tests.integration.lab.conftest import CV, PASSWORD, WS, host_of, invoke, open_pool, props, start_fleet
from toolkit.lab.fleet import Fleet
from toolkit.lab.profiles import PROFILE_NAMES, get_profile


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_current_version_matches_domain_5(fleet: Fleet, name: str) -> None:
    profile = get_profile(name)
    with open_pool(host_of(fleet, f"os-{name}")) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Get-ItemProperty").add_argument(CV)
        ps.add_statement()
        ps.add_cmdlet("Get-SmbClientConfiguration")
        out = invoke(ps)
    cv = props(out[0])
    assert cv["CurrentBuild"] == cv["CurrentBuildNumber"] == str(profile.build)
    assert cv["ProductName"] == profile.product_name
    assert cv["InstallationType"] == profile.installation_type
    expected_version = {7601: "6.1", 9200: "6.2"}.get(profile.build, "6.3")
    assert cv["CurrentVersion"] == expected_version
    if profile.build >= 10240:
        assert cv["CurrentMajorVersionNumber"] == 10
    else:
        assert "CurrentMajorVersionNumber" not in cv
    if profile.build >= 22000 and not profile.is_server:
        assert cv["ProductName"].startswith("Windows 10")  # docs/windows-facts.md#os-windows11-by-build
    if profile.build >= 20000:
        assert "DisplayVersion" in cv
    if profile.build == 7601:
        # No SmbShare module (docs/windows-facts.md#smbshare-availability); the structured pipeline fails on the unknown command.
        assert ps.state == PSInvocationState.FAILED
        assert [e.fq_error for e in ps.streams.error] == ["CommandNotFoundException"]
    else:
        assert ps.state == PSInvocationState.COMPLETED
        assert len(out) == 2 and out[1].types[0].endswith("MSFT_SmbClientConfiguration")


def test_registry_survives_a_restart_with_state_dir(tmp_path: Path) -> None:
    spec = f'users: [{{name: admin, password: "{PASSWORD}", admin: true}}]\nhosts: [{{name: keep, profile: win81}}]\n'
    lab = start_fleet(spec, state_dir=tmp_path)
    try:
        with open_pool(lab.hosts[0]) as rp:
            ps = PowerShell(rp)
            ps.add_cmdlet("Set-ItemProperty").add_parameter("Path", WS).add_parameter(
                "Name", "RequireSecureNegotiate"
            )
            ps.add_parameter("Value", 0).add_parameter("Type", "DWord")
            invoke(ps)
            assert not ps.streams.error
    finally:
        lab.stop()
    assert (tmp_path / "keep.json").exists()

    lab = start_fleet(spec, state_dir=tmp_path)
    try:
        with open_pool(lab.hosts[0]) as rp:
            ps = PowerShell(rp)
            ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter(
                "Name", "RequireSecureNegotiate"
            )
            (obj,) = invoke(ps)
        assert props(obj)["RequireSecureNegotiate"] == 0
    finally:
        lab.stop()
