"""Transport security against the lab: HTTPS certificates are validated by default (an
untrusted lab certificate is ``auth_failed`` "not trusted"; ``ca_file`` fixes it; turning
validation off needs ``cert_validation: false`` and prints a warning), Basic over plain HTTP
is refused with the reason unless ``allow_unencrypted: true``, and no PowerShell text is ever
built from inventory or user data: with quote- and semicolon-laden host names, user name and
parameters, the lab receives only structured commands, except ``psfleet run``'s explicit
script line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from tests.support.hostile import Capture, Endless, EndlessLine, Redirect, TrickleHeaders, TrickleInChunk
from toolkit.checks.probe import AUDIT_STATEMENTS
from toolkit.cli import main
from toolkit.inventory.model import Host, Transport
from toolkit.lab.fleet import Fleet
from toolkit.lab.host import SimHost
from toolkit.lab.spec import loads_spec
from toolkit.lab.tls import make_lab_tls
from toolkit.results import ErrorKind
from toolkit.transport.protocol import MAX_RESPONSE_BYTES, TransportError
from toolkit.transport.select import open_session

PASSWORD = "Tr4nsport-Lab!"
NASTY_USER = "ad'm;n\"$(x)"
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SPEC = f"""
users:
  - {{name: {json.dumps(NASTY_USER)}, password: '{PASSWORD}', admin: true}}
hosts:
  - {{name: web, profile: server2022, scheme: https, auth: basic}}
  - {{name: plain, profile: server2019}}
  - name: drifted
    profile: server2012r2
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: String, value: "0'; Remove-Item C:\\\\ -Recurse; '"}}}}
"""
NASTY_NAMES = ["q'uote", 'semi;colon"$(Stop-Computer)', "back`tick|pipe&amp", "ünï-côdé"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(loads_spec(SPEC, "transport.yml"), workdir=tmp_path_factory.mktemp("transport")) as f:
        yield f


def inventory(fleet: Fleet, folder: Path, name: str, **web: Any) -> Path:
    lines = [
        "defaults:",
        f"  username: {json.dumps(NASTY_USER)}",
        "  password_env: PSFLEET_TRANSPORT_PW",
        "hosts:",
    ]
    for h in fleet.hosts:
        if h.name != "web":
            continue
        settings = {"address": h.address, "port": h.port, "scheme": "https", "auth": "basic", **web}
        lines.append(f"  web: {json.dumps(settings)}")
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(argv))
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(code), out, err


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PSFLEET_TRANSPORT_PW", PASSWORD)
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))


def _host(out: str) -> dict[str, Any]:
    return dict(json.loads(out)["hosts"][0])


def test_https_untrusted_certificate_fails_by_default(fleet: Fleet, tmp_path: Path, capsys: Any) -> None:
    code, out, err = cli(
        ["audit", "-i", str(inventory(fleet, tmp_path, "inv.yml")), "--format", "json"], capsys
    )
    host = _host(out)
    assert code == 8
    assert host["status"] == "auth_failed"
    assert "not trusted" in host["error"]["message"]
    assert "warning" not in err


def test_https_with_ca_file_works(fleet: Fleet, tmp_path: Path, capsys: Any) -> None:
    ca = next(h.ca_file for h in fleet.hosts if h.name == "web")
    _code, out, err = cli(
        ["audit", "-i", str(inventory(fleet, tmp_path, "inv.yml", ca_file=ca)), "--format", "json"], capsys
    )
    assert _host(out)["status"] in ("compliant", "drift"), out
    assert "warning" not in err


def test_turning_validation_off_is_explicit_and_warned(fleet: Fleet, tmp_path: Path, capsys: Any) -> None:
    inv = inventory(fleet, tmp_path, "inv.yml", cert_validation=False)
    _code, out, err = cli(["audit", "-i", str(inv), "--format", "json"], capsys)
    assert _host(out)["status"] in ("compliant", "drift"), out
    assert "certificate validation is off" in err and "web" in err
    assert len(err.strip().splitlines()) == 1


def test_basic_over_http_is_refused_unless_allowed(fleet: Fleet, tmp_path: Path, capsys: Any) -> None:
    plain = next(h for h in fleet.hosts if h.name == "plain")
    inv = tmp_path / "basic.yml"
    base = {"address": plain.address, "port": plain.port, "scheme": "http", "auth": "basic"}
    inv.write_text(
        f"defaults: {{username: u, password_env: PSFLEET_TRANSPORT_PW}}\nhosts:\n  h: {json.dumps(base)}\n"
    )
    code, out, err = cli(["audit", "-i", str(inv), "--format", "json"], capsys)
    # Refused when the inventory loads, with the reason and the way out, before any connection.
    assert code == 2 and out == ""
    assert f"{inv}:3: hosts.h.auth" in err and "not encrypted" in err and "allow_unencrypted" in err
    assert fleet.endpoint("plain").connections == 0

    inv.write_text(
        "defaults: {username: u, password_env: PSFLEET_TRANSPORT_PW}\nhosts:\n"
        f"  h: {json.dumps({**base, 'allow_unencrypted': True})}\n"
    )
    code, out, _ = cli(["audit", "-i", str(inv), "--format", "json"], capsys)
    # Now psfleet tries; the lab (like Windows with AllowUnencrypted=false) rejects Basic over HTTP.
    host = _host(out)
    assert fleet.endpoint("plain").connections > 0
    assert host["status"] == "auth_failed", host
    assert "refused" not in host["error"]["message"]


def test_no_powershell_text_from_inventory_or_user_data(fleet: Fleet, tmp_path: Path, capsys: Any) -> None:
    lines = ["defaults:", f"  username: {json.dumps(NASTY_USER)}", "  password_env: PSFLEET_TRANSPORT_PW",
             "groups:", "  \"g';rm;$(x)\": {hosts: " + json.dumps(NASTY_NAMES) + "}", "hosts:"]  # fmt: skip
    targets = [h for h in fleet.hosts if h.name in ("plain", "drifted")]
    for i, name in enumerate(NASTY_NAMES):
        h = targets[i % len(targets)]
        lines.append(f"  {json.dumps(name)}: {{address: {h.address}, port: {h.port}, auth: ntlm}}")
    inv = tmp_path / "nasty.yml"
    inv.write_text("\n".join(lines) + "\n", encoding="utf-8")

    calls: list[tuple[str, str, bool]] = []
    original = SimHost.execute

    def spy(self: SimHost, commands: Any, *, user: Any) -> Any:
        for c in commands:
            calls.append((self.name, str(c.command_text), bool(getattr(c, "is_script", False))))
        return original(self, commands, user=user)

    journal = tmp_path / "nasty.jsonl"
    with mock.patch.object(SimHost, "execute", spy):
        code, out, err = cli(["audit", "-i", str(inv), "--format", "json"], capsys)
        assert code == 4, err
        assert {h["name"] for h in json.loads(out)["hosts"]} == set(NASTY_NAMES)
        assert cli(["remediate", "-i", str(inv), "--check", "--format", "json"], capsys)[0] == 4
        assert (
            cli(
                ["remediate", "-i", str(inv), "--yes", "--journal", str(journal), "--format", "json"], capsys
            )[0]
            == 0
        )
        assert (
            cli(["rollback", "-i", str(inv), "--yes", "--journal", str(journal), "--format", "json"], capsys)[
                0
            ]
            == 0
        )
        cli(["run", "-i", str(inv), "--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}'; Stop-Computer; '",
             "--format", "json"], capsys)  # fmt: skip
        structured = list(calls)
        cli(["run", "-i", str(inv), "--limit", NASTY_NAMES[0], "Get-Date", "--format", "json"], capsys)
    scripts = [c for c in structured if c[2]]
    assert scripts == []
    assert {"Get-ItemProperty", "Set-ItemProperty", "Set-SmbClientConfiguration"} <= {
        c[1] for c in structured
    }
    assert [c for c in calls[len(structured) :] if c[2]], (
        "psfleet run's script line should arrive as a script"
    )
    assert not any(n in c[1] for c in calls for n in NASTY_NAMES), "a host name reached PowerShell"


# --- hostile endpoints (issue 14 #3, #4, #5) --------------------------------------------------
#
# Each test reproduces an attack against a small hostile server on 127.0.0.1 and drives the
# client as the audit does (one session: open, the audit pipeline). Both clients are held
# to it: ``transport`` is the client under test.

TRANSPORTS = ("pypsrp", "lean")


@dataclass(frozen=True)
class _Cred:
    username: str | None = "admin"
    password: str | None = "S3cret-Pass!"


def _hostile_host(port: int, **transport: Any) -> Host:
    settings = {"scheme": "http", "auth": "ntlm", "port": port, "read_timeout": 30.0, **transport}
    return Host(name="hostile", address="127.0.0.1", transport=Transport(**settings))


def _audit_once(host: Host, transport: str, *, timeout: float = 20.0) -> TransportError:
    """Open a session and run the audit pipeline; the TransportError it must end with."""
    session = open_session(host, _Cred(), deadline=time.monotonic() + timeout, transport=transport)
    with pytest.raises(TransportError) as caught, session:
        session.run(AUDIT_STATEMENTS)
    return caught.value


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_from_https_to_http_is_refused(tmp_path: Path, transport: str, status: int) -> None:
    """A verified HTTPS endpoint redirects to plain HTTP: the SOAP body and the Negotiate
    token must never reach the redirect target; the host is a protocol_error naming it."""
    tls = make_lab_tls(tmp_path / "tls", names=["localhost"], addresses=["127.0.0.1"])
    with Capture() as target, Redirect(target.url, status=status, tls=tls.server_context()) as hostile:
        host = _hostile_host(hostile.port, scheme="https", ca_file=str(tls.ca_file))
        error = _audit_once(host, transport).error
        assert hostile.seen, "the client never reached the HTTPS endpoint"
    assert target.seen == [], f"the redirect was followed: {target.seen[:1]}"
    assert error.kind is ErrorKind.PROTOCOL_ERROR, error
    assert target.url in error.message and str(status) in error.message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_redirect_over_http_carries_no_token(transport: str) -> None:
    """The same over HTTP with message encryption (the first, empty POST is redirected)."""
    with Capture() as target, Redirect(target.url) as hostile:
        error = _audit_once(_hostile_host(hostile.port), transport).error
    assert target.seen == [] and target.tokens() == []
    assert error.kind is ErrorKind.PROTOCOL_ERROR and target.url in error.message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_endless_body_is_capped_and_its_socket_closed(transport: str) -> None:
    """An endless chunked body as fast as the client reads: the client stops at the size cap
    (protocol_error) and closes the socket; the endpoint never gets to send much more."""
    with Endless() as hostile:
        error = _audit_once(_hostile_host(hostile.port), transport).error
        assert hostile.closed.wait(10), "the client kept the connection open"
    assert error.kind is ErrorKind.PROTOCOL_ERROR, error
    assert "exceeded the" in error.message and "cap" in error.message
    # The cap plus what the kernel buffers on loopback; unbounded, the client reads all 256 MiB.
    assert hostile.sent < MAX_RESPONSE_BYTES + 48 * 1024 * 1024, hostile.sent


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_trickling_body_ends_at_the_deadline(transport: str) -> None:
    """A body that trickles forever (1 kB every 50 ms, each read well within the read
    timeout): the host is a timeout at its deadline and its socket is closed then."""
    with Endless(chunk=1024, delay=0.05) as hostile:
        error = _audit_once(_hostile_host(hostile.port), transport, timeout=2.0).error
        assert hostile.closed.wait(5), "the client kept reading past the deadline"
    assert error.kind is ErrorKind.TIMEOUT, error
    assert hostile.sent < 2 * 1024 * 1024


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_endless_chunk_size_line_is_refused(transport: str) -> None:
    """A chunk-size line that never ends (hex digits, no CRLF): read line by line, it would
    grow without bound; the client refuses it after a bounded line and closes the socket."""
    with EndlessLine() as hostile:
        error = _audit_once(_hostile_host(hostile.port), transport).error
        assert hostile.closed.wait(10), "the client kept the connection open"
    assert error.kind is ErrorKind.PROTOCOL_ERROR, error
    assert hostile.sent < 48 * 1024 * 1024, hostile.sent


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_body_trickled_inside_one_chunk_ends_at_the_deadline(transport: str) -> None:
    """One announced 32 KiB chunk whose bytes trickle in (16 bytes every 50 ms): each socket
    read returns at once, so only a deadline checked between reads ends it. Read in 10 kB
    pieces with the deadline checked between pieces, the client would stay ~30 s."""
    with TrickleInChunk(size=16) as hostile:
        error = _audit_once(_hostile_host(hostile.port), transport, timeout=2.0).error
        assert hostile.closed.wait(5), "the client kept reading past the deadline"
    assert error.kind is ErrorKind.TIMEOUT, error
    # ~320 bytes a second: the 2 s deadline plus slack for a loaded machine, far below 10 kB.
    assert hostile.sent < 2048, f"the client read {hostile.sent} bytes, past its deadline"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_headers_trickled_forever_end_at_the_deadline(transport: str) -> None:
    """A header line trickled a byte every 50 ms (30 s to reach its 600 bytes): no read ever
    times out, so only closing the socket at the deadline ends it."""
    with TrickleHeaders() as hostile:
        error = _audit_once(_hostile_host(hostile.port), transport, timeout=2.0).error
        assert hostile.closed.wait(5), "the client kept the connection past the deadline"
    assert error.kind is ErrorKind.TIMEOUT, error
    assert hostile.sent < 200, f"the client read {hostile.sent} header bytes, past its deadline"


def test_vvv_logs_carry_no_authentication_token(fleet: Fleet, tmp_path: Path) -> None:
    """``psfleet audit -vvv`` shows the wire, but never an NTLM/Negotiate token (an NTLM
    AUTHENTICATE with its challenge is enough to crack the password offline)."""
    plain = next(h for h in fleet.hosts if h.name == "plain")
    for transport in TRANSPORTS:
        inv = tmp_path / f"{transport}.yml"
        settings = {"address": plain.address, "port": plain.port, "auth": "ntlm", "transport": transport}
        inv.write_text(
            f"defaults: {{username: {json.dumps(NASTY_USER)}, password_env: PSFLEET_TRANSPORT_PW}}\n"
            f"hosts:\n  h: {json.dumps(settings)}\n"
        )
        # A process of its own, as a user runs it: logging is configured once per process.
        done = subprocess.run(
            [sys.executable, "-m", "toolkit.cli", "audit", "-i", str(inv), "--format", "json", "-vvv"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PSFLEET_TRANSPORT_PW": PASSWORD, "PSFLEET_NO_PROGRESS": "1"},
        )
        out, err = done.stdout, done.stderr
        assert _host(out)["status"] in ("compliant", "drift"), out
        assert "DEBUG" in err, "-vvv logged nothing: the test would prove nothing"
        assert "TlRMTVNT" not in err  # base64 of "NTLMSSP\0": any NTLM message
        assert not re.search(r"(?i)\b(negotiate|ntlm)\s+[A-Za-z0-9+/]{20,}", err)
        assert not re.search(r"step (input|output): [A-Za-z0-9+/]{8,}", err)
        assert PASSWORD not in err
