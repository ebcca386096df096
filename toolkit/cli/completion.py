"""Tab completion without Typer: the common answers from a cached table of the command tree.

A shell asks for completions by running ``psfleet`` with ``_PSFLEET_COMPLETE=complete_bash``
(``COMP_WORDS``, ``COMP_CWORD``) or ``complete_zsh`` (``_TYPER_COMPLETE_ARGS``). Importing
Typer alone costs more CPU than a completion may take, so :func:`answer` answers from a table
of the command tree (commands, options, which take a value, how each value completes) kept in
the user's cache directory, and returns None for anything it does not handle exactly as
Typer would; the caller then runs Typer, and :func:`refresh` rebuilds the table when it was
missing or stale.

What the fast path answers, as Typer's click-based resolution does (``_resolve_context`` and
``_resolve_incomplete``): command names, option names (bash; zsh shows help text that Typer
renders through rich at the terminal's width, so zsh names go to Typer), and option values:
``--format`` / ``--table-format`` (fixed lists) and ``--limit`` (the inventory's host and
group names). It gives up (Typer answers) on ``--``, ``--opt=value``, clustered short options,
an option value that starts with ``-``, unknown commands or options, and completers it does
not know.

The table is valid while every module it was built from is unchanged (path, size, mtime of
each ``toolkit`` module loaded to build it, and Typer's): any edit, upgrade or reinstall makes
the next completion go through Typer once and rebuild it. ``PSFLEET_COMPLETION_CACHE`` names
the table's file; empty turns the fast path off.

Only the standard library is imported here at module level: this runs before anything else.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CACHE_ENV", "answer", "build_table", "cache_file", "refresh", "refresh_if_stale", "respond"]

CACHE_ENV = "PSFLEET_COMPLETION_CACHE"
FORMAT = 1  # the table's layout; a table of another layout is rebuilt

#: The shells answered here (Typer's instruction names: ``complete_<shell>``).
SHELLS = ("bash", "zsh")


def cache_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where the table is kept, or None when the fast path is off (``PSFLEET_COMPLETION_CACHE=``).
    Default: ``$XDG_CACHE_HOME/psfleet/completion-<N>.json`` (``~/.cache``), N told apart per
    Python installation and psfleet location."""
    env = os.environ if environ is None else environ
    named = env.get(CACHE_ENV)
    if named is not None:
        return Path(named) if named.strip() else None
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    import zlib

    where = f"{sys.prefix}|{sys.version}|{Path(__file__).resolve().parent}".encode()
    return Path(base) / "psfleet" / f"completion-{zlib.crc32(where):08x}.json"


# --- the request ---------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    """Split a command line as click's ``split_arg_string`` does (shlex, posix, no comments;
    an unfinished quote or escape keeps the partial token)."""
    import shlex

    lex = shlex.shlex(text, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    out: list[str] = []
    try:
        for token in lex:
            out.append(token)
    except ValueError:
        out.append(lex.token)
    return out


def request(shell: str, environ: Mapping[str, str]) -> tuple[list[str], str] | None:
    """(args after the program name, the incomplete word) as Typer's completion classes read
    them; None when the environment is not what that shell sends."""
    if shell == "bash":
        words, cword = environ.get("COMP_WORDS"), environ.get("COMP_CWORD")
        if words is None or cword is None or not cword.isdigit():
            return None
        cwords = split_words(words)
        index = int(cword)
        return cwords[1:index], cwords[index] if index < len(cwords) else ""
    if shell == "zsh":
        line = environ.get("_TYPER_COMPLETE_ARGS", "")
        args = split_words(line)[1:]
        if args and not line.endswith(" "):
            return args[:-1], args[-1]
        return args, ""
    return None


# --- answering from the table --------------------------------------------------------------


class GiveUp(Exception):
    """The fast path cannot answer this exactly: Typer will."""


Item = tuple[str, bool]  # (value, carries help text)


def resolve(
    table: Mapping[str, Any], args: list[str], incomplete: str, environ: Mapping[str, str]
) -> list[Item]:
    """The completion items for ``args`` and ``incomplete``: what click's ``_resolve_context``
    and ``_resolve_incomplete`` pick, then what that command or parameter offers."""
    nodes: Mapping[str, Any] = table["nodes"]
    node = nodes[""]
    path = ""
    given: dict[str, list[str]] = {}  # parameter name -> values given on the command line
    positional: list[str] = []
    if "--" in args:
        raise GiveUp("--")
    i = 0
    while i < len(args):
        token = args[i]
        if token[:1] == "-" and len(token) > 1:
            param = node["opts"].get(token)
            if param is None:
                raise GiveUp(f"unknown option {token}")
            spec = node["params"][param]
            if not spec["takes_value"]:
                given.setdefault(spec["name"], []).append("")
                i += 1
                continue
            if i + 1 == len(args):  # the value is being typed: click stops parsing here
                break
            value = args[i + 1]
            if value[:1] == "-":
                raise GiveUp("an option value that looks like an option")
            given.setdefault(spec["name"], []).append(value)
            i += 2
            continue
        if node["group"]:
            child = f"{path} {token}".strip()
            if token not in node["commands"] or child not in nodes:
                raise GiveUp(f"unknown command {token}")
            node, path, given, positional = nodes[child], child, {}, []
        else:
            positional.append(token)
        i += 1

    if any(s["kind"] == "option" and s["takes_value"] and s["nargs"] != 1 for s in node["params"]):
        raise GiveUp("an option with several values")
    if incomplete == "=" or ("=" in incomplete and incomplete[:1] == "-"):
        raise GiveUp("--opt=value")
    if incomplete[:1] == "-":
        return _names(node, given, incomplete)
    last = args[-1] if args else None
    if last is not None and last[:1] == "-":
        for spec in node["params"]:
            if spec["kind"] == "option" and spec["takes_value"] and last in spec["opts"]:
                return _values(node, spec, given, incomplete, environ)
    arguments = [s for s in node["params"] if s["kind"] == "argument"]
    if arguments:
        if any(s["nargs"] not in (1, -1) for s in arguments) or (
            len(arguments) > 1 and any(s["nargs"] == -1 for s in arguments)
        ):
            raise GiveUp("arguments click unpacks in its own way")
        for n, spec in enumerate(arguments):
            if spec["nargs"] == -1 or n >= len(positional):
                return _values(node, spec, given, incomplete, environ)
    return _names(node, given, incomplete)


def _names(node: Mapping[str, Any], given: Mapping[str, list[str]], incomplete: str) -> list[Item]:
    """A command's own answer: a group's commands, then (for a word that does not start with
    a letter or digit) the options not given yet, multiple ones always."""
    items: list[Item] = []
    if node["group"]:
        items += [(name, True) for name in node["commands"] if name.startswith(incomplete)]
    if not incomplete or incomplete[0].isalnum():
        return items
    for spec in node["params"]:
        if spec["kind"] != "option" or spec["hidden"] or (not spec["multiple"] and spec["name"] in given):
            continue
        items += [(name, True) for name in spec["names"] if name.startswith(incomplete)]
    return items


def _values(
    node: Mapping[str, Any],
    spec: Mapping[str, Any],
    given: Mapping[str, list[str]],
    incomplete: str,
    environ: Mapping[str, str],
) -> list[Item]:
    how = spec["values"]
    if how == "none":
        return []
    if how == "fixed":
        return [(v, False) for v in spec["fixed"] if v.startswith(incomplete)]
    if how == "limit":
        from toolkit.cli.options import limit_candidates

        names = limit_candidates(
            _inventory(node, given, environ), incomplete, names=_remembered_names(environ)
        )
        return [(v, False) for v in names if v.startswith(incomplete)]
    raise GiveUp(f"values of {spec['name']} complete in a way this table does not know")


def _inventory(node: Mapping[str, Any], given: Mapping[str, list[str]], environ: Mapping[str, str]) -> Any:
    """What the command's context holds as ``inventory`` while completing (raw text): the
    last ``-i`` given, else the option's environment variable, else its default."""
    if given.get("inventory"):
        return given["inventory"][-1]
    for spec in node["params"]:
        if spec["name"] == "inventory":
            for var in spec["envvars"]:
                if environ.get(var):
                    return environ[var]
            return spec["default"]
    return None


def _remembered_names(environ: Mapping[str, str]) -> Callable[[Path], list[str]]:
    """:func:`toolkit.cli.options.inventory_names`, remembered beside the table per inventory
    file (path, size, mtime): reading an inventory imports its whole reader, the slowest part
    of completing ``--limit``. A folder (several files) is read every time."""

    def names(path: Path) -> list[str]:
        from toolkit.cli.options import inventory_names

        where = cache_file(environ)
        try:
            st = os.stat(path)
        except OSError:
            return inventory_names(path)
        if where is None or not os.path.isfile(path):
            return inventory_names(path)
        memo = where.with_name(f"{where.stem}.limit.json")
        key = [os.path.abspath(path), st.st_size, st.st_mtime_ns]
        try:
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if saved.get("key") == key and isinstance(saved.get("names"), list):
                return [str(n) for n in saved["names"]]
        except (OSError, ValueError, AttributeError):
            pass
        found = inventory_names(path)
        try:
            temp = memo.with_name(f".{memo.name}.{os.getpid()}")
            temp.write_text(json.dumps({"key": key, "names": found}), encoding="utf-8")
            os.replace(temp, memo)
        except OSError:
            pass
        return found

    return names


def _zsh_escape(text: str) -> str:
    return (
        text.replace('"', '""')
        .replace("'", "''")
        .replace("$", "\\$")
        .replace("`", "\\`")
        .replace(":", r"\\:")
    )


def render(shell: str, items: list[Item]) -> str:
    """The text Typer prints for ``items`` (before click's echo adds the last newline)."""
    if shell == "bash":
        return "\n".join(value for value, _ in items)
    if any(has_help for _, has_help in items):
        # Typer renders help through rich at the terminal's width: only Typer can say it.
        raise GiveUp("zsh items with help text")
    if not items:
        return "_files"
    lines = "\n".join(f'"{_zsh_escape(value)}"' for value, _ in items)
    return f"_arguments '*: :(({lines}))'"


def load(path: Path) -> dict[str, Any] | None:
    """The table at ``path`` if it is there, of this layout, and built from the modules as
    they are now; else None."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(table, dict) or table.get("format") != FORMAT:
        return None
    try:
        for name, size, mtime in table["sources"]:
            found = os.stat(name)
            if found.st_size != size or found.st_mtime_ns != mtime:
                return None
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return table


def answer(instruction: str, environ: Mapping[str, str] | None = None) -> str | None:
    """What Typer would print for this completion request, or None when Typer must answer
    (no valid table, a shell or request the table does not cover)."""
    env = os.environ if environ is None else environ
    action, _, shell = instruction.partition("_")
    if action != "complete" or shell not in SHELLS:
        return None
    where = cache_file(env)
    if where is None:
        return None
    table = load(where)
    if table is None:
        return None
    return respond(table, shell, env)


def respond(table: Mapping[str, Any], shell: str, environ: Mapping[str, str]) -> str | None:
    """Answer one request from ``table`` (None: Typer must answer it)."""
    asked = request(shell, environ)
    if asked is None:
        return None
    args, incomplete = asked
    try:
        return render(shell, resolve(table, args, incomplete, environ))
    except GiveUp:
        return None


# --- building the table (Typer loaded) -----------------------------------------------------


def build_table(
    root: Any, kinds: Mapping[Callable[..., Any], str], fixed: Mapping[Callable[..., Any], Any]
) -> dict[str, Any]:
    """The table for the click command ``root`` (every command loaded). ``kinds``: the
    completers the fast path knows ("fixed" or "limit"); ``fixed``: for "fixed" ones, the
    function returning their values."""
    nodes: dict[str, Any] = {}

    def walk(command: Any, path: str, ctx: Any) -> None:
        params = []
        completers = _completers(command)
        for param in command.get_params(ctx):
            takes_value = param.param_type_name == "argument" or not (
                getattr(param, "is_flag", False) or getattr(param, "count", False)
            )
            spec: dict[str, Any] = {
                "name": param.name,
                "kind": param.param_type_name,
                "opts": list(param.opts),
                "names": [*param.opts, *param.secondary_opts],
                "hidden": bool(getattr(param, "hidden", False)),
                "multiple": bool(param.multiple),
                "takes_value": takes_value,
                "nargs": param.nargs,
                "envvars": _envvars(param),
                "default": param.default if isinstance(param.default, str) else None,
                "values": "unknown",
                "fixed": [],
            }
            if takes_value:
                spec["values"], spec["fixed"] = _how(param, ctx, completers.get(param.name), kinds, fixed)
            if param.param_type_name == "option" and takes_value and param.nargs != 1:
                spec["values"] = "unknown"
            if param.name == "inventory" and param.default is not None and not isinstance(param.default, str):
                spec["values"] = "unknown"
            params.append(spec)
        commands: list[str] = []
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is None or sub.hidden:
                    continue
                commands.append(name)
                child = f"{path} {name}".strip()
                walk(sub, child, sub.make_context(name, [], parent=ctx, resilient_parsing=True))
        opts: dict[str, int] = {}
        for n, spec in enumerate(params):
            if spec["kind"] == "option":
                for name in spec["names"]:
                    opts.setdefault(name, n)
        nodes[path] = {
            "group": hasattr(command, "list_commands"),
            "commands": commands,
            "params": params,
            "opts": opts,
        }

    walk(root, "", root.make_context("psfleet", [], resilient_parsing=True))
    return {"format": FORMAT, "nodes": nodes}


def _envvars(param: Any) -> list[str]:
    found = getattr(param, "envvar", None)
    if found is None:
        return []
    return [found] if isinstance(found, str) else list(found)


def _completers(command: Any) -> dict[str, Any]:
    """Parameter name -> the ``autocompletion`` function its Typer declaration names."""
    import inspect

    callback = getattr(command, "callback", None)
    if callback is None:
        return {}
    try:
        from toolkit.compat.typer_values import declared_params

        declared = declared_params(inspect.unwrap(callback))
    except Exception:
        return {}
    return {name: getattr(meta.default, "autocompletion", None) for name, meta in declared.items()}


def _how(
    param: Any,
    ctx: Any,
    completer: Any,
    kinds: Mapping[Callable[..., Any], str],
    fixed: Mapping[Callable[..., Any], Any],
) -> tuple[str, list[str]]:
    if completer is not None:
        kind = kinds.get(completer, "unknown")
        return kind, list(fixed[completer]()) if kind == "fixed" else []
    # No completer: Typer offers choices, echoes a file, or nothing. Only "nothing" is kept.
    try:
        if not param.shell_complete(ctx, "") and not param.shell_complete(ctx, "\x00"):
            return "none", []
    except Exception:
        pass
    return "unknown", []


def sources(prefix: Path) -> list[list[Any]]:
    """(path, size, mtime) of every module loaded from ``prefix`` (psfleet's package), and of
    the Typer and click packages in use."""
    found = []
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if not name:
            continue
        if name.startswith(f"{prefix}{os.sep}") or getattr(module, "__name__", "") in ("typer", "click"):
            try:
                st = os.stat(name)
            except OSError:
                continue
            found.append([name, st.st_size, st.st_mtime_ns])
    return sorted(found)


def refresh(table: dict[str, Any], environ: Mapping[str, str] | None = None) -> Path | None:
    """Write ``table`` (with its sources) where :func:`answer` reads it; None if it could not be
    written (no cache folder: completion keeps working through Typer)."""
    where = cache_file(environ)
    if where is None:
        return None
    table = {**table, "sources": sources(Path(__file__).resolve().parent.parent)}
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        temp = where.with_name(f".{where.name}.{os.getpid()}")
        temp.write_text(json.dumps(table, separators=(",", ":")), encoding="utf-8")
        os.replace(temp, where)
    except OSError:
        return None
    return where


def refresh_if_stale(build: Callable[[], dict[str, Any]], environ: Mapping[str, str] | None = None) -> None:
    """Rebuild the table with ``build`` when it is missing or stale (after Typer answered a
    request the table could not). Never fails: completion goes on through Typer."""
    try:
        where = cache_file(environ)
        if where is None or load(where) is not None:
            return
        refresh(build(), environ)
    except Exception:  # a completion never fails loudly
        return
