"""The rules of ``transport: auto``'s fallback, pinned with scripted clients (the lab tests in
test_transport_choice.py show it end to end): only a protocol_error, once per host, never by
re-sending a pipeline that may have written, never for what every client refuses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from toolkit.inventory.model import Host
from toolkit.results import ErrorKind, HostError
from toolkit.transport import select
from toolkit.transport.model import Command, InvocationResult, PSValue, Statement
from toolkit.transport.protocol import TransportError

READ: tuple[Statement, ...] = ((Command.of("Get-ItemProperty", Path=r"HKLM:\SOFTWARE"),),)
WRITE: tuple[Statement, ...] = ((Command.of("Set-ItemProperty", Path=r"HKLM:\SOFTWARE", Name="x", Value=1),),)
ANSWER = InvocationResult(output=(PSValue("Int32", 1),))


class Scripted:
    """A client that fails where told and records every pipeline it was sent."""

    def __init__(self, name: str, log: list[tuple[str, str]], fail: dict[str, TransportError]) -> None:
        self.transport = name
        self.fallback = None
        self.host = Host("h", "127.0.0.1")
        self._log = log
        self._fail = fail

    def _step(self, what: str) -> None:
        self._log.append((self.transport, what))
        if what in self._fail:
            raise self._fail.pop(what)

    def open(self) -> None:
        self._step("open")

    def run(self, statements: Sequence[Statement]) -> InvocationResult:
        self._step("read" if select.reads_only(statements) else "write")
        return ANSWER

    def run_script(self, text: str) -> InvocationResult:
        self._step("script")
        return ANSWER

    def close(self) -> None:
        self._log.append((self.transport, "close"))

    def __enter__(self) -> Scripted:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def error(kind: ErrorKind, *, refused: bool = False) -> TransportError:
    return TransportError(
        HostError(kind, f"{kind.value} from the lean client"), transport="lean", refused=refused
    )


@pytest.fixture
def clients(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[tuple[str, str]], dict[str, dict[str, TransportError]]]:
    log: list[tuple[str, str]] = []
    fail: dict[str, dict[str, TransportError]] = {"lean": {}, "pypsrp": {}}

    def lean(host: Host, credential: Any, deadline: float | None) -> Scripted:
        return Scripted("lean", log, fail["lean"])

    def pypsrp(host: Host, credential: Any, deadline: float | None) -> Scripted:
        return Scripted("pypsrp", log, fail["pypsrp"])

    monkeypatch.setattr(select, "_lean", lean)
    monkeypatch.setattr(select, "_pypsrp", pypsrp)
    return log, fail


def session() -> select.AutoSession:
    return select.AutoSession(Host("h", "127.0.0.1"), None)


def test_a_protocol_error_on_open_falls_back_once(clients: Any) -> None:
    log, fail = clients
    fail["lean"]["open"] = error(ErrorKind.PROTOCOL_ERROR)
    with session() as s:
        assert s.run(READ) == ANSWER
        assert (s.transport, s.fallback) == ("pypsrp", "lean client: protocol_error from the lean client")
    assert log == [
        ("lean", "open"),
        ("lean", "close"),
        ("pypsrp", "open"),
        ("pypsrp", "read"),
        ("pypsrp", "close"),
    ]


@pytest.mark.parametrize(
    "kind",
    [
        ErrorKind.UNREACHABLE,
        ErrorKind.AUTH_FAILED,
        ErrorKind.TIMEOUT,
        ErrorKind.ACCESS_DENIED,
        ErrorKind.ERROR,
    ],
)
def test_other_failures_do_not_fall_back(clients: Any, kind: ErrorKind) -> None:
    log, fail = clients
    fail["lean"]["open"] = error(kind)
    with pytest.raises(TransportError) as caught, session():
        pass
    assert caught.value.error.kind is kind
    assert (caught.value.transport, caught.value.fallback) == ("lean", None)
    assert all(client == "lean" for client, _ in log)


def test_what_every_client_refuses_does_not_fall_back(clients: Any) -> None:
    log, fail = clients
    fail["lean"]["open"] = error(ErrorKind.PROTOCOL_ERROR, refused=True)  # a redirect, say
    with pytest.raises(TransportError), session():
        pass
    assert all(client == "lean" for client, _ in log)


def test_a_failed_read_is_read_again_on_pypsrp(clients: Any) -> None:
    log, fail = clients
    fail["lean"]["read"] = error(ErrorKind.PROTOCOL_ERROR)
    with session() as s:
        assert s.run(READ) == ANSWER
    assert ("pypsrp", "read") in log and s.transport == "pypsrp"


def test_a_pipeline_that_may_have_written_is_never_sent_again(clients: Any) -> None:
    log, fail = clients
    fail["lean"]["write"] = error(ErrorKind.PROTOCOL_ERROR)
    with pytest.raises(TransportError) as caught, session() as s:
        s.run(WRITE)
    assert caught.value.transport == "lean" and caught.value.fallback is None
    assert [step for client, step in log if client == "pypsrp"] == []
    assert [step for _, step in log].count("write") == 1


def test_after_a_write_even_a_read_is_not_moved(clients: Any) -> None:
    log, fail = clients
    fail["lean"]["read"] = error(ErrorKind.PROTOCOL_ERROR)
    with pytest.raises(TransportError), session() as s:
        s.run(WRITE)
        s.run(READ)
    assert [client for client, _ in log if client == "pypsrp"] == []


def test_script_text_is_never_sent_twice(clients: Any) -> None:
    log, fail = clients
    fail["lean"]["script"] = error(ErrorKind.PROTOCOL_ERROR)
    with pytest.raises(TransportError), session() as s:
        s.run_script("Get-Date")
    assert [step for _, step in log].count("script") == 1


def test_only_once_per_host(clients: Any) -> None:
    log, fail = clients
    fail["lean"]["open"] = error(ErrorKind.PROTOCOL_ERROR)
    fail["pypsrp"]["read"] = TransportError(
        HostError(ErrorKind.PROTOCOL_ERROR, "pypsrp too"), transport="pypsrp"
    )
    with pytest.raises(TransportError) as caught, session() as s:
        s.run(READ)
    assert caught.value.transport == "pypsrp" and caught.value.fallback is not None
    assert [client for client, step in log if step == "open"] == ["lean", "pypsrp"]


def test_reads_only_by_verb() -> None:
    assert select.reads_only(READ)
    assert not select.reads_only(WRITE)
    assert not select.reads_only(READ + WRITE)
    assert not select.reads_only(((Command.of("Remove-ItemProperty", Path="x", Name="y"),),))
