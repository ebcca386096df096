"""Turn what pypsrp received into :mod:`toolkit.transport.model` data, keeping .NET types.

pypsrp's own deserializer maps Int32 and Int64 alike to ``int``, which would hide a QWORD
behind a DWORD (docs/windows-facts.md#registry-read-kinds). Output objects are therefore deserialized
with psrpcore, which keeps the serialized type of every primitive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

import psrpcore.types as pt
from pypsrp.complex_objects import ListMeta
from pypsrp.serializer import Serializer

from toolkit.transport.model import ErrorRecordData, PSObj, PSValue

# psrpcore primitive classes -> .NET type names, most specific first (PSBool is not a
# subclass of int, but bool is; check order matters).
_PRIMITIVES: tuple[tuple[type, str], ...] = (
    (pt.PSBool, "Boolean"),
    (pt.PSInt64, "Int64"),
    (pt.PSUInt64, "UInt64"),
    (pt.PSUInt, "UInt32"),
    (pt.PSInt16, "Int16"),
    (pt.PSUInt16, "UInt16"),
    (pt.PSByte, "Byte"),
    (pt.PSSByte, "SByte"),
    (pt.PSInt, "Int32"),
    (pt.PSByteArray, "Byte[]"),
    (pt.PSString, "String"),
    (pt.PSChar, "Char"),
    (pt.PSDouble, "Double"),
    (pt.PSSingle, "Single"),
    (pt.PSDecimal, "Decimal"),
    (pt.PSDateTime, "DateTime"),
    (pt.PSGuid, "Guid"),
    (pt.PSVersion, "Version"),
)


class _NoCipher:
    def decrypt(self, value: bytes) -> bytes:  # pragma: no cover - secure strings are not expected
        raise ValueError("secure strings are not supported in output")

    def encrypt(self, value: bytes) -> bytes:  # pragma: no cover
        raise ValueError("secure strings are not supported in output")


class TypedArray:
    """A list pypsrp is to send as a typed .NET array (``System.String[]``), as PowerShell
    serializes one. A plain list goes as ``System.Object[]``, which RegistryKey.SetValue
    refuses (it writes REG_MULTI_SZ only from a String[])."""

    def __init__(self, type_name: str, items: Sequence[Any]) -> None:
        self.type_name = type_name  # e.g. "System.String[]"
        self.items = list(items)


class TypedSerializer(Serializer):
    """pypsrp serializer that deserializes pipeline output with psrpcore (types preserved)
    and sends a :class:`TypedArray` with its array type names."""

    def serialize(self, value: Any, metadata: Any = None, parent: Any = None, clear: bool = True) -> Any:
        if isinstance(value, TypedArray):
            meta = ListMeta(
                name=getattr(metadata, "name", None),
                list_types=[value.type_name, "System.Array", "System.Object"],
            )
            return super().serialize(value.items, meta, parent, clear)
        return super().serialize(value, metadata, parent, clear)

    def deserialize(self, element: Any, metadata: Any = None, clear: bool = True) -> Any:
        if metadata is None and isinstance(element, str):
            xml = element.lstrip("\ufeff")
            return pt.deserialize(ET.fromstring(xml), _NoCipher())  # type: ignore[arg-type]
        return super().deserialize(element, metadata, clear)


def convert(value: Any, depth: int = 0) -> PSObj | PSValue | None:
    """psrpcore value -> plain model data."""
    if value is None:
        return None
    if depth > 8:
        return PSValue("String", str(value))
    for cls, name in _PRIMITIVES:
        if isinstance(value, cls):
            if name == "Byte[]":
                return PSValue(name, bytes(value))  # type: ignore[call-overload]
            if name in ("Boolean",):
                return PSValue(name, bool(value))
            if isinstance(value, int):
                return PSValue(name, int(value))
            if isinstance(value, str):
                return PSValue(name, str(value))
            return PSValue(name, value)
    if isinstance(value, bool):
        return PSValue("Boolean", value)
    if isinstance(value, int):
        return PSValue("Int32", value)
    if isinstance(value, str):
        return PSValue("String", value)
    if isinstance(value, bytes):
        return PSValue("Byte[]", value)
    if isinstance(value, list | tuple):
        items = [convert(v, depth + 1) for v in value]
        if all(isinstance(i, PSValue) and i.type == "String" for i in items):
            return PSValue("String[]", [i.value for i in items if isinstance(i, PSValue)])
        return PSValue("Object[]", items)
    if isinstance(value, dict):
        return PSValue("Hashtable", {str(k): convert(v, depth + 1) for k, v in value.items()})
    if isinstance(value, pt.PSObject):
        ps = value.PSObject
        type_names = tuple(str(t) for t in ps.type_names)
        props: dict[str, PSValue | PSObj | None] = {}
        for prop in list(ps.adapted_properties) + list(ps.extended_properties):
            try:
                props[prop.name] = convert(prop.get_value(value), depth + 1)
            except Exception:  # a property psrpcore cannot read is left out, not fatal
                continue
        to_string = ps.to_string if isinstance(ps.to_string, str) else None
        return PSObj(type_names, props, to_string)
    return PSValue(type(value).__name__, str(value))


_CATEGORY_NAMES = {c.value: c.name for c in pt.ErrorCategory}


def error_from_pypsrp(err: Any) -> ErrorRecordData:
    """pypsrp ErrorRecord -> ErrorRecordData (message, FullyQualifiedErrorId, category)."""
    message = ""
    exc = getattr(err, "exception", None)
    if exc is not None:
        adapted = getattr(exc, "adapted_properties", {}) or {}
        extended = getattr(exc, "extended_properties", {}) or {}
        message = str(adapted.get("Message") or extended.get("Message") or "")
    if not message:
        message = str(getattr(err, "details_message", "") or getattr(err, "message", "") or err)
    category = getattr(err, "category", None)
    category_name = _CATEGORY_NAMES.get(int(category), str(category)) if isinstance(category, int) else ""
    return ErrorRecordData(
        message=" ".join(message.split()),
        fully_qualified_error_id=str(getattr(err, "fq_error", "") or ""),
        category=category_name,
        reason=str(getattr(err, "reason", "") or ""),
        target=str(getattr(err, "target_name", "") or ""),
        activity=str(getattr(err, "activity", "") or ""),
    )
