"""Every row of the classification table, with an exception each transport really raises for
it; WS-Man "Access is denied" reads the same from pypsrp's parser and the lean client's."""

from __future__ import annotations

import socket
import ssl

import pytest
import requests
import urllib3.exceptions
from pypsrp.exceptions import AuthenticationError, WinRMError, WinRMTransportError, WSManFaultError
from pypsrp.wsman import WSMan

from toolkit.results import ErrorKind
from toolkit.transport.classify import (
    ACCESS_DENIED_FIX,
    CASES,
    DeadlineExceeded,
    NTLMDowngradeRefused,
    ProtocolViolation,
    RedirectRefused,
    ResponseTooLarge,
    classify,
)
from toolkit.transport.lean import soap

EP = "10.0.0.5:5985"

#: The fault Windows sends (HTTP 500) when the account logged on but may not use WinRM.
ACCESS_DENIED_FAULT = """<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header>
<a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action></s:Header><s:Body><s:Fault>
<s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:AccessDenied</s:Value></s:Subcode></s:Code>
<s:Reason><s:Text xml:lang="">Access is denied. </s:Text></s:Reason>
<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="5"
 Machine="fs01.corp.example.com"><f:Message>Access is denied. </f:Message></f:WSManFault></s:Detail>
</s:Fault></s:Body></s:Envelope>"""


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


class SpnegoError(Exception):
    __module__ = "spnego.exceptions"


#: case name -> (an exception that case is for, the kind, a text the message holds)
EXAMPLES: dict[str, tuple[BaseException, ErrorKind, str]] = {
    "protocol-violation": (
        ProtocolViolation("an encrypted answer that does not decrypt"),
        ErrorKind.PROTOCOL_ERROR,
        "does not decrypt",
    ),
    "kerberos": (
        SpnegoError("Minor (2529639053): No Kerberos credentials available (default cache: FILE:/tmp/k)"),
        ErrorKind.AUTH_FAILED,
        "run kinit",
    ),
    "ntlm-downgrade": (
        NTLMDowngradeRefused("the NTLM CHALLENGE lacks 128-bit keys"),
        ErrorKind.AUTH_FAILED,
        "128-bit keys",
    ),
    "redirect": (
        RedirectRefused(302, "http://evil.example/wsman"),
        ErrorKind.PROTOCOL_ERROR,
        "http://evil.example/wsman",
    ),
    "response-too-large": (ResponseTooLarge(4096), ErrorKind.PROTOCOL_ERROR, "4096-byte cap"),
    "deadline": (DeadlineExceeded("late"), ErrorKind.TIMEOUT, "within the deadline"),
    "credentials": (
        AuthenticationError("Failed to authenticate the user u with ntlm"),
        ErrorKind.AUTH_FAILED,
        "credentials rejected",
    ),
    "wsman-access-denied": (
        WSManFaultError(5, "m", "Access is denied.", None, None, None),
        ErrorKind.ACCESS_DENIED,
        ACCESS_DENIED_FIX,
    ),
    "wsman-fault": (
        WSManFaultError(2150858843, "m", "The request is not valid.", None, None, None),
        ErrorKind.PROTOCOL_ERROR,
        "2150858843",
    ),
    "http-401": (WinRMTransportError("http", 401, ""), ErrorKind.AUTH_FAILED, "HTTP 401"),
    "http-403": (WinRMTransportError("http", 403, ""), ErrorKind.ACCESS_DENIED, ACCESS_DENIED_FIX),
    "http-status": (WinRMTransportError("http", 502, "bad gateway"), ErrorKind.PROTOCOL_ERROR, "HTTP 502"),
    "tls-untrusted": (
        chained(
            urllib3.exceptions.SSLError("x"), ssl.SSLCertVerificationError(1, "certificate verify failed")
        ),
        ErrorKind.AUTH_FAILED,
        "ca_file",
    ),
    "connect-timeout": (
        urllib3.exceptions.ConnectTimeoutError(None, "connect timed out"),
        ErrorKind.UNREACHABLE,
        "connect timeout",
    ),
    "read-timeout": (
        urllib3.exceptions.ReadTimeoutError(None, "/wsman", "read timed out"),
        ErrorKind.TIMEOUT,
        "read timeout",
    ),
    "unresolved": (
        chained(OSError("lookup"), socket.gaierror(-2, "Name or service not known")),
        ErrorKind.UNREACHABLE,
        "cannot resolve 10.0.0.5",
    ),
    "refused": (
        chained(
            urllib3.exceptions.NewConnectionError(None, "Failed to establish"),
            ConnectionRefusedError(111, "x"),
        ),
        ErrorKind.UNREACHABLE,
        "connection refused",
    ),
    "reset": (
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "x")),
        ErrorKind.UNREACHABLE,
        "reset",
    ),
    "no-route": (OSError(113, "No route to host"), ErrorKind.UNREACHABLE, "no route"),
    "connection-failed": (
        requests.exceptions.ConnectionError("weird"),
        ErrorKind.UNREACHABLE,
        "failed: weird",
    ),
    "spnego": (SpnegoError("SpnegoError (1): something odd"), ErrorKind.AUTH_FAILED, "something odd"),
    "http-protocol": (
        urllib3.exceptions.HeaderParsingError([], b"x"),
        ErrorKind.PROTOCOL_ERROR,
        "HTTP protocol error",
    ),
    "winrm": (WinRMError("Received related id does not match"), ErrorKind.PROTOCOL_ERROR, "related id"),
}


def test_every_row_of_the_table_has_an_example() -> None:
    assert [case.name for case in CASES] == list(EXAMPLES)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_each_row_classifies_its_example(name: str) -> None:
    exc, kind, text = EXAMPLES[name]
    error = classify(exc, endpoint=EP, sent=True)
    assert error.kind is kind, error
    assert text in error.message


def test_access_denied_reads_the_same_from_both_transports() -> None:
    from_pypsrp = WSMan._parse_wsman_fault(ACCESS_DENIED_FAULT)
    from_lean = soap.fault(ACCESS_DENIED_FAULT)
    assert (from_lean.code, from_lean.machine, from_lean.reason) == (
        5,
        "fs01.corp.example.com",
        "Access is denied.",
    )
    assert (from_lean.code, from_lean.machine, from_lean.reason) == (
        from_pypsrp.code,
        from_pypsrp.machine,
        from_pypsrp.reason,
    )
    pypsrp_error = classify(from_pypsrp, endpoint=EP, sent=False)
    assert classify(from_lean, endpoint=EP, sent=False) == pypsrp_error
    assert pypsrp_error.kind is ErrorKind.ACCESS_DENIED
    assert pypsrp_error.message == (
        f"access denied on {EP}: Access is denied. (fix: add the account to Remote Management Users or Administrators)"
    )


def test_the_hresult_form_of_access_denied_is_access_denied_too() -> None:
    fault = soap.fault(
        ACCESS_DENIED_FAULT.replace('Code="5"', 'Code="2147942405"').replace("Access is denied. ", "x")
    )
    assert fault.code == 0x80070005
    assert classify(fault, endpoint=EP, sent=True).kind is ErrorKind.ACCESS_DENIED


def test_failures_that_prove_nothing_was_sent_say_so() -> None:
    refused = EXAMPLES["refused"][0]
    assert classify(refused, endpoint=EP, sent=True).sent is False
    assert classify(EXAMPLES["reset"][0], endpoint=EP, sent=True).sent is True
