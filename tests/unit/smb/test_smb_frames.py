"""The probe's hand-built SMB messages: what it sends parses back, what it reads is checked
before it is trusted, and the NTLM challenge's names come out as the server put them."""

from __future__ import annotations

import struct

import pytest

from toolkit.smb.frames import (
    FrameError,
    NegotiateRefused,
    error_response,
    negotiate_request,
    negotiate_request_dialects,
    negotiate_response,
    parse_negotiate_response,
    parse_smb1_negotiate_response,
    smb1_negotiate_request,
    smb1_negotiate_response,
    smb1_refusal,
    smb1_request_dialects,
)
from toolkit.smb.ntlm import (
    ChallengeError,
    ServerIdentity,
    ntlm_challenge,
    ntlm_negotiate,
    parse_challenge,
    spnego_challenge,
    spnego_init,
)
from toolkit.smb.stream import describe_preamble

IDENTITY = ServerIdentity(
    netbios_computer="FS01",
    netbios_domain="CONTOSO",
    dns_computer="fs01.contoso.com",
    dns_domain="contoso.com",
    dns_tree="contoso.com",
    os_major=10,
    os_minor=0,
    os_build=20348,
)


@pytest.mark.parametrize("dialects", [(0x0202,), (0x0302,), (0x0202, 0x0210, 0x0300, 0x0302, 0x0311)])
def test_negotiate_request_offers_exactly_the_dialects(dialects: tuple[int, ...]) -> None:
    request = negotiate_request(dialects)

    assert negotiate_request_dialects(request) == dialects
    # 3.1.1 requires negotiate contexts (Samba and Windows refuse 3.1.1 without them).
    (count,) = struct.unpack_from("<H", request, 64 + 32) if 0x0311 in dialects else (0,)
    assert count == (2 if 0x0311 in dialects else 0)


def test_negotiate_response_round_trip() -> None:
    guid = bytes(range(16))
    answer = parse_negotiate_response(
        negotiate_response(dialect=0x0311, security_mode=0x03, capabilities=0x2F, server_guid=guid)
    )

    assert (answer.dialect, answer.security_mode, answer.capabilities) == (0x0311, 0x03, 0x2F)
    assert answer.server_guid == "03020100-0504-0706-0809-0a0b0c0d0e0f"


def test_an_error_status_is_a_refusal_and_garbage_is_a_frame_error() -> None:
    with pytest.raises(NegotiateRefused):
        parse_negotiate_response(error_response(0, 0xC00000BB, message_id=0))
    with pytest.raises(FrameError, match="not an SMB2 header"):
        parse_negotiate_response(b"HTTP/1.1 400 Bad Request\r\n" + b"x" * 100)
    with pytest.raises(FrameError, match="shorter than its 64-byte header"):
        parse_negotiate_response(b"\xfeSMB")


def test_smb1_negotiate_offers_only_nt_lm_012_and_reads_signing() -> None:
    assert smb1_request_dialects(smb1_negotiate_request()) == ("NT LM 0.12",)
    accepted = parse_smb1_negotiate_response(
        smb1_negotiate_response(dialect_index=0, security_mode=0x0F, server_guid=bytes(16))
    )
    assert accepted.dialect_index == 0 and accepted.signing_enabled and accepted.signing_required
    assert parse_smb1_negotiate_response(smb1_refusal()).dialect_index is None
    with pytest.raises(FrameError, match="in SMB2"):
        parse_smb1_negotiate_response(
            negotiate_response(dialect=0x0202, security_mode=1, capabilities=0, server_guid=bytes(16))
        )


def test_the_challenge_names_the_server_raw_or_in_spnego() -> None:
    challenge = ntlm_challenge(IDENTITY, server_challenge=b"12345678", timestamp=0)

    assert parse_challenge(challenge) == IDENTITY
    assert parse_challenge(spnego_challenge(challenge)) == IDENTITY
    assert IDENTITY.os_version == "10.0.20348"
    assert IDENTITY.summary == "FS01 (CONTOSO) fs01.contoso.com, 10.0.20348"


def test_a_truncated_or_lying_challenge_is_refused() -> None:
    challenge = ntlm_challenge(IDENTITY, server_challenge=b"12345678", timestamp=0)
    with pytest.raises(ChallengeError, match="runs past"):
        parse_challenge(challenge[:70])
    lying = bytearray(challenge)
    struct.pack_into("<HHI", lying, 40, 0xFFFF, 0xFFFF, 56)  # TargetInfo length past the end
    with pytest.raises(ChallengeError, match="runs past"):
        parse_challenge(bytes(lying))
    with pytest.raises(ChallengeError, match="no NTLM CHALLENGE"):
        parse_challenge(spnego_init(ntlm_negotiate()))


@pytest.mark.parametrize(
    ("first", "text"),
    [
        (b"HTTP", "an HTTP server answered"),
        (b"SSH-", "an SSH server answered"),
        (b"\x16\x03\x01\x00", "a TLS server answered"),
        (b"\x85\x00\x00\x00", "first bytes 85 00 00 00"),
    ],
)
def test_a_non_smb_preamble_is_described(first: bytes, text: str) -> None:
    assert text in describe_preamble(first)
