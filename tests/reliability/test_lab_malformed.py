"""The lab fed malformed input answers with an HTTP error or a WS-Man fault and keeps serving
everyone else: raw-socket garbage (request lines, huge headers, bad Content-Length, truncated
bodies, stalled connections), then, authenticated (NTLM with message encryption through
pypsrp's own transport, and Basic over HTTPS), SOAP that is not XML, bad base64 and PSRP
fragments that are not PSRP. After each case a real audit of the same host still works."""

from __future__ import annotations

import base64
import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

from toolkit.cli import main
from toolkit.lab.fleet import Fleet, FleetHost
from toolkit.lab.spec import loads_spec

PASSWORD = "Malf0rmed-Lab!"
SPEC = f"""
users: [{{name: admin, password: '{PASSWORD}', admin: true}}]
hosts:
  - {{name: ntlm, profile: server2012r2}}
  - {{name: tls, profile: server2019, scheme: https, auth: basic}}
"""
PS_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(loads_spec(SPEC, "malformed.yml"), workdir=tmp_path_factory.mktemp("malformed")) as f:
        yield f


def host(fleet: Fleet, name: str) -> FleetHost:
    return next(h for h in fleet.hosts if h.name == name)


def raw_exchange(h: FleetHost, data: bytes, *, shut: bool = True, timeout: float = 5.0) -> bytes:
    """Send raw bytes, half-close, and read until the server closes (or answers)."""
    with socket.create_connection((h.address, h.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the lab answered and closed before reading it all (huge headers)
            pass
        chunks = []
        try:
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            pytest.fail(f"the lab neither answered nor closed within {timeout}s")
        return b"".join(chunks)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else 0


def audit_ok(fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str = "ntlm") -> None:
    """A real audit of ``name`` through the CLI still assesses it."""
    inv = tmp_path / f"inv-{name}.yml"
    fleet.write_inventory(inv)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["audit", "-i", str(inv), "--limit", name, "--format", "json", "--timeout", "10"])
    out = capsys.readouterr().out
    assert json.loads(out)["hosts"][0]["status"] in ("compliant", "drift"), out


HEAD = b"POST /wsman HTTP/1.1\r\nHost: x\r\n"
RAW_CASES = {
    "garbage request line": (b"\x00\xff GARBAGE \x01\r\n\r\n", {400}),
    "no version": (b"POST /wsman\r\n\r\n", {400}),
    "HTTP/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {400}),
    "header without colon": (HEAD + b"NoColonHere\r\n\r\n", {400}),
    "huge headers": (HEAD + b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n", {431, 0}),
    "bad Content-Length": (HEAD + b"Content-Length: abc\r\n\r\n", {400}),
    "negative Content-Length": (HEAD + b"Content-Length: -5\r\n\r\n", {400}),
    "huge Content-Length": (HEAD + b"Content-Length: 99999999999\r\n\r\n", {413}),
    "truncated body": (HEAD + b"Content-Length: 100\r\n\r\n<s:Envelope", {400}),
    "chunked": (HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", {411}),
    "unauthenticated SOAP": (HEAD + b"Content-Length: 5\r\n\r\n<a/>\n", {401}),
    "bad Authorization": (
        HEAD + b"Authorization: Negotiate !!!notbase64\r\nContent-Length: 0\r\n\r\n",
        {400, 401},
    ),
    "wrong path": (b"POST /nothere HTTP/1.1\r\nContent-Length: 0\r\n\r\n", {404}),
    "wrong method": (b"GET /wsman HTTP/1.1\r\n\r\n", {405, 401}),
}


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_raw_http_garbage_gets_an_http_error(fleet: Fleet, case: str) -> None:
    data, expected = RAW_CASES[case]
    reply = raw_exchange(host(fleet, "ntlm"), data)
    assert status_of(reply) in expected, reply[:200]


def test_stalled_and_garbage_connections_do_not_stop_other_clients(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = host(fleet, "ntlm")
    stalled = [socket.create_connection((h.address, h.port)) for _ in range(20)]
    try:
        for i, sock in enumerate(stalled):  # half a request line, a header without end...
            sock.sendall(HEAD[: 5 + i] if i % 2 else HEAD + b"Content-Length: 1000\r\n\r\n<s:")
        started = time.monotonic()
        audit_ok(fleet, tmp_path, capsys)
        assert time.monotonic() - started < 10
    finally:
        for sock in stalled:
            sock.close()


def test_tls_garbage_before_handshake(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    h = host(fleet, "tls")
    with socket.create_connection((h.address, h.port), timeout=5) as sock:
        sock.sendall(b"POST /wsman HTTP/1.1\r\n\r\n" * 3)  # plain HTTP on the TLS port
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    audit_ok(fleet, tmp_path, capsys, "tls")


# -- authenticated: Basic over HTTPS ---------------------------------------------------------


def basic_post(
    fleet: Fleet, body: bytes, content_type: str = "application/soap+xml;charset=UTF-8"
) -> requests.Response:
    h = host(fleet, "tls")
    return requests.post(
        f"https://{h.address}:{h.port}/wsman",
        data=body,
        headers={"Content-Type": content_type},
        auth=("admin", PASSWORD),
        verify=h.ca_file,
        timeout=10,
    )


ENVELOPE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:pwsh="http://schemas.microsoft.com/powershell">'
    "<s:Header><wsa:Action>{action}</wsa:Action><wsa:MessageID>uuid:00000000-0000-0000-0000-000000000001"
    "</wsa:MessageID><wsman:ResourceURI>{uri}</wsman:ResourceURI>{extra}</s:Header><s:Body>{body}</s:Body>"
    "</s:Envelope>"
)
CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"


def create_shell(creation_xml: str) -> bytes:
    """A WS-Man Create of a PowerShell shell carrying ``creation_xml`` as its PSRP payload."""
    body = f"<rsp:Shell><pwsh:creationXml>{creation_xml}</pwsh:creationXml></rsp:Shell>"
    return ENVELOPE.format(action=CREATE, uri=PS_URI, extra="", body=body).encode()


SOAP_CASES = {
    "not XML": b"this is not xml <<<",
    "XML bomb-ish entity": b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbbbb">]><a>&b;&b;</a>',
    "empty envelope": b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
    "unknown action": ENVELOPE.format(action="urn:nope", uri=PS_URI, extra="", body="").encode(),
    "bad base64 creationXml": create_shell("!!!not base64!!!"),
    "PSRP garbage creationXml": create_shell(base64.b64encode(b"not a PSRP fragment at all").decode()),
    "truncated PSRP fragment": create_shell(base64.b64encode(bytes(21) + b"<Obj").decode()),
    "Command on a missing shell": ENVELOPE.format(
        action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command",
        uri=PS_URI,
        extra='<wsman:SelectorSet><wsman:Selector Name="ShellId">NOPE</wsman:Selector></wsman:SelectorSet>',
        body="<rsp:CommandLine><rsp:Command/><rsp:Arguments>AAAA</rsp:Arguments></rsp:CommandLine>",
    ).encode(),
    "non-UTF-8 bytes": b"\xff\xfe<\x00s\x00:\x00E\x00",
}


@pytest.mark.parametrize("case", sorted(SOAP_CASES))
def test_authenticated_malformed_soap_gets_a_fault(
    fleet: Fleet, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = basic_post(fleet, SOAP_CASES[case])
    assert 400 <= reply.status_code < 600, reply.status_code
    if reply.status_code >= 500:
        assert b"Fault" in reply.content, reply.content[:300]
    audit_ok(fleet, tmp_path, capsys, "tls")


# -- authenticated: NTLM with message encryption through pypsrp -------------------------------


def ntlm_wsman(fleet: Fleet) -> WSMan:
    h = host(fleet, "ntlm")
    return WSMan(h.address, port=h.port, ssl=False, auth="ntlm", username="admin", password=PASSWORD,
                 cert_validation=False, operation_timeout=5, read_timeout=10)  # fmt: skip


def _el(tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    prefix, name = tag.split(":")
    el = ET.Element(f"{{{NAMESPACES[prefix]}}}{name}", attrs)
    el.text = text
    return el


def test_encrypted_garbage_and_bad_psrp(
    fleet: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wsman = ntlm_wsman(fleet)
    try:
        for body in (b"not xml at all", b"<a/>", bytes(range(256)) * 4):
            with pytest.raises((WinRMTransportError, WSManFaultError)):
                wsman.transport.send(body)  # NTLM-sealed, decrypts fine, is not WS-Man
        shell = _el("rsp:Shell")
        shell.append(_el("pwsh:creationXml", "%%% not base64"))
        with pytest.raises(WSManFaultError):
            wsman.create(PS_URI, shell)
        shell = _el("rsp:Shell")
        shell.append(_el("pwsh:creationXml", base64.b64encode(b"\x00" * 21 + b"garbage").decode()))
        with pytest.raises(WSManFaultError):
            wsman.create(PS_URI, shell)

        # A real pool, then a Command and a Send with garbage PSRP data on it.
        pool = RunspacePool(wsman)
        pool.open()
        selectors = SelectorSet()
        selectors.add_option("ShellId", pool.id)  # pypsrp's pool id is its shell id
        cmd = _el("rsp:CommandLine", CommandId="6B1A6F3C-0000-4000-8000-000000000001")
        cmd.append(_el("rsp:Command"))
        cmd.append(_el("rsp:Arguments", base64.b64encode(b"\x01" * 40).decode()))
        with pytest.raises(WSManFaultError):
            wsman.command(PS_URI, cmd, selector_set=selectors)
        send = _el("rsp:Send")
        send.append(_el("rsp:Stream", "!!bad base64!!", Name="stdin"))
        with pytest.raises(WSManFaultError):
            wsman.send(PS_URI, send, selector_set=selectors)
        pool.close()
    finally:
        wsman.close()
    audit_ok(fleet, tmp_path, capsys)


def test_every_case_left_the_lab_serving(fleet: Fleet, tmp_path: Path, capsys: Any) -> None:
    audit_ok(fleet, tmp_path, capsys, "ntlm")
    audit_ok(fleet, tmp_path, capsys, "tls")
