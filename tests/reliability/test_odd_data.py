"""Odd but valid data is audited correctly: non-ASCII host names (native YAML and Ansible INI)
and registry values, IPv6 literal addresses (a lab host bound to ::1), a host listed in several
groups (reported once), empty groups, and very long values (a 20,000-character REG_SZ and a
large REG_MULTI_SZ where a DWORD belongs)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolkit.cli import main
from toolkit.lab.fleet import Fleet, _endpoint, _Plan
from toolkit.lab.server import LabServer
from toolkit.lab.spec import loads_spec

PASSWORD = "Odd-Data-Lab!"
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
LONG = "x" * 20_000
SPEC = f"""
users: [{{name: admin, password: '{PASSWORD}', admin: true}}]
hosts:
  - name: unicode-value
    profile: win81
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: "Réquïrе 必須 ✓"}}, RequireSecuritySignature: {{kind: DWord, value: 1}}}}
      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}, Sharé: {{kind: String, value: "välue"}}}}
  - name: long-value
    profile: server2012r2
    registry:
      '{WS}': {{RequireSecuritySignature: {{kind: String, value: "{LONG}"}}}}
      '{SRV}': {{RequireSecuritySignature: {{kind: MultiString, value: {json.dumps(["ä" * 500] * 40)}}}}}
  - name: plain
    profile: server2019
"""
NON_ASCII_NAMES = {"ünï-côdé": "plain", "日本-fs01": "unicode-value", "Ωmega": "long-value"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(loads_spec(SPEC, "odd.yml"), workdir=tmp_path_factory.mktemp("odd")) as f:
        yield f


@pytest.fixture(scope="module")
def ipv6_host(fleet: Fleet) -> Iterator[tuple[str, int]]:
    """One more lab host listening on [::1] (the lab server binds AF_INET6 for ':' addresses)."""
    spec = loads_spec(SPEC, "odd.yml")
    plan = _Plan(next(h for h in spec.hosts if h.name == "plain"), "::1", 0)
    endpoint = _endpoint(plan, spec, None)
    loop = asyncio.new_event_loop()
    server = LabServer([endpoint], list(spec.users))
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield "::1", endpoint.port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(exc.value.code or 0), out, err


@pytest.fixture
def inventory(
    fleet: Fleet, ipv6_host: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.setenv("PSFLEET_ODD_PW", PASSWORD)
    by_name = {h.name: h for h in fleet.hosts}
    hosts: dict[str, Any] = {}
    for alias, target in NON_ASCII_NAMES.items():
        hosts[alias] = {"address": by_name[target].address, "port": by_name[target].port, "auth": "ntlm"}
    hosts["v6"] = {"address": ipv6_host[0], "port": ipv6_host[1], "auth": "ntlm"}
    doc = {
        "defaults": {"username": "admin", "password_env": "PSFLEET_ODD_PW"},
        "groups": {
            "branch": {"hosts": ["ünï-côdé", "日本-fs01", "v6"]},
            "also": {"hosts": ["ünï-côdé", "v6", "Ωmega"]},  # duplicates across groups
            "empty": {"hosts": []},
        },
        "hosts": hosts,
    }
    path = tmp_path / "odd.yml"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")  # JSON is YAML
    return path


def checks(host: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["id"]: c for c in host["checks"]}


def test_odd_inventory_audited_once_each(inventory: Path, fleet: Fleet, capsys: Any) -> None:
    code, out, _ = cli(["audit", "-i", str(inventory), "--format", "json", "--timeout", "20"], capsys)
    doc = json.loads(out)
    names = [h["name"] for h in doc["hosts"]]
    assert sorted(names) == sorted([*NON_ASCII_NAMES, "v6"])  # each once, though in two groups
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert code == 4

    assert hosts["v6"]["status"] == "drift" and hosts["v6"]["address"] == "::1"
    assert hosts["ünï-côdé"]["status"] == "drift"

    unicode_value = checks(hosts["日本-fs01"])["secure_negotiate"]
    lab = fleet.sim("unicode-value").registry.get_value(WS, "RequireSecureNegotiate")
    assert lab == ("String", "Réquïrе 必須 ✓")
    assert unicode_value["status"] == "drift" and "Réquïrе 必須 ✓" in unicode_value["actual"]

    long_host = checks(hosts["Ωmega"])
    assert long_host["client_signing"]["status"] == "drift"  # a REG_SZ is not DWORD 1
    assert long_host["server_signing"]["status"] == "drift"  # nor is a REG_MULTI_SZ
    assert fleet.sim("long-value").registry.get_value(WS, "RequireSecuritySignature") == ("String", LONG)
    assert LONG in long_host["client_signing"]["actual"]  # JSON keeps the value whole


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "junit", "ndjson"])
def test_odd_data_in_every_format(inventory: Path, fmt: str, capsys: Any) -> None:
    code, out, err = cli(["audit", "-i", str(inventory), "--format", fmt, "--timeout", "20"], capsys)
    assert code == 4, err
    for name in [*NON_ASCII_NAMES, "v6"]:
        assert name in out
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {r["host"] for r in rows} == {*NON_ASCII_NAMES, "v6"}
    if fmt in ("table", "markdown"):
        assert len(out.splitlines()) < 20  # a long value stays on its row


def test_ansible_ini_with_unicode_and_ipv6(fleet: Fleet, ipv6_host: tuple[str, int], tmp_path: Path,
                                           capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("PSFLEET_ODD_PW", PASSWORD)
    plain = next(h for h in fleet.hosts if h.name == "plain")
    ini = tmp_path / "hosts.ini"
    ini.write_text(
        "[windows]\n"
        f"ünï-côdé ansible_host={plain.address} ansible_port={plain.port}\n"
        f"v6 ansible_host=::1 ansible_port={ipv6_host[1]}\n"
        "[servers]\nünï-côdé\n[empty]\n"
        "[all:vars]\nansible_user=admin\npsfleet_password_env=PSFLEET_ODD_PW\nansible_connection=psrp\n"
        "ansible_psrp_auth=ntlm\nansible_psrp_protocol=http\n",
        encoding="utf-8",
    )
    code, out, err = cli(["audit", "-i", str(ini), "--format", "json", "--timeout", "20"], capsys)
    assert code == 4, err
    hosts = {h["name"]: h for h in json.loads(out)["hosts"]} if out else {}
    assert sorted(hosts) == ["v6", "ünï-côdé"], err
    assert {h["status"] for h in hosts.values()} == {"drift"}, hosts
