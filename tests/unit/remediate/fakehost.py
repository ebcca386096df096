"""An in-process stand-in for a Windows host behind a session: it answers the structured
commands remediation and rollback send (the lease, the audit reads, reg.exe, the registry and
SmbShare writes) from a dict, so the remediation logic runs without the lab or a socket.

Hooks let a test make the write round trip fail after it went out (``fail_write``) or answer
late (``write_delay``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from toolkit.checks.facts import CURRENT_VERSION_KEY, SERVER_KEY, WORKSTATION_KEY
from toolkit.inventory.model import Host
from toolkit.remediate.journal import JournalWriteError, JournalWriter
from toolkit.remediate.lease import LEASE_KEY
from toolkit.results import ErrorKind, HostError
from toolkit.transport.model import Command, ErrorRecordData, InvocationResult, PSObj, PSValue
from toolkit.transport.protocol import TransportError

_SMB_KEYS = {"Set-SmbClientConfiguration": WORKSTATION_KEY, "Set-SmbServerConfiguration": SERVER_KEY}


def _psvalue(kind: str, value: Any) -> PSValue:
    if kind == "DWord":
        return PSValue("Int32", value - (1 << 32) if value > 0x7FFF_FFFF else value)
    return PSValue("String", value)


class FakeWindows:
    def __init__(self, build: str = "17763", **values: tuple[str, Any]) -> None:
        """``values``: ``client_signing=("DWord", 0)`` style (client_signing, server_signing,
        secure_negotiate); absent ones are absent."""
        names = {
            "client_signing": (WORKSTATION_KEY, "RequireSecuritySignature"),
            "server_signing": (SERVER_KEY, "RequireSecuritySignature"),
            "secure_negotiate": (WORKSTATION_KEY, "RequireSecureNegotiate"),
        }
        self.registry: dict[str, dict[str, tuple[str, Any]]] = {
            CURRENT_VERSION_KEY: {"CurrentBuild": ("String", build)},
            WORKSTATION_KEY: {},
            SERVER_KEY: {},
        }
        for setting, value in values.items():
            key, name = names[setting]
            self.registry[key][name] = value
        self.lease: str | None = None
        self.commands: list[str] = []
        self.fail_write: HostError | None = None
        #: The account may not create the lease value (not an administrator).
        self.deny_lease = False
        #: Writes are accepted but change nothing (a policy puts the value back at once).
        self.ignore_writes = False
        self.write_delay: Callable[[float], float] | None = None
        #: Registry writes are refused with an access-denied error record (not an administrator).
        self.deny_writes = False

    def value(self, key: str, name: str) -> tuple[str, Any] | None:
        return self.registry[key].get(name)

    def run(self, statements: Any, deadline: float) -> InvocationResult:
        output: list[PSObj | PSValue] = []
        errors: list[ErrorRecordData] = []
        writes = False
        for statement in statements:
            command: Command = statement[0]
            params = {p.name: p.value for p in command.params if not p.switch}
            self.commands.append(command.name)
            path = str(params.get("Path", ""))
            if command.name == "New-Item":
                continue
            if command.name == "New-ItemProperty" and path == LEASE_KEY:
                if self.deny_lease:
                    errors.append(
                        ErrorRecordData(
                            "Requested registry access is not allowed.",
                            "System.Security.SecurityException,Microsoft.PowerShell.Commands.NewItemPropertyCommand",
                            "PermissionDenied",
                            target=LEASE_KEY,
                            activity="New-ItemProperty",
                        )
                    )
                    continue
                if self.lease is None:
                    self.lease = str(params["Value"])
                continue
            if command.name == "Remove-ItemProperty" and path == LEASE_KEY:
                self.lease = None
                continue
            if command.name == "Get-ItemProperty" and path == LEASE_KEY:
                if self.deny_lease:
                    continue
                output.append(self._obj("HKLM:\\SOFTWARE\\psfleet", {"Lease": ("String", self.lease or "")}))
                continue
            if command.name == "Get-ItemProperty":
                if path in self.registry:  # a key the test removed answers nothing at all
                    output.append(self._obj(path, self.registry[path]))
                continue
            if command.name == "reg.exe":
                continue  # only DWORDs here: nothing reg.exe would add
            if command.name == "Set-ItemProperty":
                writes = True
                if self.deny_writes:
                    errors.append(
                        ErrorRecordData(
                            "Requested registry access is not allowed.",
                            "System.Security.SecurityException,Microsoft.PowerShell.Commands.SetItemPropertyCommand",
                            "PermissionDenied",
                            target=path,
                            activity="Set-ItemProperty",
                        )
                    )
                    continue
                if self.ignore_writes:
                    continue
                self.registry[path][str(params["Name"])] = (
                    str(params["Type"]),
                    int(params["Value"]) & 0xFFFF_FFFF,
                )
                continue
            if command.name == "Remove-ItemProperty":
                writes = True
                self.registry[path].pop(str(params["Name"]), None)
                continue
            if command.name in _SMB_KEYS:
                writes = True
                if self.deny_writes:
                    errors.append(
                        ErrorRecordData(
                            "Access denied.",
                            f"Windows System Error 5,{command.name}",
                            "PermissionDenied",
                            target="MSFT_SmbClientConfiguration",
                            activity=command.name,
                        )
                    )
                    continue
                if self.ignore_writes:
                    continue
                self.registry[_SMB_KEYS[command.name]]["RequireSecuritySignature"] = ("DWord", 1)
                continue
            raise AssertionError(f"the fake host does not know {command.name}")
        if writes and self.write_delay is not None:
            time.sleep(self.write_delay(deadline))
        if writes and self.fail_write is not None:
            raise TransportError(self.fail_write)
        return InvocationResult(output=tuple(output), errors=tuple(errors), had_errors=bool(errors))

    @staticmethod
    def _obj(key: str, values: dict[str, tuple[str, Any]]) -> PSObj:
        path = "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\" + key.split("\\", 1)[1]
        props = {name: _psvalue(kind, value) for name, (kind, value) in values.items()}
        return PSObj(
            ("System.Management.Automation.PSCustomObject",), {**props, "PSPath": PSValue("String", path)}
        )


class WaitsToAnswer(FakeWindows):
    """Says it was asked (``asked``), then answers only once ``ready`` is set (at most 10 s)."""

    def __init__(
        self, ready: threading.Event, asked: threading.Event | None = None, **values: tuple[str, Any]
    ) -> None:
        super().__init__("17763", **values)
        self.ready = ready
        self.asked = asked or threading.Event()

    def run(self, statements: Any, deadline: float) -> Any:
        self.asked.set()
        self.ready.wait(10)
        return super().run(statements, deadline)


class FakeFleet:
    """``open_session`` for the tests: one :class:`FakeWindows` per host name."""

    def __init__(self, **hosts: FakeWindows) -> None:
        self.hosts = hosts

    def __call__(self, host: Host, credential: Any, *, deadline: float | None = None, **_: Any) -> _Session:
        return _Session(self.hosts[host.name], deadline if deadline is not None else time.monotonic() + 60)


class _Session:
    transport = "lean"
    fallback: str | None = None

    def __init__(self, box: FakeWindows, deadline: float) -> None:
        self.box = box
        self.deadline = deadline

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, statements: Any) -> InvocationResult:
        return self.box.run(statements, self.deadline)


def sent_error(message: str = "connection reset by 192.0.2.5:5985") -> HostError:
    return HostError(ErrorKind.UNREACHABLE, message, sent=True)


def full_disk_on(
    monkeypatch: pytest.MonkeyPatch, record_type: str, failed: threading.Event | None = None
) -> None:
    """The journal's disk fills up when a record of ``record_type`` (intent, outcome...) is
    appended: the append raises as a full disk does (``failed`` is set then)."""
    append = JournalWriter.append

    def full_disk(self: JournalWriter, *records: dict[str, object]) -> None:
        if any(r.get("type") == record_type for r in records):
            self.failed = "No space left on device"
            if failed is not None:
                failed.set()
            raise JournalWriteError("cannot write journal: No space left on device", file=self.path)
        append(self, *records)

    monkeypatch.setattr(JournalWriter, "append", full_disk)
