"""Kerberos and Negotiate-with-a-ticket on both clients, against lab hosts with Kerberos keys
and a real MIT KDC (tests/support/kdc.py; skipped with the reason when its tools are missing).
The inventory holds no password, so a host that answers was reached with the ticket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kdc import LAB_HOSTS, Kdc, kdc
from toolkit.checks.probe import AUDIT_STATEMENTS, parse_facts
from toolkit.inventory.credentials import resolve_credentials
from toolkit.inventory.loader import load_inventory
from toolkit.lab.fleet import Fleet
from toolkit.lab.kerberos import KerberosLabConfig, kerberos_unavailable_reason
from toolkit.lab.spec import loads_spec
from toolkit.transport.lean import auth as lean_auth
from toolkit.transport.select import open_session

__all__ = ["kdc"]

pytestmark = pytest.mark.skipif(
    kerberos_unavailable_reason() is not None, reason=str(kerberos_unavailable_reason())
)

SPEC = """
users:
  - {name: admin, password: 'Adm1n-Lab!', admin: true}
hosts:
  - {name: krb, profile: server2019, auth: kerberos}
  - {name: nego, profile: server2022, auth: negotiate}
"""
HOSTNAMES = dict(zip(("krb", "nego"), list(LAB_HOSTS)[:2], strict=True))


@pytest.fixture(scope="module")
def inventory(kdc: Kdc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("krb-both")
    config = KerberosLabConfig(realm=kdc.realm, keytab=kdc.keytab, hostnames=HOSTNAMES)
    with pytest.MonkeyPatch.context() as env:
        for name, value in kdc.environ.items():
            if name != "KRB5_KTNAME":
                env.setenv(name, value)
        env.delenv("KRB5_KTNAME", raising=False)
        env.delenv("NTLM_USER_FILE", raising=False)
        lean_auth.forget_tickets()
        with Fleet(loads_spec(SPEC, "krb-both.yml"), workdir=work / "lab", kerberos=config) as fleet:
            path = work / "lab.yml"
            fleet.write_inventory(path)
            yield path
        lean_auth.forget_tickets()


@pytest.mark.parametrize("transport", ["lean", "pypsrp"])
@pytest.mark.parametrize("name", ["krb", "nego"])
def test_ticket_logons_on_both_clients(inventory: Path, transport: str, name: str) -> None:
    assert "password" not in inventory.read_text()
    inv = load_inventory(inventory)
    credentials = resolve_credentials(inv.hosts, interactive=False, env={})
    host = inv.host(name)
    with open_session(
        host, credentials[name], deadline=time.monotonic() + 30, transport=transport
    ) as session:
        facts = parse_facts(session.run(AUDIT_STATEMENTS))
    assert session.transport == transport
    assert facts.current_version.value("CurrentBuild") is not None, json.dumps(name)
