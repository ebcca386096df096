"""The probe's findings against real smbd configurations (docs/windows-facts.md#samba-loopback-peer,
docs/windows-facts.md#samba-signing-and-dialect)."""

from __future__ import annotations

import socket

import pytest

from tests.support.samba import SambaServer
from tests.support.tamper_proxy import TamperProxy
from toolkit.smb.probe import probe_smb

pytestmark = pytest.mark.samba


def test_signing_mandatory_is_seen_as_required_on_every_dialect(samba_signing_required: SambaServer) -> None:
    probe = probe_smb(samba_signing_required.host, samba_signing_required.port, timeout=10)

    assert probe.ok, probe.error
    assert probe.dialect == "3.1.1"
    assert probe.dialects_offered_by_psfleet == ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1")
    assert probe.server_dialects == ("2.0.2", "2.1", "3.0", "3.0.2", "3.1.1")
    assert probe.relay_target is False
    assert probe.signing_required is True
    assert probe.signing_text == "Message signing enabled and required"
    assert [d.dialect for d in probe.per_dialect if d.supported] == ["2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"]
    assert all(d.signing_required for d in probe.per_dialect)
    assert probe.negotiated is not None and probe.negotiated.server_guid


def test_signing_disabled_is_seen_as_not_required(samba_signing_disabled: SambaServer) -> None:
    probe = probe_smb(samba_signing_disabled.host, samba_signing_disabled.port, timeout=10)

    assert probe.ok, probe.error
    assert probe.signing_required is False
    assert probe.signing_text == "Message signing enabled but not required"
    assert probe.relay_target is True
    assert all(d.signing_required is False for d in probe.per_dialect if d.supported)


def test_max_protocol_smb3_02_caps_the_dialect(samba_smb3_02: SambaServer) -> None:
    probe = probe_smb(samba_smb3_02.host, samba_smb3_02.port, timeout=10)

    assert probe.ok, probe.error
    assert probe.dialect == "3.0.2"
    by_dialect = {d.dialect: d for d in probe.per_dialect}
    assert by_dialect["3.0.2"].supported
    assert not by_dialect["3.1.1"].supported
    assert by_dialect["3.1.1"].text == "not supported"
    assert probe.server_dialects == ("2.0.2", "2.1", "3.0", "3.0.2")


def test_probe_through_a_rewriting_path_sees_what_the_path_delivers(samba_smb3_02: SambaServer) -> None:
    direct = probe_smb(samba_smb3_02.host, samba_smb3_02.port, timeout=10, per_dialect=())
    with TamperProxy(
        (samba_smb3_02.host, samba_smb3_02.port), rewrite="response", clear_capabilities=0x02
    ) as proxy:
        through = probe_smb(proxy.host, proxy.port, timeout=10, per_dialect=())

    assert direct.negotiated is not None and through.negotiated is not None
    assert direct.negotiated.capabilities & 0x02, "smbd should announce LEASING"
    assert through.negotiated.capabilities == direct.negotiated.capabilities & ~0x02
    assert proxy.rewritten == 1


def test_smb1_refused_by_default(samba_signing_required: SambaServer) -> None:
    # Samba 4.11+ defaults to server min protocol = SMB2_02: SMB1 off.
    probe = probe_smb(samba_signing_required.host, samba_signing_required.port, timeout=10, per_dialect=())

    assert probe.smb1 is not None and probe.smb1.accepted is False
    assert probe.to_dict()["smb1_accepted"] is False


def test_smb1_accepted_when_enabled(samba_smb1: SambaServer) -> None:
    probe = probe_smb(samba_smb1.host, samba_smb1.port, timeout=10, per_dialect=())

    assert probe.ok, probe.error
    assert probe.smb1 is not None and probe.smb1.accepted is True
    assert probe.smb1.signing_required is False
    assert probe.smb1.text.startswith("NT LM 0.12 (SMBv1)")
    # SMB2 still answers as before on the same server.
    assert probe.dialect == "3.1.1"


def test_who_answered_comes_from_the_ntlm_challenge(samba_signing_required: SambaServer) -> None:
    probe = probe_smb(samba_signing_required.host, samba_signing_required.port, timeout=10, per_dialect=())

    assert probe.identity is not None, probe.identity_note
    expected = socket.gethostname().split(".")[0].upper()[:15]
    assert probe.identity.netbios_computer == expected
    assert probe.identity.dns_computer is not None
    assert probe.identity.dns_computer.lower().startswith(expected.lower())
    assert probe.identity.os_version is not None
