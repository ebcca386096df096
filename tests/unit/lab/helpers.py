"""Shared helpers for the lab unit tests: users, paths, command builders, serialization."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from psrpcore import Command
from psrpcore.types import ErrorRecord, PSCryptoProvider, deserialize, serialize

from toolkit.lab.emit import Emission, ErrorOut, Output, Terminate
from toolkit.lab.host import LabUser, SimHost

ADMIN = LabUser("admin", "pw", True)
READER = LabUser("reader", "pw", False)
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
WS_PROVIDER = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
CV = r"HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
SWITCH = object()


def cmd(name: str, *positional: Any, **named: Any) -> Command:
    """A structured command as pypsrp sends it; ``SWITCH`` marks a switch (value None)."""
    command = Command(name)
    for value in positional:
        command.add_argument(value)
    for key, value in named.items():
        command.add_parameter(key, None if value is SWITCH else value)
    return command


def statements(*commands: Command) -> list[Command]:
    """Each command its own statement (PowerShell.AddStatement)."""
    for command in commands:
        command.end_of_statement = True
    return list(commands)


def run(host: SimHost, *commands: Command, user: LabUser = ADMIN) -> list[Emission]:
    return host.execute(list(commands), user=user)


def outputs(emissions: list[Emission]) -> list[Any]:
    return [e.value for e in emissions if isinstance(e, Output)]


def errors(emissions: list[Emission]) -> list[ErrorOut]:
    return [e for e in emissions if isinstance(e, ErrorOut)]


def terminates(emissions: list[Emission]) -> list[Terminate]:
    return [e for e in emissions if isinstance(e, Terminate)]


class _Cipher(PSCryptoProvider):
    def decrypt(self, value: str) -> str:
        return value

    def encrypt(self, value: str) -> str:
        return value

    def register_key(self, key: bytes) -> None:
        pass


def roundtrip(value: Any) -> Any:
    """Serialize to CLIXML as the server would and read it back as a client would."""
    element = serialize(value, _Cipher())
    text = ET.tostring(element, encoding="unicode")
    return deserialize(ET.fromstring(text), _Cipher())


def clixml(value: Any) -> str:
    return ET.tostring(serialize(value, _Cipher()), encoding="unicode")


def error_roundtrip(error: ErrorOut | Terminate) -> ErrorRecord:
    """The record as ServerPipeline.write_error would send it, deserialized."""
    fields = error.fields()
    record = ErrorRecord(
        Exception=fields["exception"],
        CategoryInfo=fields["category_info"],
        TargetObject=fields["target_object"],
        FullyQualifiedErrorId=fields["fully_qualified_error_id"],
        InvocationInfo=fields["invocation_info"],
    )
    record.serialize_extended_info = fields["invocation_info"] is not None
    result = roundtrip(record)
    assert isinstance(result, ErrorRecord)
    return result
