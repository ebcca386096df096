"""The event-loop probe builds its requests once per process; each is a whole Direct-TCP
message (4-byte header with its length) that the lab's and a server's parsers read back."""

from __future__ import annotations

from toolkit.smb.aio import Requests, requests
from toolkit.smb.frames import negotiate_request_dialects, session_setup_request_blob, smb1_request_dialects
from toolkit.smb.probe import IDENTIFY_BLOB
from toolkit.smb.wire import ALL_DIALECTS, DIALECTS


def _body(framed: bytes) -> bytes:
    assert framed[0] == 0 and int.from_bytes(framed[1:4], "big") == len(framed) - 4
    return framed[4:]


def test_each_request_is_one_framed_message_offering_what_the_step_asks() -> None:
    wire = Requests()
    assert negotiate_request_dialects(_body(wire.negotiate_all)) == tuple(DIALECTS.values())
    for name in ALL_DIALECTS:
        assert negotiate_request_dialects(_body(wire.negotiate_one[name])) == (DIALECTS[name],)
    assert smb1_request_dialects(_body(wire.smb1)) == ("NT LM 0.12",)
    assert session_setup_request_blob(_body(wire.session_setup(0x0311))) == IDENTIFY_BLOB


def test_requests_are_built_once() -> None:
    assert requests() is requests()
    wire = requests()
    assert wire.session_setup(0x0302) is wire.session_setup(0x0302)
