"""Fixtures for the lab's end-to-end tests: in-process fleets on 127.0.0.1 driven by the real
pypsrp client over TCP (nothing mocked).

``fleet`` is one session-wide fleet with a host per OS profile, an HTTPS/Basic host and the
hosts the cmdlet tests write to; ``fault_fleet`` has one host per fault kind. Tests that need
fresh state (flaky counters, persistence) start their own fleet with :func:`start_fleet`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from toolkit.lab.fleet import Fleet, FleetHost
from toolkit.lab.profiles import PROFILE_NAMES
from toolkit.lab.spec import FaultSpec, LabSpec, loads_spec
from toolkit.transport.values import TypedSerializer

PASSWORD = "Lab-P@ss-1"
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
CV = r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
SMB_CLIENT_CHANNELS = (
    "Microsoft-Windows-SMBClient/Connectivity",
    "Microsoft-Windows-SMBClient/Security",
    "Microsoft-Windows-SMBClient/Operational",
)

_PROFILE_HOSTS = "\n".join(f"  - {{name: os-{name}, profile: {name}}}" for name in PROFILE_NAMES)

MAIN_SPEC = f"""
users:
  - {{name: admin, password: "{PASSWORD}", admin: true}}
  - {{name: reader, password: "{PASSWORD}", admin: false}}
hosts:
  - name: cmd
    profile: server2012r2
    count: 6
    events:
      - {{id: 31012, log: Microsoft-Windows-SMBClient/Connectivity, count: 3, days_ago: 1}}
      - {{id: 30803, log: Microsoft-Windows-SMBClient/Operational, count: 2, days_ago: 2}}
  - name: big
    profile: server2019
    events:
      - {{id: 31012, log: Microsoft-Windows-SMBClient/Connectivity, count: 300, days_ago: 1}}
  - {{name: tls, profile: server2019, scheme: https, auth: basic}}
{_PROFILE_HOSTS}
"""

FAULT_SPEC = f"""
users:
  - {{name: admin, password: "{PASSWORD}", admin: true}}
hosts:
  - {{name: refuse, fault: refuse}}
  - {{name: reset, fault: reset}}
  - {{name: hang, fault: hang}}
  - {{name: slow, fault: {{kind: slow, ms: 150}}}}
  - {{name: fast}}
  - {{name: h500, fault: http500}}
  - {{name: authfail, fault: auth_fail}}
  - {{name: nonadmin}}
"""


def with_fault(spec: LabSpec, host: str, fault: FaultSpec) -> LabSpec:
    """``spec`` with ``fault`` on ``host`` (for kinds the YAML loader does not accept)."""
    hosts = tuple(dataclasses.replace(h, fault=fault) if h.name == host else h for h in spec.hosts)
    return dataclasses.replace(spec, hosts=hosts)


def start_fleet(spec: LabSpec | str, **kwargs: Any) -> Fleet:
    lab_spec = loads_spec(spec) if isinstance(spec, str) else spec
    return Fleet(lab_spec, addressing="port", **kwargs).start()


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    lab = start_fleet(MAIN_SPEC)
    yield lab
    lab.stop()


@pytest.fixture(scope="session")
def fault_fleet() -> Iterator[Fleet]:
    # non_admin is a transport-level fault the server implements (an admin logs on as a
    # standard user); the spec loader does not list it, so it is set here directly.
    spec = with_fault(loads_spec(FAULT_SPEC), "nonadmin", FaultSpec("non_admin"))
    lab = start_fleet(spec)
    yield lab
    lab.stop()


def host_of(lab: Fleet, name: str) -> FleetHost:
    return next(h for h in lab.hosts if h.name == name)


def wsman_for(host: FleetHost, **overrides: Any) -> WSMan:
    """A pypsrp WSMan for ``host`` as a user would configure it (lab CA for HTTPS)."""
    kwargs: dict[str, Any] = {
        "port": host.port,
        "ssl": host.scheme == "https",
        "auth": host.auth,
        "username": host.username,
        "password": host.password,
        "cert_validation": host.ca_file if host.ca_file else False,
        "connection_timeout": 5,
        "read_timeout": 10,
        "operation_timeout": 5,
    }
    kwargs.update(overrides)
    return WSMan(host.address, **kwargs)


def open_pool(host: FleetHost, *, typed: bool = False, **overrides: Any) -> RunspacePool:
    """An open pool; ``typed`` deserializes output with psrpcore (keeps Int32/Int64 etc.)."""
    pool = RunspacePool(wsman_for(host, **overrides))
    if typed:
        serializer = TypedSerializer()
        pool._serializer = serializer
        pool._fragmenter.serializer = serializer
    pool.open()
    return pool


@pytest.fixture
def pool(fleet: Fleet) -> Iterator[RunspacePool]:
    """A pool on ``cmd-01`` (server2012r2), closed after the test."""
    rp = open_pool(host_of(fleet, "cmd-01"))
    yield rp
    rp.close()


@pytest.fixture
def typed_pool(fleet: Fleet) -> Iterator[RunspacePool]:
    rp = open_pool(host_of(fleet, "cmd-01"), typed=True)
    yield rp
    rp.close()


def props(obj: Any) -> dict[str, Any]:
    """Every property of a pypsrp-deserialized object."""
    return {**getattr(obj, "adapted_properties", {}), **getattr(obj, "extended_properties", {})}


def invoke(ps: PowerShell) -> list[Any]:
    out = ps.invoke()
    ps.close()
    return list(out)


def error_summary(ps: PowerShell) -> list[tuple[str, str, str]]:
    """(FullyQualifiedErrorId, category name, message) of each record in the error stream."""
    return [(e.fq_error, e.category, e.message) for e in ps.streams.error]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]
