"""The real pypsrp transport doing Kerberos against the lab acceptor over HTTP on 127.0.0.1.

These tests pin the exact HTTP exchange pypsrp 0.9.1 makes, which the lab's WinRM listener
must reproduce: see docs/kerberos.md, "What the server must do".
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from negotiate_http import negotiate_server
from pypsrp.exceptions import AuthenticationError
from pypsrp.wsman import WSMan
from spnego.exceptions import NoCredentialError

from tests.support.kdc import LAB_HOST, OTHER_LAB_HOST, Kdc
from toolkit.lab.kerberos import KerberosAcceptor

pytestmark = pytest.mark.kerberos

MESSAGE = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>'


def wsman(port: int, *, auth: str = "kerberos", hostname: str = LAB_HOST, service: str = "HTTP") -> WSMan:
    return WSMan(
        "127.0.0.1",
        port=port,
        ssl=False,
        auth=auth,
        negotiate_service=service,
        negotiate_hostname_override=hostname,
        no_proxy=True,
        connection_timeout=5,
        read_timeout=10,
        operation_timeout=5,
    )


@pytest.fixture
def closing() -> Iterator[list[WSMan]]:
    clients: list[WSMan] = []
    yield clients
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    ("auth", "offer", "scheme", "protocol"),
    [
        ("kerberos", "Negotiate", "Negotiate", "application/HTTP-SPNEGO-session-encrypted"),
        ("negotiate", "Negotiate", "Negotiate", "application/HTTP-SPNEGO-session-encrypted"),
        ("kerberos", "Kerberos", "Kerberos", "application/HTTP-Kerberos-session-encrypted"),
        # Windows offers both; pypsrp picks Negotiate whenever it is offered.
        ("kerberos", "Negotiate, Kerberos", "Negotiate", "application/HTTP-SPNEGO-session-encrypted"),
    ],
)
def test_pypsrp_kerberos_exchange(
    acceptor: KerberosAcceptor, closing: list[WSMan], auth: str, offer: str, scheme: str, protocol: str
) -> None:
    with negotiate_server(acceptor, offer=offer) as server:
        client = wsman(server.server_address[1], auth=auth)
        closing.append(client)

        first = client.transport.send(MESSAGE)
        second = client.transport.send(MESSAGE + b"<!-- 2 -->")

    assert first == b"echo:" + MESSAGE
    assert second == b"echo:" + MESSAGE + b"<!-- 2 -->"
    steps = [(e.authorization_scheme, e.body_length == 0, e.status) for e in server.recorder.exchanges]
    # 1: empty POST, no auth -> 401 + offer; 2: empty POST + token -> 200 + AP-REP; then encrypted bodies.
    assert steps == [(None, True, 401), (scheme, True, 200), (None, False, 200), (None, False, 200)]
    assert server.recorder.exchanges[0].www_authenticate == offer
    assert (server.recorder.exchanges[1].www_authenticate or "").startswith(f"{scheme} ")
    for exchange in server.recorder.exchanges[2:]:
        assert (
            exchange.content_type
            == f'multipart/encrypted;protocol="{protocol}";boundary="Encrypted Boundary"'
        )
    assert server.recorder.plaintexts == [MESSAGE, MESSAGE + b"<!-- 2 -->"]


def test_pypsrp_without_a_ticket_fails_before_sending_a_token(
    acceptor: KerberosAcceptor, closing: list[WSMan], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRB5CCNAME", "FILE:/nonexistent/psfleet-test.ccache")
    with negotiate_server(acceptor) as server:
        client = wsman(server.server_address[1])
        closing.append(client)

        with pytest.raises(NoCredentialError, match="No Kerberos credentials available"):
            client.transport.send(MESSAGE)

    # The spnego error escapes pypsrp as is (not wrapped in AuthenticationError).
    assert [e.authorization_scheme for e in server.recorder.exchanges] == [None]


def test_pypsrp_sees_a_plain_401_when_the_host_rejects_the_ticket(
    acceptor: KerberosAcceptor, closing: list[WSMan], krb_env: Kdc
) -> None:
    # The SPN names lab-03, whose key lab-02's keytab lacks: the KDC issues the ticket, the host refuses it.
    with negotiate_server(acceptor) as server:
        client = wsman(server.server_address[1], hostname=OTHER_LAB_HOST)
        closing.append(client)

        with pytest.raises(AuthenticationError) as error:
            client.transport.send(MESSAGE)

    assert str(error.value) == "Failed to authenticate the user None with kerberos"
    assert [(e.authorization_scheme, e.status) for e in server.recorder.exchanges] == [
        (None, 401),
        ("Negotiate", 401),
    ]
    assert "AttributeError" in (server.recorder.exchanges[1].server_error or "")
