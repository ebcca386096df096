"""The lean client's ids and socket timeouts, kept cheap without giving up what they promise:
ids are random version-4 UUIDs that never repeat (a forked child draws its own), and a
socket never waits longer than the host's time left."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from toolkit.transport.lean.http import _bound
from toolkit.transport.lean.soap import new_uuid


def test_ids_are_random_version_4_uuids_that_do_not_repeat() -> None:
    ids = [new_uuid() for _ in range(2000)]  # several refills of the buffer
    assert len(set(ids)) == len(ids)
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_uuid()  # the buffer holds ids the parent has not used yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids and leave at once
        os.write(write, b"".join(new_uuid().bytes for _ in range(4)))
        os._exit(0)
    os.close(write)
    child = os.read(read, 64)
    os.close(read)
    os.waitpid(pid, 0)
    parent = b"".join(new_uuid().bytes for _ in range(4))
    child_ids = {child[i : i + 16] for i in range(0, 64, 16)}
    parent_ids = {parent[i : i + 16] for i in range(0, 64, 16)}
    assert len(child_ids) == 4 and not child_ids & parent_ids


@pytest.mark.parametrize(
    ("before", "asked", "after"),
    [
        (None, 30.0, 30.0),
        (30.0, 30.5, 30.0),  # less than a second shorter than asked: left alone (no system call)
        (30.0, 29.5, 29.5),  # the time left shrank below it: never longer than asked
        (30.0, 0.2, 0.2),
        (5.0, 30.0, 30.0),  # far shorter than asked: raised again
    ],
)
def test_a_socket_never_waits_longer_than_asked(before: float | None, asked: float, after: float) -> None:
    with socket.socket() as sock:
        sock.settimeout(before)
        _bound(sock, asked)
        assert sock.gettimeout() == after
        assert asked - 1.0 <= after <= asked
