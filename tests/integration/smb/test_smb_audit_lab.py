"""`psfleet audit --with-probe` and `--events DAYS` against a lab fleet over real WinRM, with
the SMB side served by real smbd (docs/windows-facts.md#signing-server-value, docs/windows-facts.md#signing-either-side, docs/windows-facts.md#smbclient-events)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.smb.cli_helpers import SRV, WS, hosts_by_name, write_fleet_inventory
from tests.support.cli import run_cli
from tests.support.samba import SambaServer
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

CONNECTIVITY = "Microsoft-Windows-SMBClient/Connectivity"
SECURITY = "Microsoft-Windows-SMBClient/Security"
OPERATIONAL = "Microsoft-Windows-SMBClient/Operational"


def _server_signing(value: int) -> str:
    # Client signing required too, so that server signing alone decides compliant or drift.
    return (
        f"    registry:\n      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: {value}}}}}\n"
        f"      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}\n"
    )


SPEC = (
    "users:\n  - {name: admin, password: 'Adm1n-Lab!', admin: true}\nhosts:\n"
    # --with-probe: registry says required (1) or not (0); the inventory's smb_port decides
    # which smbd (signing mandatory / disabled) answers on the wire.
    + "  - name: req-match\n    profile: server2019\n"
    + _server_signing(1)
    + "  - name: req-mismatch\n    profile: server2019\n"
    + _server_signing(0)
    + "  - name: dis-match\n    profile: server2019\n"
    + _server_signing(0)
    + "  - name: dis-mismatch\n    profile: server2019\n"
    + _server_signing(1)
    + "  - name: no-smb\n    profile: server2019\n"
    + _server_signing(1)
    # --events: seeded SMB client events on a compliant host; one host with none; one OS
    # without the events.
    + "  - name: ev-81\n    profile: win81\n"
    + _server_signing(1)
    + "    events:\n"
    + f"      - {{id: 31012, log: {CONNECTIVITY}, count: 3, days_ago: 1}}\n"
    + f"      - {{id: 31013, log: {SECURITY}, count: 2, days_ago: 2}}\n"
    + f"      - {{id: 30804, log: {OPERATIONAL}, count: 4, days_ago: 6}}\n"
    + f"      - {{id: 30803, log: {CONNECTIVITY}, count: 5, days_ago: 20}}\n"
    + "  - name: ev-none\n    profile: server2022\n"
    + "  - name: ev-2008r2\n    profile: server2008r2\n"
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("smb-audit-lab")
    with Fleet(loads_spec(SPEC, "smb-audit.yml"), addressing="port", workdir=work) as f:
        yield f


@pytest.fixture
def events_inventory(fleet: Fleet, tmp_path: Path) -> Path:
    return write_fleet_inventory(fleet, tmp_path / "inventory.yml", {})


def test_events_counts_per_host_and_id(events_inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["audit", "-i", str(events_inventory), "--limit", "ev-*", "--events", "7", "--format", "json"]
    code, out, _ = run_cli([*args, "--timeout", "20"], capsys)

    doc = json.loads(out)
    hosts = hosts_by_name(doc)
    assert code == doc["run"]["exit_code"]  # events never change the exit code
    seeded = hosts["ev-81"]["events"]
    assert seeded["status"] == "counted"
    # 30803 is 20 days old: outside the 7-day window.
    assert seeded["counts"] == {"31012": 3, "31013": 2, "30803": 0, "30804": 4}
    assert seeded["total"] == 9 and seeded["flagged"] is True
    assert hosts["ev-81"]["status"] == "compliant"  # flagged events are not drift
    none = hosts["ev-none"]["events"]
    assert (
        none["status"] == "counted"
    )  # NoMatchingEventsFound is an empty result (docs/windows-facts.md#get-winevent-no-events)
    assert none["counts"] == {"31012": 0, "31013": 0, "30803": 0, "30804": 0} and none["flagged"] is False
    old = hosts["ev-2008r2"]["events"]
    assert old["status"] == "not_applicable" and old["summary"] == "n/a" and "9600" in old["reason"]
    # The registry audit is unaffected by the extra statement.
    for host in hosts.values():
        assert host["status"] in ("compliant", "drift")
        assert [c["id"] for c in host["checks"]] == ["secure_negotiate", "client_signing", "server_signing"]


def test_events_table_column(events_inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        ["audit", "-i", str(events_inventory), "--limit", "ev-*", "--events", "30"], capsys
    )

    assert code == 4  # the lab's default profiles drift on signing; events do not add to it
    header = out.splitlines()[0]
    assert "events" in header.split() and header.split()[-1] == "ERROR"
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.startswith("ev-")}
    assert "31012:3 31013:2 30803:5 30804:4" in rows["ev-81"]  # 30 days: 30803 counted now
    assert "31012:0 31013:0 30803:0 30804:0" in rows["ev-none"]
    assert rows["ev-2008r2"].rstrip().endswith("n/a")


def test_without_options_no_extra_sections(
    events_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run_cli(
        ["audit", "-i", str(events_inventory), "--limit", "ev-81", "--format", "json"], capsys
    )

    host = json.loads(out)["hosts"][0]
    assert "events" not in host and "probe" not in host


@pytest.mark.samba
def test_with_probe_flags_wire_registry_mismatch(
    fleet: Fleet,
    tmp_path: Path,
    samba_signing_required: SambaServer,
    samba_signing_disabled: SambaServer,
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    required, disabled = samba_signing_required.port, samba_signing_disabled.port
    inventory = write_fleet_inventory(
        fleet,
        tmp_path / "inventory.yml",
        {
            "req-match": required,
            "req-mismatch": required,
            "dis-match": disabled,
            "dis-mismatch": disabled,
            "no-smb": closed_port,
        },
    )
    base = ["audit", "-i", str(inventory), "--limit", "req-*,dis-*,no-smb", "--with-probe", "--timeout", "20"]

    code, out, _ = run_cli([*base, "--format", "json"], capsys)
    doc = json.loads(out)
    hosts = hosts_by_name(doc)
    probe = {name: h["probe"] for name, h in hosts.items()}
    assert {n: p["status"] for n, p in probe.items()} == {
        "req-match": "match",
        "req-mismatch": "mismatch",
        "dis-match": "match",
        "dis-mismatch": "mismatch",
        "no-smb": "unknown",
    }
    assert (
        probe["req-mismatch"]["wire_required"] is True and probe["req-mismatch"]["registry_required"] is False
    )
    assert probe["req-mismatch"]["flagged"] is True
    assert probe["req-mismatch"]["summary"] == "MISMATCH: wire required, registry not required"
    assert probe["dis-mismatch"]["summary"] == "MISMATCH: wire not required, registry required"
    assert probe["req-match"]["wire"]["port"] == required
    assert probe["no-smb"]["wire"]["error"]["kind"] == "unreachable"
    # A mismatch is reported, not drift: server_signing compliance follows the registry only.
    assert hosts["req-match"]["status"] == hosts["dis-mismatch"]["status"] == "compliant"
    assert hosts["req-mismatch"]["status"] == hosts["dis-match"]["status"] == "drift"
    assert code == doc["run"]["exit_code"]

    code, out, _ = run_cli(base, capsys)
    header = out.splitlines()[0].split()
    assert header[-2:] == ["wire_signing", "ERROR"]
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line and not line[0].isdigit()}
    assert "MISMATCH: wire required, registry not required" in rows["req-mismatch"]
    assert "match: required" in rows["req-match"]
    assert "match: not required" in rows["dis-match"]
    assert "unknown: wire unreachable" in rows["no-smb"]

    _, out, _ = run_cli([*base, "--format", "csv"], capsys)
    csv_rows = list(csv.DictReader(io.StringIO(out)))
    assert {r["host"]: r["wire_signing"] for r in csv_rows}["dis-mismatch"].startswith("MISMATCH")

    _, out, _ = run_cli([*base, "--format", "junit"], capsys)
    suite = ET.fromstring(out.split("\n", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["req-mismatch.wire_signing"].find("failure") is not None
    assert cases["req-match.wire_signing"].find("failure") is None
    assert cases["no-smb.wire_signing"].find("skipped") is not None

    _, out, _ = run_cli([*base, "--format", "markdown"], capsys)
    assert "| wire_signing" in out and "MISMATCH: wire required, registry not required" in out
