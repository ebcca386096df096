"""``transport: auto | lean | pypsrp`` as a user meets it: ``psfleet audit`` (and remediate)
against lab hosts that misbehave at the HTTP level, on both clients.

- the fallback end to end: a legal answer only the lean client refuses (``odd_boundary``: an
  encrypted answer framed with another MIME boundary) is served by pypsrp under ``auto``, and
  the host's JSON and the table say so and why; ``--transport lean`` shows the refusal;
- a redirect (``redirect``) is refused by both clients, named, never followed, and not a reason
  to try the other client;
- an endless body (``endless_body``) stops at the size cap, a trickling one at the deadline;
- a 401 on the first encrypted message (``reauth``) and ``Connection: close`` after every
  answer (``conn_close``) are survived by the lean client (pypsrp cannot authenticate a
  second connection of the same session: ``--transport pypsrp`` fails such a host as a
  ``protocol_error`` saying so, not as ``auth_failed``: the credentials were accepted, and an
  ``auth_failed`` would stop the lockout guard from using them on other hosts);
- every auth kind the lab answers without a KDC (negotiate, ntlm, basic over https) on both
  clients; Kerberos is in tests/integration/kerberos.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli
from tests.support.labfleet import lab_fleet_fixtures
from toolkit.lab.fleet import Fleet

SPEC = """
users:
  - {name: admin, password: 'Adm1n-Lab!', admin: true}
hosts:
  - {name: plain, profile: server2019}
  - {name: ntlm, profile: server2022, auth: ntlm}
  - {name: web, profile: server2022, scheme: https, auth: basic}
  - {name: odd, profile: win81, fault: odd_boundary}
  - {name: redirect, profile: server2019, fault: redirect}
  - {name: endless, profile: server2019, fault: endless_body}
  - {name: trickle, profile: server2019, fault: {kind: endless_body, ms: 50}}
  - {name: reauth-a, profile: server2019, fault: reauth}
  - {name: reauth-b, profile: server2019, fault: reauth}
  - {name: closing, profile: server2019, fault: conn_close}
"""

fleet, inventory = lab_fleet_fixtures(SPEC, "transport-choice")

ASSESSED = ("compliant", "drift")


def audit(inventory: Path, capsys: Any, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    code, out, err = run_cli(["audit", "-i", str(inventory), "--format", "json", *args], capsys)
    assert "Traceback" not in err, err
    return code, {h["name"]: h for h in json.loads(out)["hosts"]}


def test_auto_falls_back_once_and_says_why(inventory: Path, capsys: Any) -> None:
    _, hosts = audit(inventory, capsys, "--limit", "odd,plain")
    odd, plain = hosts["odd"], hosts["plain"]
    assert odd["status"] in ASSESSED, odd
    assert odd["transport"] == "pypsrp"
    assert odd["transport_fallback"].startswith("lean client: ")
    # The framing difference is named, not a decryption/MIC failure that reads like tampering.
    assert (
        'MIME boundary "psfleet-lab-0dd-b0undary", not Windows\' "Encrypted Boundary"'
        in odd["transport_fallback"]
    )
    assert "decrypt" not in odd["transport_fallback"] and "MIC" not in odd["transport_fallback"]
    assert (plain["transport"], plain["transport_fallback"]) == ("lean", None)

    _code, out, _ = run_cli(["audit", "-i", str(inventory), "--limit", "odd,plain"], capsys)
    assert "pypsrp served 1 host after the lean client failed" in out
    assert "  odd: lean client: " in out


def test_pinned_transports_do_not_fall_back(inventory: Path, capsys: Any) -> None:
    _, lean = audit(inventory, capsys, "--limit", "odd", "--transport", "lean")
    assert lean["odd"]["status"] == "protocol_error"
    assert "MIME boundary" in lean["odd"]["error"]["message"]
    assert (lean["odd"]["transport"], lean["odd"]["transport_fallback"]) == ("lean", None)
    _, pypsrp = audit(inventory, capsys, "--limit", "odd", "--transport", "pypsrp")
    assert pypsrp["odd"]["status"] in ASSESSED
    assert (pypsrp["odd"]["transport"], pypsrp["odd"]["transport_fallback"]) == ("pypsrp", None)


def test_the_inventory_chooses_per_host(inventory: Path, tmp_path: Path, capsys: Any) -> None:
    text = inventory.read_text().replace('  "plain":\n', '  "plain":\n    transport: pypsrp\n')
    pinned = tmp_path / "pinned.yml"
    pinned.write_text(text)
    _, hosts = audit(pinned, capsys, "--limit", "plain,ntlm")
    assert hosts["plain"]["transport"] == "pypsrp" and hosts["ntlm"]["transport"] == "lean"
    _, hosts = audit(pinned, capsys, "--limit", "plain,ntlm", "--transport", "lean")
    assert {h["transport"] for h in hosts.values()} == {"lean"}  # the command line wins


def test_a_bad_transport_is_a_usage_error(inventory: Path, tmp_path: Path, capsys: Any) -> None:
    code, out, err = run_cli(["audit", "-i", str(inventory), "--transport", "fast"], capsys)
    assert code == 2 and out == "" and "--transport" in err and "auto, lean, pypsrp" in err
    bad = tmp_path / "bad.yml"
    bad.write_text(inventory.read_text().replace('  "plain":\n', '  "plain":\n    transport: quick\n'))
    code, _, err = run_cli(["audit", "-i", str(bad)], capsys)
    assert code == 2 and "transport" in err and "quick" in err


@pytest.mark.parametrize("transport", ["auto", "lean", "pypsrp"])
def test_redirect_is_refused_and_never_followed(
    fleet: Fleet, inventory: Path, capsys: Any, transport: str
) -> None:
    before = fleet.endpoint("redirect").requests
    _, hosts = audit(inventory, capsys, "--limit", "redirect", "--transport", transport)
    host = hosts["redirect"]
    assert host["status"] == "protocol_error"
    assert "/wsman-redirected" in host["error"]["message"] and "307" in host["error"]["message"]
    assert host["transport_fallback"] is None  # pypsrp would refuse it too: not tried
    # One request, the one redirected: nothing went to the Location (same lab endpoint).
    assert fleet.endpoint("redirect").requests - before == 1


@pytest.mark.parametrize("transport", ["lean", "pypsrp"])
def test_endless_body_stops_at_the_size_cap(inventory: Path, capsys: Any, transport: str) -> None:
    _, hosts = audit(inventory, capsys, "--limit", "endless", "--transport", transport)
    host = hosts["endless"]
    assert host["status"] == "protocol_error"
    assert "exceeded the 4194304-byte cap" in host["error"]["message"]


@pytest.mark.parametrize("transport", ["lean", "pypsrp"])
def test_trickling_body_stops_at_the_deadline(inventory: Path, capsys: Any, transport: str) -> None:
    _, hosts = audit(inventory, capsys, "--limit", "trickle", "--timeout", "2", "--transport", transport)
    assert hosts["trickle"]["status"] == "timeout"


def test_a_401_on_the_first_encrypted_message_is_survived(inventory: Path, capsys: Any) -> None:
    _, hosts = audit(inventory, capsys, "--limit", "reauth-a", "--transport", "lean")
    assert hosts["reauth-a"]["status"] in ASSESSED, hosts["reauth-a"]
    _, hosts = audit(inventory, capsys, "--limit", "reauth-b")
    assert (hosts["reauth-b"]["status"], hosts["reauth-b"]["transport"]) in ((s, "lean") for s in ASSESSED)


@pytest.mark.parametrize("transport", ["auto", "lean"])
def test_connection_close_after_every_answer_is_survived(
    inventory: Path, capsys: Any, transport: str
) -> None:
    _, hosts = audit(inventory, capsys, "--limit", "closing", "--transport", transport)
    assert hosts["closing"]["status"] in ASSESSED, hosts["closing"]
    assert (hosts["closing"]["transport"], hosts["closing"]["transport_fallback"]) == ("lean", None)


@pytest.mark.parametrize("transport", ["lean", "pypsrp"])
def test_every_auth_kind_on_both_clients(inventory: Path, capsys: Any, transport: str) -> None:
    _, hosts = audit(inventory, capsys, "--limit", "plain,ntlm,web", "--transport", transport)
    for name, auth in (("plain", "negotiate"), ("ntlm", "ntlm"), ("web", "basic")):
        assert hosts[name]["status"] in ASSESSED, (auth, hosts[name])
        assert hosts[name]["transport"] == transport


def test_remediate_reads_through_the_same_client_as_the_audit(inventory: Path, capsys: Any) -> None:
    """The plan's "before" and the audit's verdict come from the same read path: the same
    client choice (with its fallback) and the same parser."""
    _, audited = audit(inventory, capsys, "--limit", "odd")
    _code, out, err = run_cli(
        ["remediate", "-i", str(inventory), "--limit", "odd", "--check", "--format", "json"], capsys
    )
    assert "Traceback" not in err, err
    planned = {h["name"]: h for h in json.loads(out)["hosts"]}["odd"]
    audit_checks = {c["id"]: c for c in audited["odd"]["checks"]}
    assert {c["id"]: c["status"] for c in planned["checks"]} == {
        k: c["status"] for k, c in audit_checks.items()
    }
    assert planned["changes"], "the odd host drifts: the plan has changes"
    assert planned["transport"] == "pypsrp" and planned["transport_fallback"].startswith("lean client: ")
    for change in planned["changes"]:
        before = change["before"]
        assert f"={before['value']} ({before['kind']})" in audit_checks[change["id"]]["actual"]


def test_run_results_say_which_client_served_them(inventory: Path, capsys: Any) -> None:
    key = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
    _code, out, err = run_cli(
        ["run", "-i", str(inventory), "--limit", "odd,plain", "--cmdlet", "Get-ItemProperty",
         "-p", f"Path={key}", "--format", "json"],
        capsys,
    )  # fmt: skip
    assert "Traceback" not in err, err
    hosts = {h["name"]: h for h in json.loads(out)["hosts"]}
    assert hosts["odd"]["status"] == "ok" and hosts["odd"]["output"]
    assert hosts["odd"]["transport"] == "pypsrp" and "lean client" in hosts["odd"]["transport_fallback"]
    assert (hosts["plain"]["transport"], hosts["plain"]["transport_fallback"]) == ("lean", None)


def test_pypsrp_on_a_closing_host_is_a_protocol_error_not_a_rejected_password(
    inventory: Path, capsys: Any
) -> None:
    _, hosts = audit(inventory, capsys, "--limit", "closing,plain", "--transport", "pypsrp")
    closing = hosts["closing"]
    assert closing["status"] == "protocol_error", closing
    message = closing["error"]["message"]
    assert "credentials rejected" not in message
    assert "new connection" in message and "accepted" in message
    # Not an auth failure, so the lockout guard keeps using the credential on other hosts.
    assert hosts["plain"]["status"] in ASSESSED, hosts["plain"]


def test_pypsrp_with_a_wrong_password_is_still_auth_failed(
    inventory: Path, tmp_path: Path, capsys: Any
) -> None:
    text = inventory.read_text()
    secrets = sorted(inventory.parent.glob("*.secrets/*"))
    wrong = tmp_path / "wrong-password"
    wrong.write_text("Not-The-Password1\n")
    wrong.chmod(0o600)
    for secret in secrets:
        text = text.replace(str(secret), str(wrong))
    bad = tmp_path / "bad.yml"
    bad.write_text(text)
    _, hosts = audit(bad, capsys, "--limit", "closing", "--transport", "pypsrp")
    assert hosts["closing"]["status"] == "auth_failed", hosts["closing"]
    assert "credentials rejected" in hosts["closing"]["error"]["message"]
