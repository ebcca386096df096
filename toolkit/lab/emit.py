"""What a simulated pipeline emits, and how Windows-shaped error records are built.

The network glue turns each emission into a PSRP message: :class:`Output` into
``pipeline.write_output(value)``, :class:`ErrorOut` into ``pipeline.write_error(**e.fields())``
(non-terminating: the pipeline goes on) and :class:`Terminate` into a Failed pipeline state
carrying that record. Every value here is a psrpcore object, so it serializes as Windows would
send it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psrpcore.types import (
    CommandOrigin,
    CommandTypes,
    ErrorCategory,
    ErrorCategoryInfo,
    InvocationInfo,
    NETException,
    PSDict,
    PSList,
)

# .NET type chains (most derived first), as Windows puts them in the serialized exception's
# <TN> list. Keys are the short names used by the cmdlets.
_EXCEPTION_CHAINS: dict[str, tuple[str, ...]] = {
    "ItemNotFoundException": (
        "System.Management.Automation.ItemNotFoundException",
        "System.Management.Automation.SessionStateException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ),
    "PSArgumentException": (
        "System.Management.Automation.PSArgumentException",
        "System.ArgumentException",
        "System.SystemException",
    ),
    "ArgumentException": ("System.ArgumentException", "System.SystemException"),
    "SecurityException": ("System.Security.SecurityException", "System.SystemException"),
    "IOException": ("System.IO.IOException", "System.SystemException"),
    "CommandNotFoundException": (
        "System.Management.Automation.CommandNotFoundException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ),
    "HostException": (
        "System.Management.Automation.Host.HostException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ),
    "ParameterBindingException": (
        "System.Management.Automation.ParameterBindingException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ),
    "ParseException": (
        "System.Management.Automation.ParseException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ),
    # A native command's stderr line (reg.exe query of a missing key: NativeCommandError).
    "RemoteException": (
        "System.Management.Automation.RemoteException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ),
    "PSInvalidCastException": (
        "System.Management.Automation.PSInvalidCastException",
        "System.InvalidCastException",
        "System.SystemException",
    ),
    "CimException": ("Microsoft.Management.Infrastructure.CimException",),
    "Exception": (),
}

# HResult of each exception family (the .NET COR_E_* codes).
_HRESULTS: dict[str, int] = {
    "ItemNotFoundException": -2146233087,
    "PSArgumentException": -2147024809,
    "ArgumentException": -2147024809,
    "SecurityException": -2146233078,
    "IOException": -2146232800,
    "CommandNotFoundException": -2146233087,
    "HostException": -2146233087,
    "ParameterBindingException": -2146233087,
    "ParseException": -2146233087,
    "RemoteException": -2146233087,
    "PSInvalidCastException": -2147467262,
    "CimException": -2146233088,
    "Exception": -2146233088,
}


class WindowsErrorCategoryInfo(ErrorCategoryInfo):
    """ErrorCategoryInfo whose text reads like Windows PowerShell's.

    psrpcore renders ``ObjectNotFound (x:String) [..], ..``; Windows writes a colon after the
    category: ``ObjectNotFound: (x:String) [Get-ItemProperty], ItemNotFoundException``.
    That text travels as ``ErrorCategory_Message``. Windows PowerShell shortens an activity,
    target name or target type longer than 40 characters to its first 15, "..." and its last
    15; the reason, an exception's type name, stays whole (ErrorCategoryInfo.GetMessage and
    Ellipsize in PowerShell's src/System.Management.Automation/engine/ErrorPackage.cs).
    """

    def __str__(self) -> str:
        return (
            f"{self.Category.name}: ({ellipsize(self.TargetName or '')}:{ellipsize(self.TargetType or '')}) "
            f"[{ellipsize(self.Activity or '')}], {self.Reason or ''}"
        )


def ellipsize(text: str) -> str:
    """ErrorCategoryInfo.Ellipsize: over 40 characters, the first 15 + "..." + the last 15."""
    return text if len(text) <= 40 else f"{text[:15]}...{text[-15:]}"


def net_exception(kind: str, message: str) -> NETException:
    """A serializable .NET exception of the short type ``kind`` (see ``_EXCEPTION_CHAINS``)."""
    exc = NETException(Message=message, HResult=_HRESULTS[kind])
    chain = list(_EXCEPTION_CHAINS[kind])
    exc.PSObject.type_names = [*chain, *exc.PSTypeNames]
    return exc


def exception_type_name(exc: NETException) -> str:
    """The .NET full type name of a :func:`net_exception` result."""
    return str(exc.PSTypeNames[0])


def _target_type(target: Any) -> str:
    if target is None:
        return ""
    if isinstance(target, str):
        return "String"
    if isinstance(target, bool):
        return "Boolean"
    if isinstance(target, int):
        return "Int32"
    return type(target).__name__


def invocation_info(
    command: str,
    *,
    command_type: CommandTypes = CommandTypes.Cmdlet,
    line: str = "",
    offset_in_line: int = 0,
    pipeline_length: int = 1,
    pipeline_position: int = 1,
    known_command: bool = True,
) -> InvocationInfo:
    """InvocationInfo with MyCommand filled in, as Windows sends it for a cmdlet's error.

    ``line``/``offset_in_line`` (1-based column) describe script text; for structured commands
    they stay empty, as with ``PowerShell.AddCommand``.
    """
    my_command = None
    if known_command:
        my_command = _CommandInfo(command_type, command, "")
    if line:
        marker = "~" * max(1, len(command))
        position = f"At line:1 char:{offset_in_line}\n+ {line}\n+ {' ' * (offset_in_line - 1)}{marker}"
    else:
        position = ""
    return InvocationInfo(
        BoundParameters=PSDict(),
        CommandOrigin=CommandOrigin.Runspace,
        DisplayScriptPosition=None,
        ExpectingInput=False,
        HistoryId=1,
        InvocationName=command,
        Line=line,
        MyCommand=my_command,
        OffsetInLine=offset_in_line,
        PipelineLength=pipeline_length,
        PipelinePosition=pipeline_position,
        PositionMessage=position,
        PSCommandPath=None,
        PSScriptRoot=None,
        ScriptLineNumber=1 if line else 0,
        ScriptName="",
        UnboundArguments=PSList(),
    )


class _CommandInfo(str):
    """Stand-in for CommandInfo: psrpcore reads only these attributes for the flattened
    ``CommandInfo_*`` members. As ``InvocationInfo.MyCommand`` it serializes as its ToString,
    the command's name, as Windows sends it (CommandInfo lies beyond the serialization depth)."""

    CommandType: CommandTypes
    Name: str
    Definition: str

    def __new__(cls, command_type: CommandTypes, name: str, definition: str) -> _CommandInfo:
        info = super().__new__(cls, name)
        info.CommandType, info.Name, info.Definition = command_type, name, definition
        return info


@dataclass(frozen=True)
class Output:
    """An object for the output stream."""

    value: Any


@dataclass(frozen=True)
class _ErrorFields:
    exception: NETException
    category_info: ErrorCategoryInfo
    target_object: Any
    fully_qualified_error_id: str
    invocation_info: InvocationInfo | None

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for ``ServerPipeline.write_error``."""
        return {
            "exception": self.exception,
            "category_info": self.category_info,
            "target_object": self.target_object,
            "fully_qualified_error_id": self.fully_qualified_error_id,
            "invocation_info": self.invocation_info,
        }

    @property
    def message(self) -> str:
        return str(self.exception.Message)

    @property
    def category(self) -> ErrorCategory:
        category: ErrorCategory = self.category_info.Category
        return category


@dataclass(frozen=True)
class ErrorOut(_ErrorFields):
    """A non-terminating error record (error stream); the pipeline continues."""


@dataclass(frozen=True)
class Terminate(_ErrorFields):
    """A terminating error: the pipeline ends in the Failed state with this record."""


Emission = Output | ErrorOut | Terminate


def error_record(
    kind: str,
    message: str,
    *,
    category: ErrorCategory,
    error_id: str,
    target: Any,
    activity: str,
    invocation: InvocationInfo | None,
) -> ErrorOut:
    """Build an error the way PowerShell's ``new ErrorRecord(ex, id, category, target)`` does.

    ``error_id`` is the full FullyQualifiedErrorId (``Id,Command.Type`` for cmdlet errors); the
    category's reason is the exception's short type name. :func:`as_terminating` makes it a
    terminating error.
    """
    exc = net_exception(kind, message)
    info = WindowsErrorCategoryInfo(
        Category=category,
        Activity=activity,
        Reason=exception_type_name(exc).rsplit(".", 1)[-1],
        TargetName="" if target is None else str(target),
        TargetType=_target_type(target),
    )
    return ErrorOut(
        exception=exc,
        category_info=info,
        target_object=target,
        fully_qualified_error_id=error_id,
        invocation_info=invocation,
    )


def as_terminating(error: ErrorOut | Terminate) -> Terminate:
    """The same record, as a terminating error (binding failures, prompts, ``-ErrorAction Stop``)."""
    return Terminate(**error.fields())


def as_non_terminating(error: ErrorOut | Terminate) -> ErrorOut:
    """The same record, for the error stream (a statement-terminating error inside a script)."""
    return ErrorOut(**error.fields())
