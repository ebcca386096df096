"""Who answered: the NTLM CHALLENGE of an anonymous logon, parsed here (sans-IO, pure).

Without credentials, a server's answer to an NTLM NEGOTIATE (MS-NLMP 2.2.1.2) names itself:
the TargetInfo AV pairs (MS-NLMP 2.2.2.1) carry its NetBIOS and DNS computer and domain names,
and the VERSION structure (MS-NLMP 2.2.2.10) its OS major.minor and build. That is what
NetExec prints in its banner, and what ties a probed address to an inventory host (or shows
that something else, a WAN accelerator or a load balancer, answered).

The NEGOTIATE goes inside a SPNEGO NegTokenInit (RFC 4178) as Windows sends it; the reply's
NegTokenResp is not decoded: the CHALLENGE is found by its signature, and every offset in it
is checked against the message before it is read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

NTLMSSP = b"NTLMSSP\x00"
_CHALLENGE_SIGNATURE = NTLMSSP + struct.pack("<I", 2)
SPNEGO_OID = bytes.fromhex("2b0601050502")
NTLMSSP_OID = bytes.fromhex("2b0601040182370202" + "0a")

# NEGOTIATE flags (MS-NLMP 2.2.2.5): Unicode, request target, NTLM, always sign, extended
# session security, target info, version, 128-bit, key exchange, 56-bit.
NEGOTIATE_FLAGS = 0xE2888205
_FLAG_VERSION = 0x02000000

_AV_NAMES: dict[int, str] = {
    1: "netbios_computer",
    2: "netbios_domain",
    3: "dns_computer",
    4: "dns_domain",
    5: "dns_tree",
}
#: Stop after this many AV pairs: a real CHALLENGE has fewer than ten.
_MAX_AV_PAIRS = 32


class ChallengeError(ValueError):
    """The security blob holds no sane NTLM CHALLENGE."""


@dataclass(frozen=True)
class ServerIdentity:
    """What the server's NTLM CHALLENGE says about it (any field may be missing)."""

    netbios_computer: str | None = None
    netbios_domain: str | None = None
    dns_computer: str | None = None
    dns_domain: str | None = None
    dns_tree: str | None = None
    os_major: int | None = None
    os_minor: int | None = None
    os_build: int | None = None

    @property
    def os_version(self) -> str | None:
        """``10.0.20348`` (None when the server sent no VERSION)."""
        if self.os_major is None:
            return None
        return f"{self.os_major}.{self.os_minor}.{self.os_build}"

    @property
    def summary(self) -> str:
        """``WS01 (LAB) ws01.lab.example, 10.0.20348`` for a table cell."""
        name = self.netbios_computer or self.dns_computer or "?"
        parts = [name]
        if self.netbios_domain:
            parts[0] += f" ({self.netbios_domain})"
        if self.dns_computer and self.dns_computer != self.netbios_computer:
            parts.append(self.dns_computer)
        text = " ".join(parts)
        return f"{text}, {self.os_version}" if self.os_version else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "netbios_computer": self.netbios_computer,
            "netbios_domain": self.netbios_domain,
            "dns_computer": self.dns_computer,
            "dns_domain": self.dns_domain,
            "dns_tree": self.dns_tree,
            "os_version": self.os_version,
            "os_build": self.os_build,
        }


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def ntlm_negotiate() -> bytes:
    """An NTLM NEGOTIATE message with no domain or workstation (anonymous)."""
    version = bytes([10, 0]) + struct.pack("<H", 0) + b"\0\0\0" + bytes([15])
    return NTLMSSP + struct.pack("<II", 1, NEGOTIATE_FLAGS) + b"\0" * 16 + version


def spnego_init(token: bytes) -> bytes:
    """``token`` in a SPNEGO NegTokenInit offering only NTLMSSP."""
    mech_types = _der(0xA0, _der(0x30, _der(0x06, NTLMSSP_OID)))
    mech_token = _der(0xA2, _der(0x04, token))
    return _der(0x60, _der(0x06, SPNEGO_OID) + _der(0xA0, _der(0x30, mech_types + mech_token)))


def spnego_challenge(token: bytes) -> bytes:
    """``token`` in a SPNEGO NegTokenResp (accept-incomplete, NTLMSSP): the lab's answer."""
    state = _der(0xA0, _der(0x0A, b"\x01"))
    mech = _der(0xA1, _der(0x06, NTLMSSP_OID))
    response = _der(0xA2, _der(0x04, token))
    return _der(0xA1, _der(0x30, state + mech + response))


def parse_challenge(blob: bytes) -> ServerIdentity:
    """The server identity in the NTLM CHALLENGE inside ``blob`` (raw or SPNEGO-wrapped).
    Raises :class:`ChallengeError` when there is none or it is malformed."""
    at = blob.find(_CHALLENGE_SIGNATURE)
    if at < 0:
        raise ChallengeError("no NTLM CHALLENGE in the session setup answer")
    message = blob[at:]
    if len(message) < 48:
        raise ChallengeError(f"NTLM CHALLENGE of {len(message)} bytes is too short")
    (flags,) = struct.unpack_from("<I", message, 20)
    info_len, _max, info_offset = struct.unpack_from("<HHI", message, 40)
    names: dict[str, str] = {}
    if info_len:
        if info_offset + info_len > len(message):
            raise ChallengeError("NTLM CHALLENGE TargetInfo runs past the message")
        names = _av_pairs(message[info_offset : info_offset + info_len])
    major = minor = build = None
    if flags & _FLAG_VERSION and len(message) >= 56:
        major, minor, build = struct.unpack_from("<BBH", message, 48)
    return ServerIdentity(**names, os_major=major, os_minor=minor, os_build=build)


def _av_pairs(info: bytes) -> dict[str, str]:
    names: dict[str, str] = {}
    at = 0
    for _ in range(_MAX_AV_PAIRS):
        if at + 4 > len(info):
            break
        av_id, length = struct.unpack_from("<HH", info, at)
        if av_id == 0:  # MsvAvEOL
            break
        value = info[at + 4 : at + 4 + length]
        if len(value) < length:
            raise ChallengeError("NTLM CHALLENGE AV pair runs past TargetInfo")
        if av_id in _AV_NAMES:
            names[_AV_NAMES[av_id]] = value.decode("utf-16-le", "replace")
        at += 4 + length
    return names


def ntlm_challenge(identity: ServerIdentity, *, server_challenge: bytes, timestamp: int) -> bytes:
    """An NTLM CHALLENGE naming ``identity`` (the lab's answer to an anonymous NEGOTIATE)."""
    target = (identity.netbios_domain or "").encode("utf-16-le")
    info = b""
    for av_id, key in _AV_NAMES.items():
        value = getattr(identity, key)
        if value:
            raw = value.encode("utf-16-le")
            info += struct.pack("<HH", av_id, len(raw)) + raw
    info += struct.pack("<HHQ", 7, 8, timestamp) + struct.pack("<HH", 0, 0)
    version = struct.pack("<BBH", identity.os_major or 0, identity.os_minor or 0, identity.os_build or 0)
    version += b"\0\0\0" + bytes([15])
    target_at = 56
    info_at = target_at + len(target)
    flags = NEGOTIATE_FLAGS | 0x00010000  # + NTLMSSP_TARGET_TYPE_DOMAIN
    return (
        NTLMSSP
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target), len(target), target_at)
        + struct.pack("<I", flags)
        + server_challenge
        + b"\0" * 8
        + struct.pack("<HHI", len(info), len(info), info_at)
        + version
        + target
        + info
    )
