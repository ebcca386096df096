"""A typed array parameter (``PSValue("String[]", ...)``, what ``--param Value=strs:a,b`` gives)
leaves both clients as PowerShell serializes ``[string[]]@('a','b')``: an ``Obj`` whose type
names start with ``System.String[]`` and whose ``LST`` holds ``<S>`` items. A plain list goes as
``System.Object[]``, which RegistryKey.SetValue refuses for a registry write (no REG_MULTI_SZ)."""

from __future__ import annotations

import uuid
from typing import Any
from xml.etree import ElementTree as ET

import psrpcore
import psrpcore.types as pt
import pytest
from pypsrp.complex_objects import CommandParameter

from toolkit.transport import pypsrp_session as session
from toolkit.transport.lean import psrp
from toolkit.transport.model import Command, PSValue
from toolkit.transport.values import TypedSerializer

CASES = [
    (PSValue("String[]", ["a", "b"]), "System.String[]", "S", ["a", "b"]),
    (PSValue("String[]", []), "System.String[]", "S", []),
    (PSValue("Int32[]", [1, 2]), "System.Int32[]", "I32", ["1", "2"]),
]


class _NoCipher:
    def decrypt(self, value: bytes) -> bytes:  # pragma: no cover
        raise ValueError

    def encrypt(self, value: bytes) -> bytes:  # pragma: no cover
        raise ValueError


def _array_of(param: ET.Element) -> ET.Element:
    """The ``Obj`` a CommandParameter element carries as its value (``N="V"``)."""
    found = [e for e in param.iter("Obj") if e.get("N") == "V"]
    assert len(found) == 1, ET.tostring(param)
    return found[0]


def _check(obj: ET.Element, type_name: str, tag: str, texts: list[str]) -> None:
    assert [t.text for t in obj.iter("T")] == [type_name, "System.Array", "System.Object"]
    lst = obj.find("LST")
    assert lst is not None
    items = list(lst)
    assert [i.tag for i in items] == [tag] * len(texts)
    assert [i.text for i in items] == texts
    # What a server's deserializer makes of it: the typed array, not Object[].
    value: Any = pt.deserialize(obj, _NoCipher())  # type: ignore[arg-type]
    assert value.PSTypeNames[0].removeprefix("Deserialized.") == type_name


@pytest.mark.parametrize(("value", "type_name", "tag", "texts"), CASES)
def test_pypsrp_client_sends_a_typed_array(
    value: PSValue, type_name: str, tag: str, texts: list[str]
) -> None:
    serializer = TypedSerializer()
    element = serializer.serialize(CommandParameter(name="Value", value=session.wire_value(value)))
    _check(_array_of(element), type_name, tag, texts)


@pytest.mark.parametrize(("value", "type_name", "tag", "texts"), CASES)
def test_lean_client_sends_a_typed_array(value: PSValue, type_name: str, tag: str, texts: list[str]) -> None:
    statement = (Command.of("New-ItemProperty", Path=r"HKLM:\SOFTWARE\X", Name="M", Value=value),)
    xml = ET.fromstring(psrp.pipeline_message([statement]))
    values = [o for o in xml.iter("Obj") if o.get("N") == "V" and o.find("LST") is not None]
    assert len(values) == 1
    _check(values[0], type_name, tag, texts)
    # ...and psrpcore's server side reads the parameter as that array type.
    rpid, pid = uuid.uuid4(), uuid.uuid4()
    pool = psrpcore.ServerRunspacePool()
    pool.receive_data(
        psrpcore.PSRPPayload(psrp.frame(psrp.open_messages(), rpid, None), psrpcore.StreamType.default, None)
    )
    while pool.next_event() is not None:
        pass
    pipeline = psrpcore.ServerPipeline(pool, pid)
    framed = psrp.frame([(psrp.CREATE_PIPELINE, psrp.pipeline_message([statement]))], rpid, pid)
    pool.receive_data(psrpcore.PSRPPayload(framed, psrpcore.StreamType.default, pid))
    pool.next_event()
    sent = dict(pipeline.metadata.commands[0].parameters)["Value"]
    assert sent.PSTypeNames[0].removeprefix("Deserialized.") == type_name
    assert list(sent) == value.value
