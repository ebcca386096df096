"""Option plumbing shared by commands, kept light: ``psfleet --help`` and completion import it.

* :func:`humanize_types`: help shows TEXT, INTEGER, FLOAT, PATH (not ``<list[str]>``);
* :data:`LIMIT_HELP` and the completion callbacks (``--format``, ``--table-format``, host and
  group names for ``--limit``);
* the global inventory options (``--inventory-backend``, vault, ``--show-skipped``) and the
  lines every command prints about hosts an inventory skipped.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

from toolkit.report.formats import TABLE_FORMAT_NAMES

if TYPE_CHECKING:
    from toolkit.config import Config
    from toolkit.inventory.loader import LoadedInventory

LIMIT_HELP = (
    "Hosts to work on, as Ansible's --limit: names, groups, globs (fs*), ~regex (matched at the "
    "start), group[0] / group[1:] / group[-1] positions, &pattern (also in), !pattern (not in); "
    "comma- or colon-separated, repeatable."
)
_WORDS: dict[object, str] = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH", bool: "BOOLEAN"}


def _word(annotation: object) -> str | None:
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return _word(args[0]) if args else "TEXT"
    for kind, word in _WORDS.items():
        if annotation is kind or (
            isinstance(annotation, type) and isinstance(kind, type) and issubclass(annotation, kind)
        ):
            return word
    options = [a for a in get_args(annotation) if a is not type(None)]  # X | None
    return _word(options[0]) if len(options) == 1 else None


def humanize_types(command: Any) -> None:
    """Give every option and argument without a metavar the type word users know (TEXT,
    INTEGER...); flags show none; help is plain text (Typer's rich panels show ``<bool>``).
    Walks sub-commands of groups already loaded."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for param in command.params:
        if param.param_type_name == "argument":
            # An argument shows its name (COMMAND, FILE) and Typer would add "<str>" after it.
            param.display_type_rich = lambda ctx: None
            continue
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
            continue
        descriptor = getattr(param, "type_descriptor", None)
        word = _word(getattr(descriptor, "annotation", None)) if descriptor is not None else None
        if word is None:
            name = getattr(param.type, "name", "") or ""
            word = {"integer": "INTEGER", "float": "FLOAT", "path": "PATH"}.get(name.lower(), "TEXT")
        param.metavar = word
    for sub in getattr(command, "__dict__", {}).get("commands", {}).values():
        humanize_types(sub)


# --- completion ---------------------------------------------------------------------------
# The fast path (toolkit/cli/completion.py) answers these completers from a cached table
# without importing Typer: :data:`FAST_COMPLETERS` says how, by function. A completer missing
# from it makes that option's values go through Typer.


def _format_names() -> tuple[str, ...]:
    from toolkit.report.formats import FORMATS

    return tuple(FORMATS)


def complete_format(incomplete: str) -> list[str]:
    return [f for f in _format_names() if f.startswith(incomplete)]


def _audit_format_names() -> tuple[str, ...]:
    return (*_format_names(), "prometheus")


def complete_audit_format(incomplete: str) -> list[str]:
    """The report formats and ``prometheus`` (audit only)."""
    return [f for f in _audit_format_names() if f.startswith(incomplete)]


def complete_table_format(incomplete: str) -> list[str]:
    return [f for f in TABLE_FORMAT_NAMES if f.startswith(incomplete)]


#: Fixed-list completers -> their whole list (the completer filters it by the typed prefix).
FIXED_COMPLETIONS: dict[Callable[..., list[str]], Callable[[], tuple[str, ...]]] = {
    complete_format: _format_names,
    complete_audit_format: _audit_format_names,
    complete_table_format: lambda: TABLE_FORMAT_NAMES,
}


def complete_choices(*values: str) -> Callable[[str], list[str]]:
    """A completer offering ``values`` (a command's own short list, e.g. ``table``/``json``)."""

    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    FIXED_COMPLETIONS[complete] = lambda: values
    return complete


def complete_limit(ctx: Any, incomplete: str) -> list[str]:
    """Host and group names of the inventory given so far (``-i`` or ``PSFLEET_INVENTORY``),
    read by the built-in reader (no subprocess while the user types); none on any error."""
    return limit_candidates(ctx.params.get("inventory"), incomplete)


def limit_candidates(
    source: object, incomplete: str, names: Callable[[Path], list[str]] | None = None
) -> list[str]:
    """:func:`complete_limit` for the inventory ``source`` as the command's context holds it
    (raw text or a path; None: ``$PSFLEET_INVENTORY``). ``names``: where the inventory's
    group and host names come from (default :func:`inventory_names`)."""
    source = source or os.environ.get("PSFLEET_INVENTORY")
    if not source:
        return []
    prefix, _, word = incomplete.rpartition(",")
    lead = word[:1] if word[:1] in "!&~" else ""
    found = (names or inventory_names)(Path(str(source)))
    head = f"{prefix}," if prefix else ""
    return [f"{head}{lead}{n}" for n in found if n.startswith(word[len(lead) :])]


def inventory_names(path: Path) -> list[str]:
    """The inventory's group names, then its host names (once each), read by the built-in
    reader (no subprocess while the user types); none on any error."""
    try:
        from toolkit.inventory.loader import InventoryOptions, read_inventory

        loaded = read_inventory(path, options=InventoryOptions(backend="builtin"), report=False)
    except Exception:  # completion never fails loudly
        return []
    inventory = loaded.inventory
    return list(dict.fromkeys([*inventory.groups, *(h.name for h in inventory.hosts)]))


def fast_completers() -> dict[Callable[..., Any], str]:
    """How the completion fast path answers each known completer: "fixed" or "limit"."""
    kinds: dict[Callable[..., Any], str] = dict.fromkeys(FIXED_COMPLETIONS, "fixed")
    kinds[complete_limit] = "limit"
    return kinds


# --- global inventory options -------------------------------------------------------------

_show_skipped = False


def set_global_options(
    *, backend: str, vault_password_files: tuple[str, ...], vault_ids: tuple[str, ...], show_skipped: bool
) -> None:
    """Apply the root options: every later inventory load uses them and reports skipped hosts."""
    from toolkit.inventory.loader import InventoryOptions, set_inventory_options

    global _show_skipped
    _show_skipped = show_skipped
    set_inventory_options(
        InventoryOptions(backend=backend, vault_password_files=vault_password_files, vault_ids=vault_ids),
        reporter=report_loaded,
    )


TRANSPORT_HELP = (
    "WinRM client: auto (the lean client, pypsrp where it does not apply or after a protocol "
    "failure), lean or pypsrp. Overrides the inventory's transport."
)

BASELINE_HELP = (
    "Judge the checks of this baseline (a shipped name, see `psfleet baseline list`, or a YAML "
    "file, see docs/baselines.md); repeatable; overrides the inventory's baselines:."
)

BACKEND_HELP = (
    "How to read Ansible inventories: 'ansible' runs ansible-inventory --list (group_vars, plugins, "
    "vault); 'builtin' reads them without Ansible and refuses what it cannot evaluate; 'auto' uses "
    "ansible-inventory when it is on PATH. Also a global option (psfleet --inventory-backend ...)."
)


def use_backend(backend: str | None) -> None:
    """A command's own ``--inventory-backend`` (None: keep the global option's)."""
    if backend is None:
        return
    from dataclasses import replace

    from toolkit.inventory.loader import inventory_options, set_inventory_options

    set_inventory_options(replace(inventory_options(), backend=backend), reporter=report_loaded)


def skipped_lines(loaded: LoadedInventory, *, show_all: bool | None = None) -> list[str]:
    """stderr lines for an inventory's warnings and skipped hosts: a count with the reasons,
    and each host when ``--show-skipped`` was given."""
    lines = [f"psfleet: warning: {warning}" for warning in loaded.warnings]
    skipped = loaded.skipped
    if skipped:
        reasons = Counter(s.reason.split(";", 1)[0] for s in skipped)
        why = "; ".join(
            f"{count} {reason}" if len(reasons) > 1 else reason for reason, count in reasons.items()
        )
        listed = _show_skipped if show_all is None else show_all
        hint = "" if listed else " (--show-skipped lists them)"
        lines.append(
            f"psfleet: skipped {len(skipped)} host{'s' if len(skipped) != 1 else ''} not on WinRM: {why}{hint}"
        )
        if listed:
            for s in skipped:
                where = f"{s.source.file}:{s.source.line}" if s.source.line else s.source.file
                lines.append(f"  skipped {s.name} ({where}): {s.reason}")
    return lines


def report_loaded(loaded: LoadedInventory) -> None:
    """Print :func:`skipped_lines` on stderr (the loader calls it for every command)."""
    from toolkit.cli.common import say

    for line in skipped_lines(loaded):
        say(line)


def reject_table_format(ctx: Any, fmt: str) -> None:
    """``--table-format`` given on the command line with another ``--format`` than table
    would be ignored: a usage error instead (exit 2)."""
    source = ctx.get_parameter_source("table_format")
    if fmt != "table" and source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
        raise no_effect("--table-format", f"with --format {fmt} (it only shapes --format table)")


def no_effect(option: str, reason: str) -> Any:
    """The usage error for an option that would be silently ignored (exit 2):
    ``psfleet: error: OPTION: has no effect REASON``."""
    from toolkit.errors import UsageError

    return UsageError(f"has no effect {reason}", field=option)


# --- the config file --------------------------------------------------------------------------

#: Parameter sources that mean "the user said so" (click's ParameterSource names).
_USER_SOURCES = frozenset({"COMMANDLINE", "ENVIRONMENT"})


def apply_to_command(
    ctx: Any,
    values: Mapping[str, Any],
    *,
    command: str,
    keys: Mapping[str, str] | None = None,
    config: Config | None = None,
) -> dict[str, Any]:
    """``values`` (parameter name -> parsed value, as the command received them) with the
    config file's defaults (:mod:`toolkit.config`) applied where neither the command line nor
    the environment gave one; ``ctx`` is the command's click context. ``keys`` maps parameter
    names to config keys where they differ (``{"fmt": "format"}``). Config values are
    converted and checked by the option's own type (``forks`` must be >= 1...)."""
    import typer

    from toolkit.config import ConfigError, effective, load_config

    config = config if config is not None else load_config()
    keys = keys or {}
    out = dict(values)
    params = {p.name: p for p in ctx.command.params}
    for name, value in values.items():
        source = ctx.get_parameter_source(name)
        from_user = source is not None and source.name in _USER_SOURCES
        chosen = effective(value, from_user=from_user, config_value=config.get(keys.get(name, name), command))
        if chosen is value:
            continue
        param = params.get(name)
        if param is not None:
            try:  # the option's own conversion and checks (forks >= 1...)
                chosen = param.process_value(ctx, chosen)
            except typer.BadParameter as exc:
                raise ConfigError(
                    f"{chosen!r} is not valid for {keys.get(name, name)}: {exc.format_message()}",
                    file=config.path,
                    field=keys.get(name, name),
                ) from None
        out[name] = chosen
    return out
