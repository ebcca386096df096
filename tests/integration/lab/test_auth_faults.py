"""Authentication modes and transport faults: what the client sees must be what it would see
against Windows (requests / pypsrp exception types, HTTP codes)."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
import requests
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell

from tests.integration.lab.conftest import WS, host_of, invoke, open_pool, props, start_fleet, wsman_for
from toolkit.lab.fleet import Fleet, FleetHost

TIMEOUTS = {"connection_timeout": 2, "read_timeout": 2, "operation_timeout": 1}
WELL_FORMED_GET = (
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">'
    b"<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action>"
    b"<a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID></s:Header>"
    b"<s:Body/></s:Envelope>"
)


def _test_path(host: FleetHost, **overrides: object) -> list[object]:
    with open_pool(host, **overrides) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Test-Path").add_argument(WS)
        return invoke(ps)


# -- authentication -------------------------------------------------------------------------
@pytest.mark.parametrize("auth", ["negotiate", "ntlm"])
def test_negotiate_and_ntlm_with_message_encryption(fleet: Fleet, auth: str) -> None:
    host = dataclasses.replace(host_of(fleet, "os-server2016"), auth=auth)
    wsman = wsman_for(host)
    assert (
        wsman.transport.wrap_required
    )  # plain HTTP: every message is encrypted (docs/windows-facts.md#winrm-message-encryption)
    assert _test_path(host) == [True]


def test_ntlm_logon_leaves_no_user_file_for_clients_in_the_process(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pyspnego's Negotiate takes NTLM credentials from NTLM_USER_FILE: a client sharing the lab's
    # process must not find the lab's users there after a logon.
    monkeypatch.delenv("NTLM_USER_FILE", raising=False)
    assert _test_path(host_of(fleet, "os-server2016")) == [True]
    assert "NTLM_USER_FILE" not in os.environ


def test_basic_over_https_with_lab_ca(fleet: Fleet) -> None:
    host = host_of(fleet, "tls")
    assert host.scheme == "https" and host.auth == "basic" and host.ca_file
    assert _test_path(host) == [True]


def test_https_without_the_lab_ca_fails_certificate_verification(fleet: Fleet) -> None:
    host = host_of(fleet, "tls")
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        _test_path(host, cert_validation=True)


@pytest.mark.parametrize("name", ["os-server2016", "tls"])
def test_wrong_password_is_authentication_error(fleet: Fleet, name: str) -> None:
    host = dataclasses.replace(host_of(fleet, name), password="wrong")
    with pytest.raises(AuthenticationError):
        _test_path(host)


def test_unknown_user_is_authentication_error(fleet: Fleet) -> None:
    host = dataclasses.replace(host_of(fleet, "os-server2016"), username="nobody")
    with pytest.raises(AuthenticationError):
        _test_path(host)


# -- faults ---------------------------------------------------------------------------------
def test_refuse_is_connection_refused(fault_fleet: Fleet) -> None:
    with pytest.raises(requests.exceptions.ConnectionError, match="Connection refused"):
        _test_path(host_of(fault_fleet, "refuse"), **TIMEOUTS)


def test_reset_is_connection_error(fault_fleet: Fleet) -> None:
    with pytest.raises(requests.exceptions.ConnectionError, match="reset by peer"):
        _test_path(host_of(fault_fleet, "reset"), **TIMEOUTS)


def test_hang_is_read_timeout(fault_fleet: Fleet) -> None:
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        _test_path(host_of(fault_fleet, "hang"), **TIMEOUTS)
    assert 1.5 < time.monotonic() - start < 10


def test_slow_works_but_slower(fault_fleet: Fleet) -> None:
    start = time.monotonic()
    assert _test_path(host_of(fault_fleet, "fast")) == [True]
    fast = time.monotonic() - start
    start = time.monotonic()
    assert _test_path(host_of(fault_fleet, "slow")) == [True]
    slow = time.monotonic() - start
    # 150 ms on each of ~10 requests; only the ordering and a generous floor are asserted.
    assert slow > fast
    assert slow > 0.5


def test_http500_is_a_wsman_fault_with_http_500(fault_fleet: Fleet) -> None:
    host = host_of(fault_fleet, "h500")
    with pytest.raises(WSManFaultError) as info:
        _test_path(host, **TIMEOUTS)
    assert info.value.code == 2150858752
    assert "cannot process the request" in str(info.value.reason)
    # The HTTP status under the fault, as pypsrp's transport sees it before parsing the body:
    # 500 for a well-formed request (a malformed one is refused with 400 before the fault).
    wsman = wsman_for(host, **TIMEOUTS)
    with pytest.raises(WinRMTransportError) as raw:
        wsman.transport.send(WELL_FORMED_GET)
    assert raw.value.code == 500
    with pytest.raises(WinRMTransportError) as malformed:
        wsman.transport.send(b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>")
    assert malformed.value.code == 400


def test_auth_fail_is_authentication_error(fault_fleet: Fleet) -> None:
    with pytest.raises(AuthenticationError):
        _test_path(host_of(fault_fleet, "authfail"), **TIMEOUTS)


def test_flaky_fails_first_connections_then_works() -> None:
    lab = start_fleet(
        'users: [{name: admin, password: "P@ss-1", admin: true}]\n'
        "hosts: [{name: flaky, fault: {kind: flaky, count: 2}}]\n"
    )
    try:
        host = lab.hosts[0]
        failures = 0
        for _ in range(5):
            try:
                result = _test_path(host, **TIMEOUTS)
                break
            except requests.exceptions.ConnectionError:
                failures += 1
        assert failures == 2
        assert result == [True]
    finally:
        lab.stop()


def test_non_admin_fault_reads_ok_writes_denied(fault_fleet: Fleet) -> None:
    host = host_of(fault_fleet, "nonadmin")
    assert host.username == "admin"
    with open_pool(host) as rp:
        ps = PowerShell(rp)
        ps.add_cmdlet("Get-ItemProperty").add_parameter("Path", WS).add_parameter(
            "Name", "RequireSecuritySignature"
        )
        ps.add_statement()
        ps.add_cmdlet("Set-ItemProperty").add_parameter("Path", WS).add_parameter(
            "Name", "RequireSecuritySignature"
        )
        ps.add_parameter("Value", 1).add_parameter("Type", "DWord")
        out = invoke(ps)
    assert props(out[0])["RequireSecuritySignature"] == 0
    assert [props(e.exception)["Message"] for e in ps.streams.error] == [
        "Requested registry access is not allowed."
    ]
