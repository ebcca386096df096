"""Kerberos failures -> auth_failed with the reason and its fix (docs/kerberos.md).

The exception texts are the ones MIT krb5 1.20 / pyspnego 0.12.4 / pypsrp 0.9.1 produce, pinned
against a real KDC in tests/integration/kerberos; here each maps to its one-line message.
"""

from __future__ import annotations

import pytest
from pypsrp.exceptions import AuthenticationError

from toolkit.results import ErrorKind
from toolkit.transport.classify import classify

GSS = "SpnegoError (4294967295): Major (851968): Unspecified GSS failure.  Minor code may provide more information"
NO_CREDS = (
    "SpnegoError (7): Major (458752): No credentials were supplied, or the credentials were unavailable or "
    "inaccessible, Minor (2529639053): "
)
CONTEXT = ", Context: Processing security token"
SPN_FIX = (
    "set negotiate_hostname_override to the host's FQDN and negotiate_service to HTTP or host "
    "(setspn -L <computer> lists its SPNs)"
)


class SpnegoError(Exception):
    """Stands in for spnego.exceptions errors (which only wrap real GSSAPI errors)."""

    __module__ = "spnego.exceptions"


class BadMechanismError(SpnegoError):
    """What auth="negotiate" raises: the Kerberos text wrapped, no mechanism left."""

    __module__ = "spnego.exceptions"


def negotiate(text: str) -> BadMechanismError:
    return BadMechanismError(f"SpnegoError (1): {text}, Context: Unable to negotiate common mechanism")


CASES = [
    (
        SpnegoError(
            f"{NO_CREDS}No Kerberos credentials available (default cache: FILE:/tmp/krb5cc_1000){CONTEXT}"
        ),
        "no Kerberos ticket (run kinit); the cache FILE:/tmp/krb5cc_1000 has none",
    ),
    (
        negotiate(f"{NO_CREDS}No Kerberos credentials available (default cache: KCM:){CONTEXT}"),
        "no Kerberos ticket (run kinit); the cache KCM: has none",
    ),
    (
        SpnegoError(
            f"{NO_CREDS}No Kerberos credentials available: Bad format in credentials cache "
            f"(filename: /tmp/krb5cc_1000){CONTEXT}"
        ),
        "the Kerberos ticket cache /tmp/krb5cc_1000 is damaged; run kdestroy; kinit",
    ),
    (  # a username in the inventory that is not the cache's principal (DOMAIN\\user loses its '\\')
        SpnegoError(
            f"{NO_CREDS}Can't find client principal LABadmin@CORP in cache collection, "
            "Context: Getting GSSAPI credential"
        ),
        "no Kerberos ticket for LABadmin@CORP (run kinit LABadmin@CORP, or leave username unset to use "
        "the cache's principal; write it as user@REALM, not DOMAIN\\user)",
    ),
    (
        negotiate(
            "SpnegoError (16): Operation not supported or available, Context: No username or password "
            "was specified and the credential cache did not exist or contained no credentials"
        ),
        "no Kerberos ticket for the inventory's username (run kinit user@REALM, or leave username unset "
        "to use the cache's principal)",
    ),
    (
        SpnegoError(f"{GSS}, Minor (2529638944): Ticket expired{CONTEXT}"),
        "the Kerberos ticket has expired; run kinit (or kinit -R while it is renewable)",
    ),
    (
        SpnegoError(
            f"{GSS}, Minor (2529638919): Server HTTP/fs01.corp@CORP not found in Kerberos database{CONTEXT}"
        ),
        f"the KDC has no service principal HTTP/fs01.corp@CORP; {SPN_FIX}",
    ),
    (
        negotiate(
            f"{GSS}, Minor (2529638919): Server host/10.0.0.5@CORP not found in Kerberos database{CONTEXT}"
        ),
        f"the KDC has no service principal host/10.0.0.5@CORP; {SPN_FIX}",
    ),
    (
        SpnegoError(f"{GSS}, Minor (2529638949): Clock skew too great{CONTEXT}"),
        "clock skew too great between this machine and the KDC; fix NTP here, or run kinit again",
    ),
    (
        SpnegoError(
            f"{GSS}, Minor (2529639068): Cannot contact any KDC for realm 'CORP.EXAMPLE.COM'{CONTEXT}"
        ),
        "cannot reach a KDC for realm CORP.EXAMPLE.COM; check krb5.conf ([realms], dns_lookup_kdc) and the network",
    ),
    (  # no cache named in the text
        SpnegoError(f"{NO_CREDS}No Kerberos credentials available{CONTEXT}"),
        "no Kerberos ticket (run kinit)",
    ),
    (
        SpnegoError(
            f"{GSS}, Minor (2529638918): Client 'nobody@CORP' not found in Kerberos database{CONTEXT}"
        ),
        "the KDC does not know the user nobody@CORP; check the username (user@REALM)",
    ),
    (
        SpnegoError(f"{GSS}, Minor (2529638936): Preauthentication failed{CONTEXT}"),
        "the KDC rejected the password (or the account is locked)",
    ),
    (
        SpnegoError(f"{GSS}, Minor (2529638936): Some new MIT text about Kerberos{CONTEXT}"),
        "Kerberos failed: Some new MIT text about Kerberos",
    ),
]


@pytest.mark.parametrize(("exc", "reason"), CASES)
def test_kerberos_failures_are_auth_failed_with_the_fix(exc: Exception, reason: str) -> None:
    error = classify(exc, endpoint="fs01:5985", sent=False, spn="HTTP/fs01.corp")

    assert error.kind is ErrorKind.AUTH_FAILED
    assert error.message == f"authentication failed on fs01:5985: {reason}"
    assert not error.sent  # nothing reached the host: the failure is on this side


@pytest.mark.parametrize("auth", ["kerberos", "negotiate"])
def test_a_ticket_the_host_refuses_names_the_spn(auth: str) -> None:
    exc = AuthenticationError(f"Failed to authenticate the user None with {auth}")

    error = classify(exc, endpoint="fs01:5985", sent=False, spn="HTTP/fs01.corp")

    assert error.kind is ErrorKind.AUTH_FAILED
    assert error.message == (
        "authentication failed on fs01:5985: the host refused the Kerberos ticket for HTTP/fs01.corp; "
        "check the host's clock and that no other computer holds that SPN (setspn -Q HTTP/fs01.corp), "
        "then kdestroy; kinit"
    )


def test_a_rejected_ntlm_password_is_still_credentials_rejected() -> None:
    exc = AuthenticationError("Failed to authenticate the user LAB\\admin with negotiate")

    error = classify(exc, endpoint="fs01:5985", sent=False, spn="host/fs01")

    assert error.message == "authentication failed on fs01:5985: credentials rejected"
