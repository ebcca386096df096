"""Edges of classification that mutation testing found unpinned: access denied quotes the
host's own reason (in its language), a WS-Man fault's reason is capped at 200 characters, and
an untrusted certificate is recognised by its exception type even when its text says nothing
of "certificate verify failed", an unresolved name is named without its port (IPv6 too), and a
cause carried as an exception's first argument or ``reason`` is followed only after a cause
that is set, and long exception texts are cut to their cap (120 or 160 characters)."""

from __future__ import annotations

import socket
import ssl

import pytest
import requests
import spnego.exceptions
import urllib3.exceptions
from pypsrp.exceptions import WinRMError

from tests.unit.transport.test_classify_sent import EP, fault
from toolkit.results import ErrorKind
from toolkit.transport.classify import classify


def test_access_denied_quotes_the_hosts_own_reason() -> None:
    error = classify(fault(5, "Zugriff verweigert"), endpoint=EP, sent=False)
    assert error.kind is ErrorKind.ACCESS_DENIED
    assert "Zugriff verweigert" in error.message and "Access is denied" not in error.message


def test_a_faults_reason_is_capped_at_200_characters() -> None:
    error = classify(fault(6, "y" * 500), endpoint=EP, sent=True)
    assert error.kind is ErrorKind.PROTOCOL_ERROR
    assert error.message.count("y") == 200 and error.message.endswith("y" * 200)


def test_an_untrusted_certificate_is_known_by_its_type_whatever_its_text() -> None:
    exc = ssl.SSLCertVerificationError(1, "hostname mismatch")
    exc.verify_message = "Hostname mismatch, certificate is not valid for fs01"
    error = classify(exc, endpoint=EP, sent=False)
    assert error.message.startswith(f"TLS certificate of {EP.rsplit(':', 1)[0]}")
    assert "Hostname mismatch, certificate is not valid for fs01" in error.message
    assert error.sent is False


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [("fs01.corp.example:5986", "fs01.corp.example"), ("[fe80::1]:5985", "[fe80::1]")],
)
def test_an_unresolved_name_is_named_without_its_port(endpoint: str, host: str) -> None:
    error = classify(socket.gaierror(-2, "Name or service not known"), endpoint=endpoint, sent=True)
    assert error.kind is ErrorKind.UNREACHABLE and error.sent is False
    assert error.message.startswith(f"cannot resolve {host}") and f"{host}:" not in error.message


def test_a_cause_carried_as_the_first_argument_is_followed() -> None:
    outer = OSError(ConnectionRefusedError(111, "Connection refused"))  # no __cause__ set
    error = classify(outer, endpoint=EP, sent=True)
    assert error.kind is ErrorKind.UNREACHABLE and error.sent is False


def test_a_set_cause_is_followed_before_an_exception_argument() -> None:
    outer = RuntimeError(ValueError("x"))
    outer.__cause__ = ConnectionRefusedError(111, "Connection refused")
    error = classify(outer, endpoint=EP, sent=True)
    assert error.kind is ErrorKind.UNREACHABLE and error.sent is False


def test_a_cause_that_is_set_is_followed_before_a_reason_attribute() -> None:
    outer = RuntimeError("outer")
    outer.reason = ValueError("x")  # type: ignore[attr-defined]
    outer.__cause__ = ConnectionRefusedError(111, "Connection refused")
    error = classify(outer, endpoint=EP, sent=True)
    assert error.kind is ErrorKind.UNREACHABLE and error.sent is False


@pytest.mark.parametrize(
    ("exc", "start", "cap"),
    [
        (requests.exceptions.ConnectionError("x" * 500), "x", 120),
        (urllib3.exceptions.ProtocolError("x" * 500), "x", 160),
        (WinRMError("x" * 500), "x", 160),
        (spnego.exceptions.BadMechanismError(context_msg="x" * 500), "SpnegoError", 160),
    ],
)
def test_long_exception_texts_are_cut_to_their_cap(exc: BaseException, start: str, cap: int) -> None:
    message = classify(exc, endpoint=EP, sent=True).message
    assert message.endswith("x") and len(message) - message.index(start) == cap
