"""Validate negotiate end to end against smbd, direct and through a rewriting proxy
(docs/windows-facts.md#validate-negotiate-abort, docs/windows-facts.md#samba-signing-and-dialect,
docs/windows-facts.md#smbprotocol-client, docs/windows-facts.md#tampering-proxy)."""

from __future__ import annotations

import uuid

import pytest
from smbprotocol.connection import Connection, Dialects
from smbprotocol.exceptions import SMBConnectionClosed, SMBException
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

from tests.support.samba import SambaServer
from tests.support.tamper_proxy import Rewrite, TamperProxy
from toolkit.results import ErrorKind
from toolkit.smb.diagnose import DiagnosisStatus, Stage, diagnose_validate_negotiate

pytestmark = pytest.mark.samba


@pytest.mark.parametrize("fixture", ["samba_smb3_02", "samba_signing_required", "samba_signing_disabled"])
def test_direct_connection_passes(fixture: str, request: pytest.FixtureRequest) -> None:
    server: SambaServer = request.getfixturevalue(fixture)
    result = diagnose_validate_negotiate(
        server.host, server.port, username=server.username, password=server.password, timeout=15
    )

    assert result.status is DiagnosisStatus.PASS, result.message
    assert result.dialect == "3.0.2"
    assert result.differences == ()
    assert result.server_view == result.client_view
    assert result.workarounds == ()


def test_rewritten_negotiate_response_fails_and_names_the_capabilities(samba_smb3_02: SambaServer) -> None:
    upstream = (samba_smb3_02.host, samba_smb3_02.port)
    with TamperProxy(upstream, rewrite="response", clear_capabilities=0x02) as proxy:
        result = diagnose_validate_negotiate(
            proxy.host,
            proxy.port,
            username=samba_smb3_02.username,
            password=samba_smb3_02.password,
            client_build=9600,
            timeout=15,
        )

    assert proxy.rewritten >= 1
    assert result.status is DiagnosisStatus.FAIL
    assert result.stage is Stage.VALIDATE_NEGOTIATE
    assert [d.field for d in result.differences] == ["capabilities"]
    difference = result.differences[0]
    assert "LEASING" not in difference.client_saw
    assert "LEASING" in difference.server_says
    assert "WAN accelerator" in result.likely_cause
    assert {w.id: w.applies for w in result.workarounds} == {
        "require_signing": True,
        "require_secure_negotiate_off": True,
    }
    assert result.recommended is not None and result.recommended.id == "require_signing"


def test_rewritten_negotiate_request_is_dropped_by_the_server(samba_smb3_02: SambaServer) -> None:
    upstream = (samba_smb3_02.host, samba_smb3_02.port)
    with TamperProxy(upstream, rewrite="request") as proxy:
        result = diagnose_validate_negotiate(
            proxy.host,
            proxy.port,
            username=samba_smb3_02.username,
            password=samba_smb3_02.password,
            client_build=19045,
            timeout=15,
        )

    assert result.status is DiagnosisStatus.FAIL
    assert result.connection_dropped
    assert result.differences == ()
    assert "dropped the connection" in result.likely_cause
    # Windows 10: RequireSecureNegotiate cannot be turned off; signing is the only way out.
    assert {w.id: w.applies for w in result.workarounds} == {
        "require_signing": True,
        "require_secure_negotiate_off": False,
    }


def test_smbprotocol_own_check_agrees_with_the_diagnosis(samba_smb3_02: SambaServer) -> None:
    """docs/windows-facts.md#smbprotocol-client: a tampered response raises SMBException, a dropped connection
    SMBConnectionClosed, when smbprotocol validates on tree connect."""
    upstream = (samba_smb3_02.host, samba_smb3_02.port)
    cases: tuple[tuple[Rewrite, str], ...] = (
        ("response", "Secure negotiate failed to verify"),
        ("request", "socket was closed"),
    )
    for rewrite, expected in cases:
        with TamperProxy(upstream, rewrite=rewrite) as proxy:
            connection = Connection(uuid.uuid4(), proxy.host, proxy.port, require_signing=True)
            connection.connect(Dialects.SMB_3_0_2, timeout=10)
            try:
                session = Session(
                    connection, samba_smb3_02.username, samba_smb3_02.password, require_encryption=False
                )
                session.connect()
                tree = TreeConnect(session, rf"\\{proxy.host}\IPC$")
                with pytest.raises(SMBException, match=expected) as raised:
                    tree.connect(require_secure_negotiate=True)
                if rewrite == "request":
                    assert isinstance(raised.value, SMBConnectionClosed)
            finally:
                connection.disconnect(False)


def test_wrong_password_is_auth_failed(samba_smb3_02: SambaServer) -> None:
    result = diagnose_validate_negotiate(
        samba_smb3_02.host, samba_smb3_02.port, username=samba_smb3_02.username, password="wrong", timeout=15
    )

    assert result.status is DiagnosisStatus.ERROR
    assert result.error is not None and result.error.kind is ErrorKind.AUTH_FAILED
    assert result.stage is Stage.SESSION_SETUP
