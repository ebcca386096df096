"""The fleet probe's renderers: relay-list, the SMB1 and who-answered columns, CSV columns."""

from __future__ import annotations

import csv
import io

from toolkit.report.probe import PROBE_RUN_HEADERS, probe_run_rows, relay_list, render_probe_run
from toolkit.smb.fleet import ProbeHost, ProbeRun, ProbeStatus
from toolkit.smb.ntlm import ServerIdentity
from toolkit.smb.probe import DialectSigning, NegotiateInfo, Smb1Support, SmbProbeResult

GUID = "766d0000-0000-0000-0000-000000000000"
WHO = ServerIdentity("FS01", "CONTOSO", "fs01.contoso.com", "contoso.com", "contoso.com", 10, 0, 20348)


def host(
    name: str,
    address: str,
    port: int,
    *,
    security_mode: int,
    per_dialect: tuple[DialectSigning, ...] = (),
    smb1: Smb1Support | None = None,
) -> ProbeHost:
    probe = SmbProbeResult(
        address,
        port,
        ("2.0.2", "3.1.1"),
        NegotiateInfo("3.1.1", 0x2F, security_mode, GUID),
        per_dialect,
        identity=WHO,
        smb1=smb1,
    )
    return ProbeHost(name, address, port, ProbeStatus.PROBED, probe)


def run(*hosts: ProbeHost) -> ProbeRun:
    return ProbeRun(hosts, "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00", "inv.yml", "0.1.0")


def test_relay_list_has_the_hosts_that_do_not_require_signing_anywhere() -> None:
    hosts = run(
        host("required", "10.0.0.1", 445, security_mode=0x03),
        host("not-required", "10.0.0.2", 445, security_mode=0x01),
        host("off-port", "10.0.0.3", 4455, security_mode=0x01),
        host("v6", "fd00::5", 4455, security_mode=0x01),
        # Required on the chosen dialect, but not on 2.0.2: relayable there.
        host(
            "weak-dialect",
            "10.0.0.4",
            445,
            security_mode=0x03,
            per_dialect=(
                DialectSigning("2.0.2", True, True, False),
                DialectSigning("3.1.1", True, True, True),
            ),
        ),
        # Required on SMB2, not on SMB1.
        host("weak-smb1", "10.0.0.5", 445, security_mode=0x03, smb1=Smb1Support(True, True, False)),
        # nmap's "Message signing is disabled!" (required without enabled) is still required.
        host("required-not-enabled", "10.0.0.6", 445, security_mode=0x02),
        ProbeHost("gone", "10.0.0.7", 445, ProbeStatus.UNREACHABLE),
    )

    assert relay_list(hosts).splitlines() == [
        "10.0.0.2",
        "10.0.0.3:4455",
        "[fd00::5]:4455",
        "10.0.0.4",
        "10.0.0.5",
    ]
    assert render_probe_run(hosts, "relay-list") == relay_list(hosts)


def test_table_rows_show_smb1_and_who_answered() -> None:
    rows = probe_run_rows(
        run(
            host("a", "10.0.0.1", 445, security_mode=0x01, smb1=Smb1Support(True, True, True)),
            host("b", "10.0.0.2", 445, security_mode=0x01, smb1=Smb1Support(False, note="closed")),
        )
    )
    cells = [dict(zip(PROBE_RUN_HEADERS, r, strict=True)) for r in rows]

    assert cells[0]["SIGNING"] == "Message signing enabled but not required"
    assert cells[0]["SMB1"] == "accepted (signing required)"
    assert cells[1]["SMB1"] == "no"
    assert cells[0]["ANSWERED BY"] == "FS01 (CONTOSO) fs01.contoso.com, 10.0.20348"


def test_csv_carries_smb1_identity_and_relay_columns() -> None:
    text = render_probe_run(
        run(host("a", "10.0.0.1", 445, security_mode=0x01, smb1=Smb1Support(True))), "csv"
    )
    (row,) = list(csv.DictReader(io.StringIO(text)))

    assert row["smb1_accepted"] == "true"
    assert row["netbios_computer"] == "FS01" and row["dns_domain"] == "contoso.com"
    assert row["os_version"] == "10.0.20348"
    assert row["relay_target"] == "true"
