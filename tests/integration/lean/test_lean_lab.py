"""The lean client against the lab over TCP: every auth kind it speaks reads what pypsrp reads;
Negotiate without a ticket goes to NTLM without asking the default realm's KDC; "Access is
denied" names its fix; behaviours real Windows shows (``Connection: close`` on every answer,
a 401 on the first encrypted message) through a small HTTP proxy on 127.0.0.1; no token in the
DEBUG log."""

from __future__ import annotations

import base64
import contextlib
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.hostile import ntlm_message_types
from toolkit.checks.probe import AUDIT_STATEMENTS
from toolkit.inventory.model import Host, Transport
from toolkit.lab.fleet import Fleet, FleetHost
from toolkit.lab.spec import loads_spec
from toolkit.results import ErrorKind
from toolkit.transport.lean import auth as lean_auth
from toolkit.transport.lean.session import LeanSession
from toolkit.transport.pypsrp_session import HostSession, TransportError

ADMIN_PASSWORD = "Adm1n-Lab!"
PLAIN_PASSWORD = "Pl41n-Lab!"
SPEC = f"""
users:
  - {{name: admin, password: '{ADMIN_PASSWORD}', admin: true}}
  - {{name: plain, password: '{PLAIN_PASSWORD}', admin: false, remoting: false}}
hosts:
  - {{name: plain-http, profile: server2019}}
  - {{name: tls, profile: server2022, scheme: https}}
"""


@dataclass
class Cred:
    username: str | None
    password: str | None


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with Fleet(loads_spec(SPEC, "lean.yml"), addressing="port", workdir=tmp_path_factory.mktemp("lab")) as f:
        yield f


def lab_host(fleet: Fleet, name: str, auth: str, *, port: int | None = None) -> Host:
    fh: FleetHost = next(h for h in fleet.hosts if h.name == name)
    transport = Transport(scheme=fh.scheme, port=port or fh.port, auth=auth, ca_file=fh.ca_file)  # type: ignore[arg-type]
    return Host(name, fh.address, transport)


ADMIN = Cred("admin", ADMIN_PASSWORD)


@pytest.mark.parametrize(
    ("name", "auth"),
    [
        ("plain-http", "negotiate"),
        ("plain-http", "ntlm"),
        ("tls", "negotiate"),
        ("tls", "ntlm"),
        ("tls", "basic"),
    ],
)
def test_every_auth_kind_reads_what_pypsrp_reads(fleet: Fleet, name: str, auth: str) -> None:
    host = lab_host(fleet, name, auth)
    with LeanSession(host, ADMIN) as lean:
        ours = lean.run(AUDIT_STATEMENTS)
    with HostSession(host, ADMIN) as pypsrp:
        theirs = pypsrp.run(AUDIT_STATEMENTS)
    assert ours == theirs
    assert len(ours.output) == 3 and not ours.errors


def test_access_denied_names_the_fix(fleet: Fleet) -> None:
    with (
        pytest.raises(TransportError) as caught,
        LeanSession(lab_host(fleet, "plain-http", "negotiate"), Cred("plain", PLAIN_PASSWORD)),
    ):
        pass
    assert caught.value.error.kind is ErrorKind.ACCESS_DENIED
    assert caught.value.error.message.endswith(
        "(fix: add the account to Remote Management Users or Administrators)"
    )


def test_a_wrong_password_is_auth_failed(fleet: Fleet) -> None:
    with (
        pytest.raises(TransportError) as caught,
        LeanSession(lab_host(fleet, "plain-http", "negotiate"), Cred("admin", "wrong")),
    ):
        pass
    assert caught.value.error.kind is ErrorKind.AUTH_FAILED


# -- Negotiate without a ticket -------------------------------------------------------------------
@dataclass
class Kdc:
    """A UDP and TCP port on 127.0.0.1 that records any packet (an AS-REQ) sent to it."""

    port: int
    packets: list[bytes] = field(default_factory=list)


@pytest.fixture
def silent_realm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kdc]:
    for _ in range(20):  # a UDP port whose TCP twin is free too (else: another one)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        try:
            tcp = socket.create_server(("127.0.0.1", port))
            break
        except OSError:
            udp.close()
    else:
        pytest.fail("no UDP port with a free TCP twin on 127.0.0.1")
    kdc = Kdc(port)
    stop = threading.Event()

    def listen() -> None:
        udp.settimeout(0.1)
        tcp.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                kdc.packets.append(udp.recv(65536))
            try:
                conn, _ = tcp.accept()
                kdc.packets.append(b"tcp")
                conn.close()
            except TimeoutError:
                pass

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    conf = tmp_path / "krb5.conf"
    conf.write_text(
        "[libdefaults]\n  default_realm = NOWHERE.TEST\n  dns_lookup_kdc = false\n  dns_lookup_realm = false\n"
        "  kdc_timeout = 200\n  max_retries = 1\n"
        f"[realms]\n  NOWHERE.TEST = {{\n    kdc = 127.0.0.1:{port}\n  }}\n"
    )
    monkeypatch.setenv("KRB5_CONFIG", str(conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-ticket.ccache'}")
    lean_auth.forget_tickets()
    try:
        yield kdc
    finally:
        stop.set()
        thread.join(2)
        udp.close()
        tcp.close()
        lean_auth.forget_tickets()


def test_negotiate_without_a_ticket_never_asks_the_default_realm(fleet: Fleet, silent_realm: Kdc) -> None:
    import spnego

    host = lab_host(fleet, "plain-http", "negotiate")
    with LeanSession(host, ADMIN) as lean:
        assert len(lean.run(AUDIT_STATEMENTS).output) == 3
    assert silent_realm.packets == []
    # pyspnego's own Negotiate, given the password, first asks that realm's KDC for a ticket:
    # the stall (krb5's KDC timeouts) the rule above avoids.
    context = spnego.client("admin", ADMIN_PASSWORD, hostname="lab", service="http", protocol="negotiate")
    context.step()
    assert silent_realm.packets != []


# -- Windows behaviours through a proxy ------------------------------------------------------------
def read_message(sock: socket.socket, buffer: bytearray) -> bytes | None:
    """One HTTP message (head + Content-Length body) from ``sock``; None at EOF."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    end = buffer.index(b"\r\n\r\n") + 4
    m = re.search(rb"(?im)^content-length:\s*(\d+)", bytes(buffer[:end]))
    total = end + (int(m.group(1)) if m else 0)
    while len(buffer) < total:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    message = bytes(buffer[:total])
    del buffer[:total]
    return message


@dataclass
class Proxy:
    """Relays one upstream connection per client connection; ``mode`` says what it changes:
    ``close`` adds ``Connection: close`` to every answer to an encrypted message and closes both
    sides; ``reject-first``
    answers the first encrypted message of the first connection with a 401 and closes."""

    upstream: tuple[str, int]
    mode: str
    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    rejected: int = 0

    def serve(self, listener: socket.socket, stop: threading.Event) -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with client, socket.create_connection(self.upstream) as server:
                client.settimeout(10)
                cbuf, sbuf = bytearray(), bytearray()
                while (request := read_message(client, cbuf)) is not None:
                    self.requests.append(request)
                    encrypted = b"multipart/encrypted" in request.split(b"\r\n\r\n")[0]
                    if self.mode == "reject-first" and encrypted and not self.rejected:
                        self.rejected += 1
                        client.sendall(
                            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\n"
                            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        break
                    server.sendall(request)
                    response = read_message(server, sbuf)
                    if response is None:
                        break
                    if self.mode == "close" and encrypted:  # as Windows: after the logon, not during it
                        response = response.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
                        client.sendall(response)
                        break
                    client.sendall(response)


@pytest.fixture
def proxy(fleet: Fleet, request: pytest.FixtureRequest) -> Iterator[Proxy]:
    fh = next(h for h in fleet.hosts if h.name == "plain-http")
    relay = Proxy((fh.address, fh.port), request.param)
    listener = socket.create_server(("127.0.0.1", 0))
    relay.port = listener.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=relay.serve, args=(listener, stop), daemon=True)
    thread.start()
    yield relay
    stop.set()
    thread.join(5)
    listener.close()


@pytest.mark.parametrize("proxy", ["close"], indirect=True)
def test_connection_close_after_every_message_reconnects_and_authenticates_again(
    fleet: Fleet, proxy: Proxy
) -> None:
    host = lab_host(fleet, "plain-http", "ntlm", port=proxy.port)
    with LeanSession(host, ADMIN) as lean:
        first = lean.run(AUDIT_STATEMENTS)
        second = lean.run(AUDIT_STATEMENTS)
    with HostSession(lab_host(fleet, "plain-http", "ntlm"), ADMIN) as pypsrp:
        expected = pypsrp.run(AUDIT_STATEMENTS)
    assert first == second == expected
    # every message on its own connection, each after a new NEGOTIATE (one per connection)
    assert ntlm_message_types(proxy.requests).count(1) == proxy.connections
    assert proxy.connections == len(proxy.requests) // 2 >= 6


@pytest.mark.parametrize("proxy", ["reject-first"], indirect=True)
def test_a_401_on_the_first_encrypted_message_is_retried_once_after_a_new_handshake(
    fleet: Fleet, proxy: Proxy
) -> None:
    host = lab_host(fleet, "plain-http", "ntlm", port=proxy.port)
    with LeanSession(host, ADMIN) as lean:
        assert len(lean.run(AUDIT_STATEMENTS).output) == 3
    assert proxy.rejected == 1
    # NEGOTIATE, AUTHENTICATE riding on Create (401); then NEGOTIATE and AUTHENTICATE on an empty POST
    assert ntlm_message_types(proxy.requests)[:4] == [1, 3, 1, 3]
    assert proxy.requests[3].endswith(b"\r\n\r\n")  # the retry authenticates before sending again


# -- logs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "auth"), [("plain-http", "negotiate"), ("plain-http", "ntlm"), ("tls", "basic")]
)
def test_no_token_or_password_in_the_debug_log(
    fleet: Fleet, name: str, auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with LeanSession(lab_host(fleet, name, auth), ADMIN) as lean:
        lean.run(AUDIT_STATEMENTS)
    text = caplog.text
    assert "toolkit.transport.lean" in text  # the client did log at DEBUG
    assert ADMIN_PASSWORD not in text
    assert "TlRMTVNT" not in text  # base64 of "NTLMSSP\0": any NTLM message
    assert base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode() not in text
    assert re.search(r"(Negotiate|Basic|Kerberos) [A-Za-z0-9+/=]{16,}", text) is None
