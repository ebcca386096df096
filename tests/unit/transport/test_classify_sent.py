"""Classification as one table of (exception or fault, kind, sent), with what each transport
really raises: pypsrp/requests/urllib3 on the pypsrp path, the lean client's own exceptions
(HTTP framing, soap faults, its deadline) on the lean path. ``sent`` is what the fan-out and
remediation act on: a failure that may have followed a pipeline keeps ``sent``; only a
failure that proves nothing reached the host clears it. test_classify_table.py holds one
example per case of the table; this file pins the kind *and* ``sent`` for both values of the
caller's ``sent``, and the boundaries the cases depend on."""

from __future__ import annotations

import socket
import ssl

import pytest
import requests
import urllib3.exceptions
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError

from tests.unit.transport.test_classify_table import ACCESS_DENIED_FAULT
from toolkit.results import ErrorKind
from toolkit.transport.classify import (
    ACCESS_DENIED_FIX,
    DeadlineExceeded,
    NTLMDowngradeRefused,
    RedirectRefused,
    ResponseTooLarge,
    classify,
)
from toolkit.transport.lean import soap
from toolkit.transport.lean.http import HTTPProtocolError

EP = "10.0.0.5:5985"
AUTH, DENIED, PROTOCOL = ErrorKind.AUTH_FAILED, ErrorKind.ACCESS_DENIED, ErrorKind.PROTOCOL_ERROR
UNREACHABLE, TIMEOUT = ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


def fault(code: int, reason: str) -> WSManFaultError:
    return WSManFaultError(code, "m", reason, None, None, None)


#: (label, exception, kind, unsent): ``unsent`` = the failure itself proves nothing was sent,
#: so ``sent`` is False whatever the caller says; otherwise ``sent`` is the caller's.
TABLE: list[tuple[str, BaseException, ErrorKind, bool]] = [
    # HTTP status codes (pypsrp: WinRMTransportError; lean: the same, built from the answer)
    ("http 401", WinRMTransportError("http", 401, ""), AUTH, False),
    ("http 403", WinRMTransportError("http", 403, "Forbidden"), DENIED, False),
    ("http 400", WinRMTransportError("http", 400, ""), PROTOCOL, False),
    ("http 402", WinRMTransportError("http", 402, ""), PROTOCOL, False),
    ("http 404", WinRMTransportError("http", 404, ""), PROTOCOL, False),
    ("http 500 unparsed", WinRMTransportError("http", 500, "<html>"), PROTOCOL, False),
    ("rejected credentials", AuthenticationError("Failed to authenticate the user u with ntlm"), AUTH, False),
    # WS-Man access denied: code 5, its HRESULT 0x80070005, or only Windows' text
    ("fault code 5", fault(5, "Access is denied."), DENIED, False),
    ("fault 0x80070005", fault(0x80070005, "x"), DENIED, False),
    ("fault text only", fault(0, "Access is denied. "), DENIED, False),
    ("fault text any case", fault(1, "ACCESS IS DENIED"), DENIED, False),
    ("fault code 6", fault(6, "The handle is invalid."), PROTOCOL, False),
    ("fault 0x80070006", fault(0x80070006, "x"), PROTOCOL, False),
    ("lean fault code 5", soap.fault(ACCESS_DENIED_FAULT), DENIED, False),
    # timeouts: a read timeout is the host being slow, not unreachable
    (
        "urllib3 read timeout",
        urllib3.exceptions.ReadTimeoutError(None, "/wsman", "read timed out"),
        TIMEOUT,
        False,
    ),
    ("requests read timeout", requests.exceptions.ReadTimeout("read timed out"), TIMEOUT, False),
    ("socket timeout", TimeoutError("timed out"), TIMEOUT, False),
    ("lean deadline", DeadlineExceeded("the deadline passed"), TIMEOUT, False),
    ("connect timeout", urllib3.exceptions.ConnectTimeoutError(None, "connect timed out"), UNREACHABLE, True),
    (
        "requests connect timeout",
        requests.exceptions.ConnectTimeout("Connection to 10.0.0.5 timed out. (connect timeout=3)"),
        UNREACHABLE,
        True,
    ),
    # connection failures: refused/unresolved/no route prove nothing went out; a reset does not
    ("refused", ConnectionRefusedError(111, "Connection refused"), UNREACHABLE, True),
    ("unresolved", socket.gaierror(-2, "Name or service not known"), UNREACHABLE, True),
    ("no route", OSError(113, "No route to host"), UNREACHABLE, True),
    ("network unreachable", OSError(101, "Network is unreachable"), UNREACHABLE, True),
    ("reset", ConnectionResetError(104, "Connection reset by peer"), UNREACHABLE, False),
    (
        "reset inside urllib3",
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "x")),
        UNREACHABLE,
        False,
    ),
    (
        "remote closed",
        requests.exceptions.ConnectionError("RemoteDisconnected('Remote end closed connection')"),
        UNREACHABLE,
        False,
    ),
    ("connection failed", requests.exceptions.ConnectionError("weird"), UNREACHABLE, False),
    (
        "untrusted certificate",
        chained(
            urllib3.exceptions.SSLError("x"), ssl.SSLCertVerificationError(1, "certificate verify failed")
        ),
        AUTH,
        True,
    ),
    # what psfleet refuses
    ("redirect", RedirectRefused(302, "http://other.example/wsman"), PROTOCOL, False),
    ("too large", ResponseTooLarge(1024), PROTOCOL, False),
    ("ntlm downgrade", NTLMDowngradeRefused("no 128-bit keys"), AUTH, False),
    ("lean http framing", HTTPProtocolError("malformed chunk"), PROTOCOL, False),
    ("winrm", WinRMError("Received related id does not match"), PROTOCOL, False),
    ("anything else", ValueError("odd"), ErrorKind.ERROR, False),
]


@pytest.mark.parametrize("caller_sent", [False, True])
@pytest.mark.parametrize(("label", "exc", "kind", "unsent"), TABLE, ids=[row[0] for row in TABLE])
def test_kind_and_sent(
    label: str, exc: BaseException, kind: ErrorKind, unsent: bool, caller_sent: bool
) -> None:
    error = classify(exc, endpoint=EP, sent=caller_sent)
    assert error.kind is kind, f"{label}: {error}"
    assert error.sent is (False if unsent else caller_sent), f"{label}: {error}"
    assert EP in error.message or "10.0.0.5" in error.message


def test_a_reset_after_the_pipeline_went_out_is_not_retryable() -> None:
    """A reset may come after the host ran the pipeline: it must keep ``sent``."""
    error = classify(ConnectionResetError(104, "Connection reset by peer"), endpoint=EP, sent=True)
    assert error.kind is UNREACHABLE and error.sent is True


@pytest.mark.parametrize("exc", [fault(5, "x"), fault(0x80070005, "x"), fault(0, "Access is denied.")])
def test_access_denied_names_the_fix(exc: BaseException) -> None:
    error = classify(exc, endpoint=EP, sent=False)
    assert error.kind is DENIED and error.message.endswith(f"(fix: {ACCESS_DENIED_FIX})")


def test_http_403_names_the_fix_and_401_does_not() -> None:
    forbidden = classify(WinRMTransportError("http", 403, ""), endpoint=EP, sent=False)
    unauthorized = classify(WinRMTransportError("http", 401, ""), endpoint=EP, sent=False)
    assert ACCESS_DENIED_FIX in forbidden.message and "HTTP 403" in forbidden.message
    assert ACCESS_DENIED_FIX not in unauthorized.message and "HTTP 401" in unauthorized.message


def test_a_bare_connection_reset_is_a_reset_whatever_its_text() -> None:
    error = classify(ConnectionResetError(104, "x"), endpoint=EP, sent=True)
    assert (error.kind, error.sent) == (UNREACHABLE, True) and "connection reset" in error.message


class SpnegoError(Exception):
    __module__ = "spnego.exceptions"


def test_only_a_kerberos_minor_status_reads_as_kerberos_failed() -> None:
    ntlm = classify(SpnegoError("SpnegoError (1): Minor (5): bad NTLM token"), endpoint=EP, sent=False)
    assert ntlm.kind is AUTH and "Kerberos failed" not in ntlm.message and "bad NTLM token" in ntlm.message
    words = classify(SpnegoError("Kerberos is unhappy"), endpoint=EP, sent=False)
    assert words.kind is AUTH and "Kerberos failed" not in words.message and "unhappy" in words.message
    krb = classify(SpnegoError("Minor (7): Kerberos thing odd"), endpoint=EP, sent=False)
    assert krb.kind is AUTH and "Kerberos failed: Kerberos thing odd" in krb.message


def test_the_cause_chain_is_followed_twelve_deep() -> None:
    """The bound only stops cycles; twelve links are enough for every stack psfleet uses."""

    def nest(depth: int) -> BaseException:
        exc: BaseException = ConnectionRefusedError(111, "refused")
        for _ in range(depth - 1):
            exc = chained(RuntimeError("wrapper"), exc)
        return exc

    assert classify(nest(12), endpoint=EP, sent=True).kind is UNREACHABLE
    assert classify(nest(13), endpoint=EP, sent=True).kind is ErrorKind.ERROR


def test_another_wsman_fault_is_named_as_a_fault_with_its_code() -> None:
    error = classify(fault(2150858843, "The request is not valid."), endpoint=EP, sent=True)
    assert error.kind is PROTOCOL
    assert error.message == f"WS-Man fault from {EP}: 2150858843: The request is not valid."


def test_refusal_exceptions_say_what_was_refused() -> None:
    assert str(ResponseTooLarge(4096)) == "response larger than 4096 bytes"
    assert str(RedirectRefused(302, "")) == "HTTP 302 redirect to (no Location) refused"


@pytest.mark.parametrize(
    ("exc", "sent", "kind", "left_sent"),
    [
        (OSError("connect timeout"), True, UNREACHABLE, False),
        (OSError("Connection to 10.0.0.5 timed out."), False, UNREACHABLE, False),
        # the same text once a request went out is no proof that nothing was sent
        (OSError("Connection to 10.0.0.5 timed out."), True, ErrorKind.ERROR, True),
    ],
)
def test_a_connect_timeout_known_only_by_its_text(
    exc: OSError, sent: bool, kind: ErrorKind, left_sent: bool
) -> None:
    error = classify(exc, endpoint=EP, sent=sent)
    assert (error.kind, error.sent) == (kind, left_sent)


def test_an_error_carried_as_the_second_argument_is_followed() -> None:
    # urllib3 wraps the socket error as ProtocolError(message, error): no text says "refused"
    exc = urllib3.exceptions.ProtocolError("x", ConnectionRefusedError(111, "y"))
    error = classify(exc, endpoint=EP, sent=True)
    assert (error.kind, error.sent) == (UNREACHABLE, False)


def test_exception_texts_in_messages_are_capped() -> None:
    error = classify(NTLMDowngradeRefused("x" * 1000), endpoint=EP, sent=False)
    detail = error.message.split(": ", 1)[1].split(" (fix:", 1)[0]
    assert detail == "x" * 300
