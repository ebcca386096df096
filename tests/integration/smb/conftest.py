"""Fixtures for SMB integration tests: real smbd (tests.support.samba) and local fault peers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.integration.smb.listeners import listener, silent
from tests.support.samba import (  # noqa: F401 - re-exported as fixtures
    samba_signing_disabled,
    samba_signing_required,
    samba_smb1,
    samba_smb3_02,
)


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections and never answers."""
    with listener(silent) as port:
        yield port
