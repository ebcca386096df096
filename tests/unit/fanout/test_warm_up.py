"""What a run imports before its first host: the clients its hosts are served by, no more.

Importing a client inside a host's run would spend that host's deadline (and the lockout
guard's patience) on starting Python, so a run warms its clients first; but pypsrp's client
(pypsrp.client, requests...) costs every worker process CPU, and a run the lean client
serves needs it only for a host that falls back (that host imports it then). The run is
checked in a fresh interpreter, where nothing imported either client before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from toolkit.inventory.model import Host, Transport
from toolkit.transport.clients import CLIENT_MODULES, client_modules

LEAN = CLIENT_MODULES["lean"]
PYPSRP = CLIENT_MODULES["pypsrp"]


def host(name: str, **transport: str) -> Host:
    return Host(name, "192.0.2.1", replace(Transport(), **transport))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ([host("a"), host("b", auth="ntlm")], (LEAN,)),  # the default path: lean only
        ([host("a"), host("b", transport="pypsrp")], (LEAN, PYPSRP)),  # one host pinned to pypsrp
        ([host("a", auth="credssp")], (PYPSRP,)),  # an auth only pypsrp speaks: auto serves it there
        ([host("a", auth="basic")], (PYPSRP,)),  # basic over plain HTTP: pypsrp's to refuse or not
        ([host("a", auth="basic", scheme="https")], (LEAN,)),
        ([host("a", auth="credssp", transport="lean")], ()),  # refused before any client
        ([], ()),
    ],
)
def test_a_run_warms_the_clients_its_hosts_are_served_by(
    hosts: list[Host], expected: tuple[str, ...]
) -> None:
    assert client_modules(hosts) == expected


RUN = """
import sys
from toolkit.fanout.runner import FanoutOptions, run_hosts
from toolkit.inventory.model import Host, Transport
from toolkit.results import HostResult, HostStatus

seen = []

def task(host, deadline):
    seen.append(sorted(m for m in ({modules!r}) if m in sys.modules))
    return HostResult(host.name, host.address, HostStatus.COMPLIANT)

hosts = [Host("a", "192.0.2.1", Transport(transport={first!r})), Host("b", "192.0.2.2")]
results, _ = run_hosts(hosts, task, options=FanoutOptions(processes=1))
assert [r.status for r in results] == [HostStatus.COMPLIANT] * 2
print(seen[0])
"""


@pytest.mark.parametrize(("first", "imported"), [("auto", [LEAN]), ("pypsrp", sorted([LEAN, PYPSRP]))])
def test_hosts_find_their_client_imported_and_pypsrp_only_when_a_host_is_pinned_to_it(
    first: str, imported: list[str]
) -> None:
    code = textwrap.dedent(RUN).format(modules=(LEAN, PYPSRP), first=first)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(imported)


NO_CREDENTIALS = """
import sys
from toolkit.fanout.lockout import CredentialGate
from toolkit.fanout.runner import FanoutOptions, run_hosts
from toolkit.inventory.model import Host
from toolkit.results import HostResult, HostStatus

def task(host, deadline):
    return HostResult(host.name, host.address, HostStatus.COMPLIANT)

hosts = [Host("a", "192.0.2.1"), Host("b", "192.0.2.2")]
results, _ = run_hosts(hosts, task, options=FanoutOptions(processes=1), gate=CredentialGate(enabled=False))
assert [r.status for r in results] == [HostStatus.COMPLIANT] * 2
print(sorted(m for m in ({modules!r}) if m in sys.modules))
"""


def test_a_run_that_sends_no_credentials_imports_no_winrm_client() -> None:
    """The SMB probe's run (no credential gate: it logs on nowhere) starts without importing
    either WinRM client, so `psfleet probe smb` does not pay for them."""
    code = textwrap.dedent(NO_CREDENTIALS).format(modules=(LEAN, PYPSRP))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
