"""SMB2 vocabulary helpers and the test proxy's rewrite rule."""

from __future__ import annotations

import struct

import pytest

from tests.support.tamper_proxy import rewrite_negotiate
from toolkit.smb.probe import probe_smb
from toolkit.smb.wire import capability_names, dialect_name, signing_text


def test_dialect_names() -> None:
    assert [dialect_name(v) for v in (0x0202, 0x0210, 0x0300, 0x0302, 0x0311, 0x02FF)] == [
        "2.0.2",
        "2.1",
        "3.0",
        "3.0.2",
        "3.1.1",
        "0x02ff",
    ]


def test_capability_names_keep_unknown_bits() -> None:
    assert capability_names(0x47) == ("DFS", "LEASING", "LARGE_MTU", "ENCRYPTION")
    assert capability_names(0x101) == ("DFS", "0x00000100")


@pytest.mark.parametrize(
    ("enabled", "required", "text"),
    [
        (True, True, "Message signing enabled and required"),
        (True, False, "Message signing enabled but not required"),
        (False, False, "Message signing is disabled and not required!"),
        # nmap's phrase for SIGNING_REQUIRED without SIGNING_ENABLED (psfleet: required).
        (False, True, "Message signing is disabled!"),
    ],
)
def test_signing_text_matches_nmap(enabled: bool, required: bool, text: str) -> None:
    assert signing_text(enabled=enabled, required=required) == text


def test_unknown_dialect_is_rejected_before_any_traffic() -> None:
    with pytest.raises(ValueError, match="unknown SMB2 dialect"):
        probe_smb("192.0.2.1", per_dialect=("3.1",))


def negotiate(*, response: bool, capabilities: int) -> bytes:
    header = bytearray(64)
    header[:4] = b"\xfeSMB"
    struct.pack_into("<H", header, 12, 0)  # command NEGOTIATE
    struct.pack_into("<I", header, 16, 0x1 if response else 0)  # SERVER_TO_REDIR
    body = bytearray(64)
    struct.pack_into("<I", body, 24 if response else 8, capabilities)
    return bytes(header + body)


def test_proxy_rewrites_only_the_chosen_direction() -> None:
    response = negotiate(response=True, capabilities=0x47)
    request = negotiate(response=False, capabilities=0x45)

    changed = rewrite_negotiate(response, direction="response", clear=0x02)
    assert changed is not None and struct.unpack_from("<I", changed, 64 + 24)[0] == 0x45
    assert rewrite_negotiate(request, direction="response", clear=0x02) is None
    changed = rewrite_negotiate(request, direction="request", clear=0x40)
    assert changed is not None and struct.unpack_from("<I", changed, 64 + 8)[0] == 0x05
    assert rewrite_negotiate(b"\xffSMB" + bytes(100), direction="request", clear=0x40) is None
