"""Typer 0.29's option values without pydantic when the answer is plain (typer <0.30).

Typer 0.29 converts every command-line value through a pydantic ``TypeAdapter`` built on first
use: importing pydantic and building the adapters cost every ``psfleet`` command 0.1-0.2 s of
CPU before it did anything. :func:`install` wraps ``TyperOption.process_value`` and
``TyperArgument.process_value`` (Typer's public parameter classes; ``type_descriptor`` and
``parameter_info`` are the attributes Typer itself reads there) so that values whose
conversion is beyond doubt are converted here, exactly as Typer would:

- None (a multiple option's is ``()``), a bool flag's bool, a value already of the type;
- ``str`` from text; ``int`` from digits only, ``float`` from digits with at most one point,
  within the option's ``min``/``max`` (never clamped);
- ``Path`` from non-empty text for an option with Typer's default path settings (no
  ``exists``, ``resolve_path``, ``allow_dash``, ``path_type``, file and dir both allowed,
  nothing but readability checked) when the path is missing or readable;
- lists of those for repeatable options.

Everything else (an error to report, a choice, a date, a tuple, a custom parser, an option
with a path check) goes to Typer's own conversion, so messages and results are Typer's. A
test compares both for every parameter of every command on a set of inputs.
"""

from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path
from typing import Any

__all__ = ["declared_params", "install", "plain_value", "raw_values"]

#: Returned by :func:`plain_value` when Typer must convert the value itself.
DEFER: Any = object()

_DIGITS = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else DEFER
    return annotation


def _plain_path(info: Any) -> bool:
    """Typer's default path settings: its conversion is Path(text) plus a readability check."""
    return (
        not getattr(info, "exists", False)
        and not getattr(info, "resolve_path", False)
        and not getattr(info, "allow_dash", False)
        and getattr(info, "path_type", None) is None
        and getattr(info, "file_okay", True)
        and getattr(info, "dir_okay", True)
        and not getattr(info, "writable", False)
        and not getattr(info, "executable", False)
        and getattr(info, "parser", None) is None
        and getattr(info, "click_type", None) is None
    )


def _scalar(annotation: Any, value: Any, info: Any) -> Any:
    if annotation is str:
        return value if isinstance(value, str) else DEFER
    if annotation is bool:
        return value if isinstance(value, bool) else DEFER
    if annotation is int or annotation is float:
        if isinstance(value, bool):
            return DEFER
        if isinstance(value, str):
            pattern = _DIGITS if annotation is int else _DECIMAL
            if not pattern.fullmatch(value):
                return DEFER
            number: Any = annotation(value)
        elif isinstance(value, int) or (annotation is float and isinstance(value, float)):
            number = annotation(value)
        else:
            return DEFER
        low, high = getattr(info, "min", None), getattr(info, "max", None)
        if (low is not None and number < low) or (high is not None and number > high):
            return DEFER  # Typer's message
        return number
    if annotation is Path:
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value or not _plain_path(info):
            return DEFER
        if os.path.exists(value) and not os.access(value, os.R_OK):
            return DEFER  # Typer says it is not readable
        return Path(value)
    return DEFER


def plain_value(param: Any, value: Any) -> Any:
    """``value`` converted as Typer would convert it for ``param``, or :data:`DEFER`."""
    descriptor = getattr(param, "type_descriptor", None)
    info = getattr(descriptor, "parameter_info", None)
    if descriptor is None or info is None or getattr(descriptor, "file_annotation", None) is not None:
        return DEFER
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None:
        return DEFER
    if getattr(info, "clamp", False):
        return DEFER
    multi = bool(param.multiple) or param.nargs == -1
    if value is None:
        return DEFER if getattr(param, "required", False) else (() if multi else None)
    annotation = _unwrap_optional(descriptor.annotation)
    if multi:
        if typing.get_origin(annotation) is not list or not isinstance(value, (list, tuple)):
            return DEFER
        (item,) = typing.get_args(annotation) or (DEFER,)
        items = [_scalar(item, v, info) for v in value]
        if any(v is DEFER for v in items):
            return DEFER
        if getattr(param, "required", False) and not items:
            return DEFER
        return items
    if param.nargs != 1:
        return DEFER
    return _scalar(annotation, value, info)


#: Typer's own process_value of each wrapped class.
_TYPERS: dict[type, Any] = {}


def typer_process_value(param: Any, ctx: Any, value: Any) -> Any:
    """What Typer itself makes of ``value`` for ``param`` (installed or not; for tests)."""
    for kind, original in _TYPERS.items():
        if isinstance(param, kind):
            return original(param, ctx, value)
    return param.process_value(ctx, value)


def install() -> None:
    """Wrap Typer's parameter classes (once per process): plain values skip pydantic."""
    from typer.core import TyperArgument, TyperOption

    for kind in (TyperOption, TyperArgument):
        if kind in _TYPERS:
            continue
        original = kind.process_value
        _TYPERS[kind] = original

        def process_value(self: Any, ctx: Any, value: Any, _original: Any = original) -> Any:
            plain = plain_value(self, value)
            if plain is DEFER:
                return _original(self, ctx, value)
            # The rest of Typer's process_value: required and missing is deferred above.
            return plain if self.callback is None else self.callback(ctx, self, plain)

        kind.process_value = process_value  # type: ignore[method-assign]


def raw_values() -> None:
    """While a shell asks for completions, keep option values as typed: Typer converts values
    through pydantic, whose import alone costs more CPU than completion may take, and the
    completers read raw text. Only ever called in a process that completes and exits."""
    from typer.core import TyperArgument, TyperOption

    for kind in (TyperOption, TyperArgument):
        kind.process_value = lambda self, ctx, value: value  # type: ignore[method-assign]


def declared_params(callback: Any) -> dict[str, Any]:
    """A command function's parameters as Typer declares them (name -> its ParameterInfo
    holder, with ``.default``), through ``typer.utils`` (not a documented API)."""
    from typer.utils import get_params_from_function

    return dict(get_params_from_function(callback))
