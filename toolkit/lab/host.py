"""A simulated Windows host: registry, OS profile, events, and a pipeline runner.

``SimHost.execute(commands, user=...)`` takes the ``psrpcore.Command`` list of a
CreatePipeline message and returns what the pipeline emits (:mod:`toolkit.lab.emit`).
Script commands (``is_script=True``) are parsed by :mod:`toolkit.lab.script` and run on the same
path. Error flow follows PowerShell:

* a cmdlet's non-terminating error goes to the error stream and the pipeline continues;
* a statement-terminating error (parameter binding, unknown command, confirmation prompt)
  fails a structured pipeline; inside a script it is written to the error stream and the
  next statement runs;
* ``-ErrorAction Stop`` turns the first error into a terminating one (script-terminating);
  ``SilentlyContinue`` / ``Ignore`` drop it;
* a parse error terminates before anything in the script runs.

Thread safety: ``execute`` holds a per-host lock, so pools on several threads can share a host.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psrpcore.types import ErrorCategory, PSObject

from toolkit.lab.cmdlets import (
    BindingError,
    CmdletDef,
    Context,
    Param,
    bind,
    binding_error,
    check_mandatory,
    param_type_name,
    to_string,
)
from toolkit.lab.cmdlets_events import EVENT_CMDLETS, EventRecord, EventSpec, expand_events
from toolkit.lab.cmdlets_registry import REGISTRY_CMDLETS
from toolkit.lab.cmdlets_regkind import REGKIND_CMDLETS
from toolkit.lab.cmdlets_smb import SMB_CMDLETS
from toolkit.lab.emit import (
    Emission,
    ErrorOut,
    Output,
    Terminate,
    as_non_terminating,
    as_terminating,
    error_record,
    invocation_info,
)
from toolkit.lab.profiles import Profile, get_profile
from toolkit.lab.registry import Registry, ValueKind
from toolkit.lab.script import NO_VALUE, ArgToken, ParamToken, ScriptParseError, parse

RegistryOverrides = Mapping[str, Mapping[str, "tuple[str | ValueKind, Any] | None"]]


@dataclass(frozen=True)
class LabUser:
    """An account the lab accepts; ``admin`` decides whether HKLM writes succeed, ``remoting``
    whether it may use the PowerShell endpoint at all (False: neither an administrator nor in
    Remote Management Users, so Windows refuses the shell with "Access is denied.")."""

    name: str
    password: str
    admin: bool
    remoting: bool = True


def _out_null(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    return []


def _select_object(ctx: Context, bound: dict[str, Any]) -> list[Emission]:
    items = bound.get("InputObject", [])
    first = bound.get("First")
    if first is not None:
        items = items[:first]
    expand = bound.get("ExpandProperty")
    if not expand:
        return [Output(item) for item in items]
    out: list[Emission] = []
    for item in items:
        try:
            out.append(Output(getattr(item, expand)))
        except AttributeError:
            out.append(
                ctx.error(
                    "PSArgumentException",
                    f'Property "{expand}" cannot be found.',
                    category=ErrorCategory.InvalidArgument,
                    error_id="ExpandPropertyNotFound",
                    target=item,
                )
            )
    return out


_UTILITY_CMDLETS: tuple[CmdletDef, ...] = (
    CmdletDef(
        "Out-Null",
        (Param("InputObject", "object"),),
        _out_null,
        dotnet_type="Microsoft.PowerShell.Commands.OutNullCommand",
    ),
    CmdletDef(
        "Select-Object",
        (Param("ExpandProperty", "string"), Param("First", "int32"), Param("InputObject", "object")),
        _select_object,
        dotnet_type="Microsoft.PowerShell.Commands.SelectObjectCommand",
    ),
)

ALL_CMDLETS: dict[str, CmdletDef] = {
    c.name.lower(): c
    for c in (*REGISTRY_CMDLETS, *REGKIND_CMDLETS, *SMB_CMDLETS, *EVENT_CMDLETS, *_UTILITY_CMDLETS)
}


@dataclass(frozen=True)
class _Call:
    """One command of a statement, ready to bind."""

    name: str
    parameters: list[tuple[str | None, Any]]
    line: str = ""
    column: int = 0
    binding_problem: BindingError | None = None


class _Stop(Exception):
    """Unwinds the run when a terminating error ends the whole pipeline."""

    def __init__(self, record: Terminate) -> None:
        super().__init__(record.message)
        self.record = record


class SimHost:
    """One emulated Windows machine.

    ``registry_overrides`` maps key paths to ``{value name: (kind, data) or None}`` (None deletes
    the value) applied over the profile's defaults. With ``state_dir`` the registry lives in
    ``state_dir/<name>.json``: an existing file wins over profile and overrides, so a restarted
    lab keeps its changes.
    """

    def __init__(
        self,
        name: str,
        profile: str | Profile,
        *,
        registry_overrides: RegistryOverrides | None = None,
        events: Sequence[EventSpec] = (),
        state_dir: str | Path | None = None,
        now: datetime.datetime | None = None,
    ) -> None:
        self._name = name
        self._profile = profile if isinstance(profile, Profile) else get_profile(profile)
        self._lock = threading.RLock()
        self._started = now or datetime.datetime.now(datetime.UTC)
        self._events = expand_events(tuple(events), start=self._started)
        self._environment = system_environment(name)
        state_file = Path(state_dir) / f"{name}.json" if state_dir is not None else None
        if state_file is not None and state_file.exists():
            self._registry = Registry.load(state_file)
        else:
            self._registry = Registry()
            self._profile.seed(self._registry)
            apply_overrides(self._registry, registry_overrides or {})
            if state_file is not None:
                self._registry.attach(state_file)

    @property
    def name(self) -> str:
        return self._name

    @property
    def profile(self) -> Profile:
        return self._profile

    @property
    def registry(self) -> Registry:
        """The live registry (read it to check what a run changed)."""
        return self._registry

    @property
    def events(self) -> Sequence[EventRecord]:
        return self._events

    @property
    def environment(self) -> Mapping[str, str]:
        """The system environment a remote session on this host sees (what REG_EXPAND_SZ
        values expand with on read)."""
        return self._environment

    def execute(self, commands: Sequence[Any], *, user: LabUser) -> list[Emission]:
        """Run a pipeline's commands (``psrpcore.Command`` objects) as ``user``."""
        with self._lock, self._registry.batched():
            out: list[Emission] = []
            try:
                for statement in _statements(commands):
                    scripts = [c for c in statement if getattr(c, "is_script", False)]
                    if scripts and len(statement) > 1:
                        raise _Stop(_unsupported_pipeline(statement))
                    if scripts:
                        self._run_script(str(scripts[0].command_text), user, out)
                    else:
                        calls = [_Call(str(c.command_text), list(c.parameters)) for c in statement]
                        out += self._run_statement(calls, user, in_script=False)
            except _Stop as stop:
                out.append(stop.record)
            return out

    def run_script(self, text: str, *, user: LabUser) -> list[Emission]:
        """Convenience for tests: the same as one ``is_script`` command."""
        from psrpcore import Command

        return self.execute([Command(text, is_script=True)], user=user)

    # -- internals -------------------------------------------------------------------------
    def _run_script(self, text: str, user: LabUser, out: list[Emission]) -> None:
        try:
            script = parse(text)
        except ScriptParseError as exc:
            raise _Stop(_parse_error(text, exc)) from None
        for statement in script.statements:
            calls = [
                _script_call(text, command.name, command.elements, command.column)
                for command in statement.commands
            ]
            out += self._run_statement(calls, user, in_script=True)

    def _run_statement(self, calls: list[_Call], user: LabUser, *, in_script: bool) -> list[Emission]:
        out: list[Emission] = []
        piped: list[Any] | None = None
        for position, call in enumerate(calls, start=1):
            emitted = self._run_call(call, user, piped, position=position, length=len(calls))
            piped = []
            for item in emitted:
                if isinstance(item, Terminate):
                    if not in_script:
                        raise _Stop(item)
                    out.append(as_non_terminating(item))
                    return out
                if isinstance(item, Output):
                    piped.append(item.value)
                else:
                    out.append(item)
        out += [Output(value) for value in piped or []]
        return out

    def _run_call(
        self, call: _Call, user: LabUser, piped: list[Any] | None, *, position: int, length: int
    ) -> list[Emission]:
        cmdlet = ALL_CMDLETS.get(call.name.lower())
        if cmdlet is None or self._profile.build < cmdlet.min_build:
            return [_command_not_found(call, position, length)]
        ctx = Context(
            host=self,
            admin=user.admin,
            cmdlet=cmdlet,
            line=call.line,
            column=call.column,
            pipeline_position=position,
            pipeline_length=length,
        )
        try:
            if call.binding_problem is not None:
                raise call.binding_problem
            bound = bind(cmdlet, call.parameters)
            if piped is not None:
                return self._run_with_input(ctx, bound, piped)
            check_mandatory(cmdlet, bound)
        except BindingError as exc:
            return [binding_error(ctx, exc)]
        return _apply_error_action(cmdlet.run(ctx, bound), bound)

    def _run_with_input(self, ctx: Context, bound: dict[str, Any], piped: list[Any]) -> list[Emission]:
        cmdlet = ctx.cmdlet
        if any(p.name == "InputObject" for p in cmdlet.params):
            bound = {**bound, "InputObject": piped}
            return _apply_error_action(cmdlet.run(ctx, bound), bound)
        out: list[Emission] = []
        by_property = [p for p in cmdlet.params if p.pipeline_by_property]
        for item in piped:
            ps_path = getattr(item, "PSPath", None) if isinstance(item, PSObject) else None
            if ps_path is None or not by_property:
                out.append(_input_not_bound(ctx, item))
                continue
            item_bound = {**bound, "LiteralPath": [to_string(ps_path)]}
            try:
                check_mandatory(cmdlet, item_bound)
            except BindingError as exc:
                return [*out, binding_error(ctx, exc)]
            out += _apply_error_action(cmdlet.run(ctx, item_bound), item_bound)
        return out


def system_environment(computer_name: str) -> dict[str, str]:
    """Windows' system environment variables on a default installation on C:."""
    return {
        "ALLUSERSPROFILE": "C:\\ProgramData",
        "CommonProgramFiles": "C:\\Program Files\\Common Files",
        "COMPUTERNAME": computer_name.upper(),
        "ComSpec": "C:\\Windows\\system32\\cmd.exe",
        "NUMBER_OF_PROCESSORS": "2",
        "OS": "Windows_NT",
        "PROCESSOR_ARCHITECTURE": "AMD64",
        "ProgramData": "C:\\ProgramData",
        "ProgramFiles": "C:\\Program Files",
        "ProgramFiles(x86)": "C:\\Program Files (x86)",
        "PUBLIC": "C:\\Users\\Public",
        "SystemDrive": "C:",
        "SystemRoot": "C:\\Windows",
        "windir": "C:\\Windows",
    }


def apply_overrides(registry: Registry, overrides: RegistryOverrides) -> None:
    """Apply ``{key: {value: (kind, data) | None}}`` on top of a seeded registry."""
    for key, values in overrides.items():
        registry.create_key(key)
        for name, setting in values.items():
            if setting is None:
                registry.delete(key, name)
            else:
                kind, data = setting
                registry.set(key, name, kind, data)


def _statements(commands: Sequence[Any]) -> list[list[Any]]:
    statements: list[list[Any]] = [[]]
    for command in commands:
        statements[-1].append(command)
        if getattr(command, "end_of_statement", False):
            statements.append([])
    return [s for s in statements if s]


def _script_call(text: str, name: str, elements: tuple[ParamToken | ArgToken, ...], column: int) -> _Call:
    """Pair ``-Name value`` tokens the way PowerShell's binder does, knowing which are switches."""
    cmdlet = ALL_CMDLETS.get(name.lower())
    parameters: list[tuple[str | None, Any]] = []
    problem: BindingError | None = None
    index = 0
    while index < len(elements):
        element = elements[index]
        index += 1
        if isinstance(element, ArgToken):
            parameters.append((None, element.value))
            continue
        if element.value is not NO_VALUE:
            parameters.append((element.name, element.value))
            continue
        param = cmdlet.resolve(element.name) if cmdlet is not None else None
        if not isinstance(param, Param) or param.kind == "switch":
            parameters.append((element.name, None))
        elif index < len(elements) and isinstance(elements[index], ArgToken):
            parameters.append((element.name, elements[index].value))
            index += 1
        elif problem is None:
            problem = BindingError(
                "MissingArgument",
                f"Missing an argument for parameter '{param.name}'. Specify a parameter of type "
                f"'{param_type_name(param)}' and try again.",
            )
    return _Call(name, parameters, line=text, column=column, binding_problem=problem)


def _apply_error_action(emitted: list[Emission], bound: Mapping[str, Any]) -> list[Emission]:
    action = bound.get("ErrorAction")
    if action in ("SilentlyContinue", "Ignore"):
        return [e for e in emitted if not isinstance(e, ErrorOut)]
    if action == "Stop":
        for index, item in enumerate(emitted):
            if isinstance(item, ErrorOut):
                raise _Stop(as_terminating(item)) from None
            if isinstance(item, Terminate):
                return emitted[: index + 1]
    return emitted


def _command_not_found(call: _Call, position: int, length: int) -> Terminate:
    info = invocation_info(
        call.name,
        line=call.line,
        offset_in_line=call.column,
        pipeline_length=length,
        pipeline_position=position,
        known_command=False,
    )
    record = error_record(
        "CommandNotFoundException",
        f"The term '{call.name}' is not recognized as the name of a cmdlet, function, script file, or operable "
        "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
        "and try again.",
        category=ErrorCategory.ObjectNotFound,
        error_id="CommandNotFoundException",
        target=call.name,
        activity="",
        invocation=info,
    )
    return as_terminating(record)


def _input_not_bound(ctx: Context, item: Any) -> ErrorOut:
    return ctx.error(
        "ParameterBindingException",
        "The input object cannot be bound to any parameters for the command either because the command does not "
        "take pipeline input or the input and its properties do not match any of the parameters that take "
        "pipeline input.",
        category=ErrorCategory.InvalidArgument,
        error_id="InputObjectNotBound",
        target=item,
    )


def _parse_error(text: str, exc: ScriptParseError) -> Terminate:
    info = invocation_info("", line=text, offset_in_line=exc.column, known_command=False)
    info.PositionMessage = f"At line:1 char:{exc.column}\n+ {text}\n+ {' ' * (exc.column - 1)}~"
    record = error_record(
        "ParseException",
        exc.message,
        category=ErrorCategory.ParserError,
        error_id=exc.error_id,
        target=None,
        activity="",
        invocation=info,
    )
    return as_terminating(record)


def _unsupported_pipeline(statement: list[Any]) -> Terminate:
    names = " | ".join(str(c.command_text) for c in statement)
    return _parse_error(
        names,
        ScriptParseError(
            "A script piped into other commands is not supported by the lab; send the script on its own.",
            error_id="LabUnsupportedSyntax",
            column=1,
        ),
    )
