"""Kerberos between a pyspnego client (built as pypsrp builds it) and the lab's acceptor.

Each failure case pins the exception type and the MIT message a pypsrp user sees: these texts
become the transport's ``auth_failed`` reasons.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
import spnego
from spnego.exceptions import BadMechanismError, NoCredentialError, SpnegoError

from tests.support.kdc import LAB_HOST, OTHER_LAB_HOST, ExpiringTicket, Kdc
from toolkit.lab.kerberos import (
    ENCRYPTION_PROTOCOLS,
    KerberosAcceptor,
    KerberosAcceptorConfig,
    KerberosSetupError,
    encryption_protocol,
)

pytestmark = pytest.mark.kerberos

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def pypsrp_client(
    *, hostname: str = LAB_HOST, service: str = "HTTP", protocol: str = "kerberos"
) -> spnego.ContextProxy:
    # Exactly what pypsrp's HTTPNegotiateAuth does with auth="kerberos"/"negotiate", no username,
    # negotiate_service=service, negotiate_hostname_override=hostname and encryption over HTTP.
    return spnego.client(
        None,
        None,
        hostname=hostname,
        service=service,
        context_req=spnego.ContextReq.default,
        protocol=protocol,
        options=spnego.NegotiateOptions.wrapping_winrm,
    )


def authenticate(client: spnego.ContextProxy, server: spnego.ContextProxy) -> None:
    token = client.step()
    for _ in range(4):  # Kerberos: AP-REQ then AP-REP; SPNEGO adds no more round trips
        assert token is not None
        reply = server.step(token)
        if reply is None:
            break
        token = client.step(reply)
        if token is None:
            break
    assert client.complete
    assert server.complete


@pytest.mark.parametrize(
    ("client_protocol", "server_protocol", "service"),
    [
        ("kerberos", "negotiate", "HTTP"),  # pypsrp auth="kerberos" against a "Negotiate" 401
        ("negotiate", "negotiate", "HTTP"),  # pypsrp auth="negotiate": SPNEGO around Kerberos
        ("kerberos", "kerberos", "HTTP"),  # a "Kerberos" 401
        ("kerberos", "negotiate", "host"),  # pypsrp's default negotiate_service is "host"
    ],
)
def test_kerberos_login_then_winrm_encryption_both_ways(
    acceptor: KerberosAcceptor, client_protocol: str, server_protocol: str, service: str
) -> None:
    client = pypsrp_client(protocol=client_protocol, service=service)
    server = acceptor.new_context(server_protocol)  # type: ignore[arg-type]

    authenticate(client, server)

    assert server.client_principal == "admin@PSFLEET.TEST"
    assert server.negotiated_protocol == "kerberos"
    assert client.negotiated_protocol == "kerberos"
    request = b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">request</s:Envelope>'
    wrapped = client.wrap_winrm(request)
    assert request not in wrapped.header + wrapped.data
    assert server.unwrap_winrm(wrapped.header, wrapped.data) == request
    response = b"<s:Envelope>" + b"r" * 40_000 + b"</s:Envelope>"
    wrapped = server.wrap_winrm(response)
    assert client.unwrap_winrm(wrapped.header, wrapped.data) == response


def test_negotiate_acceptor_still_offers_ntlm_when_asked(
    acceptor: KerberosAcceptor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = tmp_path / "ntlm-users"
    users.write_text("LAB:auditor:Secr3t!\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    client = spnego.client("LAB\\auditor", "Secr3t!", hostname=LAB_HOST, protocol="ntlm")
    server = acceptor.new_context("negotiate", allow_ntlm=True)

    authenticate(client, server)

    assert server.negotiated_protocol == "ntlm"
    assert server.client_principal == "LAB\\auditor"


def test_no_ticket_cache(acceptor: KerberosAcceptor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such.ccache"
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{missing}")

    with pytest.raises(NoCredentialError) as kerberos_error:
        pypsrp_client(protocol="kerberos").step()
    with pytest.raises(BadMechanismError) as negotiate_error:
        pypsrp_client(protocol="negotiate").step()

    expected = f"No Kerberos credentials available (default cache: FILE:{missing})"
    assert expected in str(kerberos_error.value)
    assert str(kerberos_error.value).startswith(
        "SpnegoError (7): Major (458752): No credentials were supplied, or the credentials were "
        "unavailable or inaccessible, Minor (2529639053): "
    )
    # Negotiate wraps the same text, and adds that no mechanism was left (NTLM needs a password).
    assert expected in str(negotiate_error.value)
    assert str(negotiate_error.value).endswith("Context: Unable to negotiate common mechanism")


def test_empty_ticket_cache(
    acceptor: KerberosAcceptor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.ccache"
    empty.write_bytes(b"")
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{empty}")

    with pytest.raises(NoCredentialError) as error:
        pypsrp_client().step()

    assert f"No Kerberos credentials available: Bad format in credentials cache (filename: {empty})" in str(
        error.value
    )


def test_destroyed_ticket_cache(krb_env: Kdc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "gone.ccache"
    krb_env.kinit(ccache=cache)
    krb_env.kdestroy(ccache=cache)
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{cache}")

    with pytest.raises(NoCredentialError) as error:
        pypsrp_client().step()

    assert f"No Kerberos credentials available (default cache: FILE:{cache})" in str(error.value)


def test_expired_ticket(
    krb_env: Kdc, expiring_ticket: ExpiringTicket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KRB5CCNAME", expiring_ticket.wait())

    with pytest.raises(SpnegoError) as error:
        pypsrp_client().step()

    # The KDC refuses the expired TGT at the service-ticket request (KRB_AP_ERR_TKT_EXPIRED).
    assert type(error.value) is SpnegoError
    assert str(error.value) == (
        "SpnegoError (4294967295): Major (851968): Unspecified GSS failure.  Minor code may provide "
        "more information, Minor (2529638944): Ticket expired, Context: Processing security token"
    )


@pytest.mark.parametrize(
    ("hostname", "service", "principal"),
    [
        ("lab-99.psfleet.test", "HTTP", "HTTP/lab-99.psfleet.test@PSFLEET.TEST"),  # unknown host
        (LAB_HOST, "WSMAN", f"WSMAN/{LAB_HOST}@PSFLEET.TEST"),  # wrong negotiate_service
        ("127.0.0.2", "HTTP", "HTTP/127.0.0.2@PSFLEET.TEST"),  # no hostname override: SPN from the URL
    ],
)
def test_server_principal_not_in_kdc(krb_env: Kdc, hostname: str, service: str, principal: str) -> None:
    with pytest.raises(SpnegoError) as kerberos_error:
        pypsrp_client(hostname=hostname, service=service).step()
    with pytest.raises(BadMechanismError) as negotiate_error:
        pypsrp_client(hostname=hostname, service=service, protocol="negotiate").step()

    assert type(kerberos_error.value) is SpnegoError
    assert str(kerberos_error.value) == (
        "SpnegoError (4294967295): Major (851968): Unspecified GSS failure.  Minor code may provide "
        f"more information, Minor (2529638919): Server {principal} not found in Kerberos database, "
        "Context: Processing security token"
    )
    assert f"Server {principal} not found in Kerberos database" in str(negotiate_error.value)


def test_ticket_for_another_host_is_rejected_by_the_acceptor(acceptor: KerberosAcceptor) -> None:
    # The KDC issues HTTP/lab-03 happily; lab-02's keytab has no key for it. pyspnego 0.12.4
    # does not raise the GSS error here: python-gssapi hands back the KRB-ERROR token instead,
    # and pyspnego then fails reading flags of the unfinished context.
    client = pypsrp_client(hostname=OTHER_LAB_HOST)
    server = acceptor.new_context("negotiate")

    with pytest.raises(AttributeError, match="security context whose establishment has not yet been started"):
        server.step(client.step())

    assert not server.complete


SKEWED_CLIENT = """
import base64, spnego
ctx = spnego.client(None, None, hostname=%r, service="HTTP", protocol="kerberos",
                    options=spnego.NegotiateOptions.wrapping_winrm)
try:
    print("token|" + base64.b64encode(ctx.step()).decode())
except Exception as e:
    print(type(e).__name__ + "|" + str(e))
"""


def run_skewed_client(ccache: str, *, seconds_ahead: int = 600) -> tuple[str, str]:
    """Run the pypsrp-like client with its clock ``seconds_ahead``; libfaketime needs a new process."""
    env = {
        **os.environ,
        "KRB5CCNAME": ccache,
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME": f"+{seconds_ahead}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", SKEWED_CLIENT % LAB_HOST],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    kind, _, text = result.stdout.strip().partition("|")
    return kind, text


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="apt-get install -y libfaketime")
def test_clock_skew_seen_by_the_kdc(krb_env: Kdc, tmp_path: Path) -> None:
    # The admin box's clock is 10 minutes ahead of the KDC's (allowance: 5 s in this realm,
    # 5 min by default); its TGT came from a kinit while the clock was right.
    cache = krb_env.kinit(ccache=tmp_path / "fresh.ccache")

    kind, text = run_skewed_client(cache)

    assert kind == "SpnegoError"
    assert text == (
        "SpnegoError (4294967295): Major (851968): Unspecified GSS failure.  Minor code may "
        "provide more information, Minor (2529638949): Clock skew too great, Context: Processing security token"
    )


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="apt-get install -y libfaketime")
def test_clock_skew_seen_by_the_acceptor(acceptor: KerberosAcceptor, krb_env: Kdc, tmp_path: Path) -> None:
    # The service ticket is already cached, so only the WinRM host sees the skewed authenticator.
    cache = krb_env.kinit(ccache=tmp_path / "cached.ccache")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KRB5CCNAME", cache)
        pypsrp_client().step()  # caches HTTP/lab-02 with the right clock

    kind, token = run_skewed_client(cache)
    server = acceptor.new_context("negotiate")

    assert kind == "token"
    with pytest.raises(AttributeError, match="security context whose establishment has not yet been started"):
        server.step(base64.b64decode(token))
    assert not server.complete


@pytest.mark.skipif(not LIBFAKETIME.exists(), reason="apt-get install -y libfaketime")
def test_kinit_on_the_skewed_box_is_the_fix(krb_env: Kdc, tmp_path: Path) -> None:
    # MIT's kdc_timesync (on by default): kinit learns the KDC's time and stores the offset in
    # the cache, after which the same skewed clock gets service tickets again.
    cache = tmp_path / "skewed.ccache"
    skewed = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "+600", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    krb_env.run(
        ["kinit", krb_env.admin_principal],
        stdin=krb_env.admin_password + "\n",
        env={"KRB5CCNAME": f"FILE:{cache}", **skewed},
    )

    kind, _ = run_skewed_client(f"FILE:{cache}")

    assert kind == "token"


def test_acceptor_refuses_a_keytab_without_the_host_keys(krb_env: Kdc, host_keytab: Path) -> None:
    with pytest.raises(KerberosSetupError, match=f"has no usable key for HTTP/{OTHER_LAB_HOST}"):
        KerberosAcceptor(KerberosAcceptorConfig(keytab=host_keytab, hostname=OTHER_LAB_HOST))
    with pytest.raises(KerberosSetupError, match="does not exist"):
        KerberosAcceptor(
            KerberosAcceptorConfig(keytab=host_keytab.with_name("nope.keytab"), hostname=LAB_HOST)
        )


def test_encryption_protocol_follows_the_auth_scheme() -> None:
    assert encryption_protocol("Negotiate") == "application/HTTP-SPNEGO-session-encrypted"
    assert encryption_protocol("Kerberos") == "application/HTTP-Kerberos-session-encrypted"
    assert set(ENCRYPTION_PROTOCOLS) == {"negotiate", "kerberos"}
    with pytest.raises(ValueError, match="Basic"):
        encryption_protocol("Basic")
