"""A small audit run with every kind of host a renderer must handle."""

from __future__ import annotations

from toolkit.checks.facts import HostFacts, KeyFacts, RegValue
from toolkit.checks.verdicts import evaluate, host_status
from toolkit.inventory.model import Policy
from toolkit.results import AuditRun, ErrorKind, HostError, HostResult, HostStatus, OsInfo

OS_2012R2 = OsInfo(
    "Windows Server 2012 R2", 9600, "Windows Server 2012 R2 (9600)", installation_type="Server"
)
OS_2022 = OsInfo("Windows Server 2022", 20348, "Windows Server 2022 (20348.2322)", installation_type="Server")


def _assessed(
    name: str, address: str, os: OsInfo, workstation: dict[str, RegValue], server: dict[str, RegValue]
) -> HostResult:
    facts = HostFacts(KeyFacts(True), KeyFacts(True, workstation), KeyFacts(True, server))
    checks = evaluate(facts, Policy(), os=os)
    return HostResult(name, address, host_status(checks), os=os, checks=checks, duration_s=0.25)


def sample_run() -> AuditRun:
    hosts = (
        _assessed(
            "fs01",
            "10.0.0.11",
            OS_2012R2,
            {
                "RequireSecureNegotiate": RegValue("String", "0"),
                "RequireSecuritySignature": RegValue("DWord", 1),
            },
            {
                "RequireSecuritySignature": RegValue("DWord", 1),
                "EnableSecuritySignature": RegValue("DWord", 1),
            },
        ),
        _assessed(
            "dc01",
            "10.0.0.12",
            OS_2022,
            {"RequireSecuritySignature": RegValue("DWord", 1)},
            {"RequireSecuritySignature": RegValue("DWord", 1)},
        ),
        HostResult(
            "büro-<7>&",
            "10.0.0.13",
            HostStatus.UNREACHABLE,
            error=HostError(ErrorKind.UNREACHABLE, 'connect "refused" | <port 5985>\x1b[0m\nretry later'),
        ),
    )
    return AuditRun(
        hosts=hosts,
        started="2025-06-01T10:00:00Z",
        finished="2025-06-01T10:00:05Z",
        inventory="fleet.yml",
        version="0.1.0",
    )
