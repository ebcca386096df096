"""`psfleet audit` over Kerberos, end to end: real KDC, lab hosts with keytabs, the real CLI.

The lab serves in this process; psfleet runs as a subprocess with only the KDC's krb5.conf and
a ticket cache (KRB5_CONFIG, KRB5CCNAME), as on a domain-joined Linux admin box. No password
is in the inventory, its directory or the environment. Each Kerberos failure must give status
``auth_failed``, the reason and fix documented in docs/kerberos.md, and exit code 8; when every
host shares the failing credential, the lockout guard tries it on the first host(s) only and
reports the rest ``not_attempted`` with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.support.kdc import LAB_HOSTS, ExpiringTicket, Kdc, free_port
from toolkit.api import audit as api_audit
from toolkit.fanout.lockout import PROBE_HOSTS
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.credentials import Credential, resolve_credentials
from toolkit.inventory.loader import load_inventory
from toolkit.lab.fleet import Fleet
from toolkit.lab.kerberos import KerberosLabConfig
from toolkit.lab.spec import loads_spec
from toolkit.transport.select import with_transport

pytestmark = pytest.mark.kerberos

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
LAB_PASSWORD = "Adm1n-Lab!"  # the lab's NTLM password; must never reach a Kerberos inventory
#: lab host -> the name in its SPNs (keys in the KDC, each host's keytab holds only its own)
HOSTNAMES = dict(zip(("krb-compliant", "krb-drift", "nego-ticket"), LAB_HOSTS, strict=True))

SPEC = f"""\
users:
  - {{name: LAB\\admin, password: '{LAB_PASSWORD}', admin: true}}
hosts:
  - name: krb-compliant
    profile: server2019
    auth: kerberos
    registry:
      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
  - name: krb-drift
    profile: server2012r2
    auth: kerberos
  - name: nego-ticket
    profile: server2022
    auth: negotiate
"""

MIXED_SPEC = f"""\
users:
  - {{name: admin, password: '{LAB_PASSWORD}', admin: true}}
hosts:
  - {{name: krb-compliant, profile: server2019, auth: kerberos}}
  - {{name: ntlm-only, profile: server2019, auth: negotiate}}
"""


@dataclass
class KerberosLab:
    kdc: Kdc
    fleet: Fleet
    inventory: Path
    ticket: str  # KRB5CCNAME of the admin's fresh TGT
    expiring: ExpiringTicket

    def env(self, ccache: str | None = None) -> dict[str, str]:
        """The admin box's environment: the realm's krb5.conf and a ticket cache, nothing else."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KRB5", "PSFLEET_", "NTLM_")) and k != "LD_PRELOAD"
        }
        env.update(
            KRB5_CONFIG=str(self.kdc.krb5_conf), KRB5CCNAME=ccache or self.ticket, PSFLEET_NO_PROGRESS="1"
        )
        return env

    def port(self, name: str) -> int:
        return next(h.port for h in self.fleet.hosts if h.name == name)


def lab_keytabs(kdc: Kdc) -> dict[str, Path]:
    """Each lab host's own keytab: only its HTTP/ and host/ keys, as a computer account has."""
    return {name: kdc.host_keytab(fqdn, kdc.root / f"{name}.keytab") for name, fqdn in HOSTNAMES.items()}


@pytest.fixture(scope="module")
def lab(
    kdc: Kdc, expiring_ticket: ExpiringTicket, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KerberosLab]:
    work = tmp_path_factory.mktemp("krb-audit")
    ticket = kdc.kinit(ccache=work / "admin.ccache")
    config = KerberosLabConfig(realm=kdc.realm, hostnames=HOSTNAMES, keytabs=lab_keytabs(kdc))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KRB5RCACHEDIR", str(kdc.root))  # the lab's replay cache stays in the temp dir
        with Fleet(loads_spec(SPEC, "krb-lab.yml"), workdir=work / "lab", kerberos=config) as fleet:
            inventory = work / "inv" / "lab.yml"
            fleet.write_inventory(inventory)
            yield KerberosLab(kdc, fleet, inventory, ticket, expiring_ticket)


def audit(
    lab: KerberosLab,
    inventory: Path,
    *hosts: str,
    ccache: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[int, dict[str, dict[str, object]], str]:
    """``psfleet audit --format json`` in a subprocess; returns (exit code, hosts by name, stderr)."""
    argv = [sys.executable, "-c", "from toolkit.cli import main; main()", "audit", "-i", str(inventory)]
    argv += ["--format", "json", "--timeout", "10", "--retries", "0", "--no-input"]
    for host in hosts:
        argv += ["--limit", host]
    env = {**lab.env(ccache), **(extra_env or {})}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.lstrip().startswith("{"), proc.stderr
    doc = json.loads(proc.stdout)
    return proc.returncode, {h["name"]: h for h in doc["hosts"]}, proc.stderr


def auth_failure(hosts: dict[str, dict[str, object]], name: str) -> str:
    """The one-line ``auth_failed`` message of ``name``, without its ``... on HOST:PORT: `` prefix."""
    host = hosts[name]
    assert host["status"] == "auth_failed", host
    error = host["error"]
    assert isinstance(error, dict) and error["kind"] == "auth_failed"
    message = str(error["message"])
    assert "Traceback" not in message and "\n" not in message
    prefix = f"authentication failed on {host['address']}:"
    assert message.startswith(prefix), message
    return message.split(": ", 1)[1]


def lockout_split(
    statuses: dict[str, str], errors: dict[str, tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """(hosts that tried the credential, hosts the lockout guard then kept from it). A credential
    that fails to log on is tried on at most PROBE_HOSTS hosts; every other host of that
    credential is ``not_attempted``, with a message naming where it failed and what to do.
    ``errors``: host -> (error kind, message) for the not-tried hosts."""
    tried = sorted(name for name, status in statuses.items() if status == "auth_failed")
    held = sorted(name for name, status in statuses.items() if status == "not_attempted")
    assert sorted(tried + held) == sorted(statuses), statuses
    assert 1 <= len(tried) <= PROBE_HOSTS, statuses
    for name in held:
        kind, message = errors[name]
        assert kind == "not_attempted"
        assert message.startswith("not attempted: the credential "), message
        assert "so that the account is not locked out" in message and message.endswith(
            "Fix the credential and run again"
        )
        assert all(failed in message for failed in tried), message
    return tried, held


def test_fleet_inventory_names_spns_and_holds_no_password(lab: KerberosLab) -> None:
    text = lab.inventory.read_text()

    assert "password" not in text and "username" not in text
    assert not list(lab.inventory.parent.glob("*.secrets"))
    for name, fqdn in HOSTNAMES.items():
        assert f'negotiate_hostname_override: "{fqdn}"' in text, name
    assert text.count('negotiate_service: "HTTP"') == len(HOSTNAMES)
    assert [h.auth for h in lab.fleet.hosts] == ["kerberos", "kerberos", "negotiate"]
    assert all(h.password == "" for h in lab.fleet.hosts)


def test_audit_with_a_ticket_and_no_password(lab: KerberosLab) -> None:
    requests: list[bytes] = []
    lab.fleet.server.on_exchange = lambda request, _reply: requests.append(request)
    try:
        code, hosts, stderr = audit(lab, lab.inventory)
    finally:
        lab.fleet.server.on_exchange = None

    statuses = {name: h["status"] for name, h in hosts.items()}
    # kerberos and negotiate (which picks Kerberos with a ticket) alike; LAB\admin is admin@PSFLEET.TEST
    assert statuses == {"krb-compliant": "compliant", "krb-drift": "drift", "nego-ticket": "drift"}, stderr
    assert code == 4
    # Every SOAP body arrived wrapped with the Kerberos session key and decrypted in the lab.
    assert requests and all(b"<s:Envelope" in request for request in requests)
    assert all(lab.fleet.endpoint(name).kerberos is not None for name in HOSTNAMES)


@pytest.mark.parametrize("transport", ["lean", "pypsrp"])
def test_ntlm_hosts_still_work_next_to_kerberos_hosts(krb_env: Kdc, tmp_path: Path, transport: str) -> None:
    # Only krb-compliant has keys; ntlm-only (auth: negotiate, as lab inventories keep it) has no
    # SPN in the KDC, so Negotiate must fall back to NTLM with its password file although the
    # admin holds a ticket. In process (toolkit.api), with the admin's ticket from krb_env: the
    # CLI path is covered above.
    config = KerberosLabConfig(
        realm=krb_env.realm,
        hostnames={"krb-compliant": HOSTNAMES["krb-compliant"]},
        keytab=lab_keytabs(krb_env)["krb-compliant"],
    )
    with Fleet(loads_spec(MIXED_SPEC, "mixed.yml"), workdir=tmp_path / "lab", kerberos=config) as fleet:
        inventory_path = tmp_path / "mixed.yml"
        fleet.write_inventory(inventory_path)
        inventory = with_transport(load_inventory(inventory_path), transport)
        credentials = resolve_credentials(inventory.hosts, interactive=False, env={})
        run = api_audit(inventory, credentials=credentials, options=FanoutOptions(timeout=10, retries=0))

    assert {h.name: h.status.value for h in run.hosts} == {"krb-compliant": "drift", "ntlm-only": "drift"}, [
        h.error for h in run.hosts
    ]
    assert [h.auth for h in fleet.hosts] == ["kerberos", "negotiate"]
    assert [h.transport.auth for h in inventory.hosts] == ["kerberos", "negotiate"]
    assert credentials["krb-compliant"] == Credential(None, None)
    assert credentials["ntlm-only"].password == LAB_PASSWORD
    assert inventory_path.read_text().count("password_file") == 1


def test_spn_mistakes(lab: KerberosLab, tmp_path: Path) -> None:
    # Three more inventory entries for krb-drift's listener, each with a naming mistake.
    port = lab.port("krb-drift")
    entries = {
        "typo": 'negotiate_service: "HTTP"\n    negotiate_hostname_override: "lab-99.psfleet.test"',
        # connected by address, no override: pypsrp asks for host/127.0.0.1
        "by-address": "scheme: http",
        # a name the KDC knows, but whose key krb-drift (lab-02) does not hold
        "other-host": 'negotiate_service: "HTTP"\n    negotiate_hostname_override: "lab-03.psfleet.test"',
    }
    text = lab.inventory.read_text()
    for name, settings in entries.items():
        text += (
            f'  "{name}":\n    address: "127.0.0.1"\n    port: {port}\n    auth: kerberos\n    {settings}\n'
        )
    inventory = tmp_path / "mistakes.yml"
    inventory.write_text(text)

    code, hosts, _ = audit(lab, inventory, "krb-compliant", *entries)

    assert code == 8  # compliant + not assessed
    assert hosts["krb-compliant"]["status"] == "compliant"
    fix = (
        "set negotiate_hostname_override to the host's FQDN and negotiate_service to HTTP or host "
        "(setspn -L <computer> lists its SPNs)"
    )
    assert auth_failure(hosts, "typo") == (
        f"the KDC has no service principal HTTP/lab-99.psfleet.test@PSFLEET.TEST; {fix}"
    )
    assert auth_failure(hosts, "by-address") == (
        f"the KDC has no service principal host/127.0.0.1@PSFLEET.TEST; {fix}"
    )
    assert auth_failure(hosts, "other-host") == (
        "the host refused the Kerberos ticket for HTTP/lab-03.psfleet.test; check the host's clock "
        "and that no other computer holds that SPN (setspn -Q HTTP/lab-03.psfleet.test), then "
        "kdestroy; kinit"
    )


def test_no_ticket(lab: KerberosLab, tmp_path: Path) -> None:
    missing = f"FILE:{tmp_path / 'never-kinit.ccache'}"

    expected = f"no Kerberos ticket (run kinit); the cache {missing} has none"

    code, hosts, _ = audit(lab, lab.inventory, ccache=missing)

    assert code == 8
    statuses = {name: str(h["status"]) for name, h in hosts.items()}
    errors = {}
    for name, host in hosts.items():
        error = host["error"]
        assert isinstance(error, dict)
        errors[name] = (str(error["kind"]), str(error["message"]))
    tried, held = lockout_split(statuses, errors)
    for name in tried:
        assert auth_failure(hosts, name) == expected
    for name in held:  # kerberos and negotiate alike: each host on its own says the same
        code, alone, _ = audit(lab, lab.inventory, name, ccache=missing)
        assert code == 8 and auth_failure(alone, name) == expected


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="apt-get install -y libfaketime")
def test_clock_skew(lab: KerberosLab, tmp_path: Path) -> None:
    # A fresh TGT (no service ticket cached yet), used from a clock 10 minutes ahead of the KDC.
    fresh = lab.kdc.kinit(ccache=tmp_path / "fresh.ccache")
    skewed = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "+600", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    code, hosts, _ = audit(lab, lab.inventory, "krb-drift", ccache=fresh, extra_env=skewed)

    assert code == 8
    assert auth_failure(hosts, "krb-drift") == (
        "clock skew too great between this machine and the KDC; fix NTP here, or run kinit again"
    )


def test_expired_ticket(lab: KerberosLab) -> None:
    expired = lab.expiring.wait()  # usually no wait: the tests above took longer

    code, hosts, _ = audit(lab, lab.inventory, "krb-drift", ccache=expired)

    assert code == 8
    assert auth_failure(hosts, "krb-drift") == (
        "the Kerberos ticket has expired; run kinit (or kinit -R while it is renewable)"
    )


def test_kdc_unreachable(lab: KerberosLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In process (toolkit.api) to stay fast: a krb5.conf whose KDC port nobody listens on, and a
    # fresh TGT (the service ticket must still be asked for). auth: kerberos hosts only, so no
    # host can fall back to NTLM once Kerberos fails.
    dead = tmp_path / "krb5.conf"
    dead.write_text(lab.kdc.krb5_conf.read_text().replace(f":{lab.kdc.port}", f":{free_port()}"))
    monkeypatch.setenv("KRB5_CONFIG", str(dead))
    monkeypatch.setenv("KRB5CCNAME", lab.kdc.kinit(ccache=tmp_path / "fresh.ccache"))
    loaded = load_inventory(lab.inventory)
    inventory = replace(loaded, hosts=tuple(h for h in loaded.hosts if h.transport.auth == "kerberos"))
    credentials = resolve_credentials(inventory.hosts, interactive=False, env={})

    options = FanoutOptions(timeout=10, retries=0)
    expected = ": cannot reach a KDC for realm PSFLEET.TEST; check krb5.conf ([realms], dns_lookup_kdc) and the network"

    run = api_audit(inventory, credentials=credentials, options=options)

    assert run.exit_code == 8
    assert len(run.hosts) == 2
    statuses = {h.name: h.status.value for h in run.hosts}
    errors = {h.name: (h.error.kind.value, h.error.message) for h in run.hosts if h.error is not None}
    tried, held = lockout_split(statuses, errors)
    by_name = {h.name: h for h in run.hosts}
    for name in tried:
        assert errors[name][1].endswith(expected), errors[name]
    for name in held:  # on its own, the host says the same
        alone = replace(inventory, hosts=tuple(h for h in inventory.hosts if h.name == name))
        host = api_audit(alone, credentials=credentials, options=options).hosts[0]
        assert host.status.value == "auth_failed" and host.error is not None, by_name[name]
        assert host.error.message.endswith(expected), host.error
