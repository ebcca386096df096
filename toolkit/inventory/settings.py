"""Connection and policy settings shared by every inventory format.

Both the native and the Ansible readers turn their input into *layers*: ``{key: Setting}``
dictionaries in the native key space (``port``, ``auth``, ``policy.client_signing``, ...),
each value remembering the line and field it came from. :func:`merge` stacks layers (later
wins), and :func:`build_host` turns the merged layer into a :class:`Host`, running the checks
that need several settings at once (timeouts, Basic over HTTP, certificate files). Every problem
goes to a :class:`Problems` collector so that ``psfleet inventory check`` can report them all.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from toolkit.errors import InputError, InventoryError
from toolkit.inventory.model import (
    AUTH_KINDS,
    TRANSPORT_KINDS,
    Host,
    PasswordSource,
    Policy,
    SourceRef,
    Transport,
)

SCHEMES: tuple[str, ...] = ("http", "https")
SIGNING_POLICIES: tuple[str, ...] = ("required", "any")
NEGOTIATE_POLICIES: tuple[str, ...] = ("required", "disabled", "any")
POLICY_KEYS: dict[str, tuple[str, ...]] = {
    "client_signing": SIGNING_POLICIES,
    "server_signing": SIGNING_POLICIES,
    "secure_negotiate": NEGOTIATE_POLICIES,
}
PASSWORD_KEYS: tuple[str, ...] = ("password_env", "password_keyring", "password_prompt", "password_file")
PASSWORD_ADVICE = (
    "psfleet never reads passwords from an inventory; use password_env: VARIABLE, "
    "password_keyring: SERVICE or password_prompt: true"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Setting:
    """One value and where it was written (line and dotted field path)."""

    value: object
    line: int | None
    field: str


Layer = dict[str, Setting]


class Problems:
    """Collects the errors of one inventory file, without duplicates, in line order."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._errors: dict[tuple[str, int | None, str | None, str], InventoryError] = {}

    def add(
        self, message: str, line: int | None = None, field: str | None = None, *, file: str | None = None
    ) -> None:
        """Record one problem; ``file`` when it is not the inventory file itself (group_vars/...)."""
        if field is not None:  # keys come from the file: keep control characters visible
            field = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in field)
        file = file or self.file
        key = (file, line, field, message)
        if key not in self._errors:
            self._errors[key] = InventoryError(message, file=file, line=line, field=field)

    def add_input_error(self, exc: InputError) -> None:
        self.add(exc.message, exc.line, exc.field)

    def __bool__(self) -> bool:
        return bool(self._errors)

    def __len__(self) -> int:
        return len(self._errors)

    @property
    def errors(self) -> list[InventoryError]:
        return sorted(self._errors.values(), key=lambda e: e.line if e.line is not None else 0)


class BadValue(Exception):
    """A value failed its check; the message says why (without the field, added by the caller)."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(value: object) -> str:
    """A short description of a value's type, for "expected X, got Y" messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {value!r}".lower()
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def plain(value: object) -> Any:
    """Plain dict/list copies of SrcDict/SrcList trees (for Host.vars and YAML dumping)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# --- value checks: each returns the checked value or raises BadValue ------------------------
# ``lenient`` accepts strings for numbers and booleans (Ansible INI values are all strings).

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Whitespace as ``str.isspace`` knows it (``\s`` matches the same characters).
_WHITESPACE = re.compile(r"\s")


def no_control_characters(text: str) -> str:
    """``text`` unless it holds a control character (CR/LF in a ``path`` would inject HTTP
    headers into every request; no setting needs one)."""
    bad = _CONTROL.search(text)
    if bad is not None:
        raise BadValue(f"contains the control character U+{ord(bad.group()):04X}; remove it")
    return text


def as_text(value: object, lenient: bool) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
        raise BadValue(f"expected a string, got {describe(value)}")
    if not isinstance(value, str):
        if not lenient:
            raise BadValue(f"expected a string, got {describe(value)}")
        value = str(value)
    text = value.strip()
    if not text:
        raise BadValue("must not be empty")
    return no_control_characters(text)


def as_bool(value: object, lenient: bool) -> bool:
    if isinstance(value, bool):
        return value
    if lenient and isinstance(value, str | int) and str(value).strip().lower() in _TRUE | _FALSE:
        return str(value).strip().lower() in _TRUE
    raise BadValue(f"expected true or false, got {describe(value)}")


def as_port(value: object, lenient: bool) -> int:
    number: object = value
    if lenient and isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int):
        raise BadValue(f"expected a port number, got {describe(value)}")
    if not 1 <= number <= 65535:
        raise BadValue(f"port must be between 1 and 65535, got {number}")
    return number


def as_size(value: object, lenient: bool) -> int:
    """A size in bytes, at least 64 KiB (``max_response``)."""
    number: object = value
    if lenient and isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int):
        raise BadValue(f"expected a size in bytes, got {describe(value)}")
    if number < 65536:
        raise BadValue(f"must be at least 65536 bytes, got {number}")
    return number


def as_timeout(value: object, lenient: bool) -> float:
    number: object = value
    if lenient and isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = value
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise BadValue(f"expected a number of seconds, got {describe(value)}")
    if not math.isfinite(number) or number <= 0:
        raise BadValue(f"must be a positive number of seconds, got {number}")
    return float(number)


def as_choice(value: object, allowed: tuple[str, ...]) -> str:
    choice = value.strip().lower() if isinstance(value, str) else None
    if choice is None or choice not in allowed:
        raise BadValue(f"must be one of {', '.join(allowed)}; got {describe(value)}")
    return choice


def as_env_name(value: object, lenient: bool) -> str:
    name = as_text(value, lenient)
    if not _ENV_NAME.fullmatch(name):
        raise BadValue(f"{name!r} is not an environment variable name (letters, digits, underscore)")
    return name


def as_name(value: object, what: str) -> str:
    """A host or group name: a non-empty string (or integer) without whitespace or commas."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadValue(f"a {what} name must be a string, got {describe(value)}")
    if not value.strip():
        raise BadValue(f"a {what} name must not be empty")
    if "," in value or _WHITESPACE.search(value):
        raise BadValue(f"{what} name {value!r} contains whitespace or a comma")
    return no_control_characters(value)


def as_address(value: object, lenient: bool) -> str:
    """A host name or IP address; ``[::1]`` is accepted and stored as ``::1``."""
    if isinstance(value, list) and len(value) == 1:
        raise BadValue('quote IPv6 addresses, for example address: "[::1]"')
    text = as_text(value, lenient)
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1]
        try:
            ipaddress.IPv6Address(inner.split("%")[0])
        except ValueError:
            raise BadValue(f"{text!r} is not a bracketed IPv6 address") from None
        text = inner
    if _WHITESPACE.search(text):
        raise BadValue(f"address {text!r} contains whitespace")
    return text


_SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def as_site(value: object, lenient: bool) -> str:
    """A site name (the engine's queue ``psfleet.site.<name>``): letters, digits, '.', '_', '-'."""
    text = as_text(value, lenient)
    if not _SITE.fullmatch(text):
        raise BadValue(f"site {text!r}: letters, digits, '.', '_' and '-' only, at most 63")
    return text


def as_ip(value: object, lenient: bool) -> str:
    """An IPv4 or IPv6 address (``source_address``)."""
    text = as_text(value, lenient)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadValue(f"{text!r} is not an IP address") from None


# --- reading one setting into a layer --------------------------------------------------------

_PLAIN_KEYS: dict[str, Callable[[object, bool], object]] = {
    "address": as_address,
    "auth": lambda v, _lenient: as_choice(v, AUTH_KINDS),
    "scheme": lambda v, _lenient: as_choice(v, SCHEMES),
    "port": as_port,
    "smb_port": as_port,
    "username": as_text,
    "cert_validation": as_bool,
    "allow_unencrypted": as_bool,
    "connection_timeout": as_timeout,
    "operation_timeout": as_timeout,
    "read_timeout": as_timeout,
    "path": lambda v, lenient: as_text(v, lenient).strip("/") or "wsman",
    "negotiate_service": as_text,
    "negotiate_delegate": as_bool,
    "negotiate_hostname_override": as_text,
    "transport": lambda v, _lenient: as_choice(v, TRANSPORT_KINDS),
    "max_response": as_size,
    # The engine's site queue (toolkit/engine): a name, as for groups.
    "site": lambda v, lenient: as_site(v, lenient),
    "source_address": as_ip,
}
_PATH_KEYS: tuple[str, ...] = ("ca_file", "certificate_pem", "certificate_key_pem")

#: Every key accepted in defaults, group vars and hosts (besides host-only keys).
SETTING_KEYS: tuple[str, ...] = (
    *_PLAIN_KEYS,
    *_PATH_KEYS,
    "ssl",
    *PASSWORD_KEYS,
    "policy",
    "baselines",
)


def read_setting(
    layer: Layer,
    key: str,
    value: object,
    line: int | None,
    field: str,
    problems: Problems,
    *,
    base_dir: Path,
    lenient: bool = False,
) -> bool:
    """Check one native ``key: value`` and store it in ``layer``. False if the key is unknown.

    ``field`` is the dotted path shown in errors. Relative file paths are resolved against
    ``base_dir`` (the inventory's folder) so that the inventory works from any directory.
    """
    try:
        if key in _PLAIN_KEYS:
            layer[key] = Setting(_PLAIN_KEYS[key](value, lenient), line, field)
        elif key in _PATH_KEYS:
            text = as_text(value, lenient)
            layer[key] = Setting(str(base_dir / Path(text).expanduser()), line, field)
        elif key == "ssl":
            scheme = "https" if as_bool(value, lenient) else "http"
            previous = layer.get("scheme")
            if previous is not None and previous.value != scheme:
                raise BadValue(f"contradicts scheme: {previous.value} (line {previous.line}); set only one")
            layer["scheme"] = Setting(scheme, line, field)
        elif key in PASSWORD_KEYS:
            _read_password(layer, key, value, line, field, lenient)
        elif key == "password":
            raise BadValue(PASSWORD_ADVICE)
        elif key == "policy":
            _read_policy(layer, value, line, field, problems, lenient)
        elif key == "baselines":
            layer["baselines"] = Setting(_read_baselines(value, base_dir), line, field)
        else:
            return False
    except BadValue as exc:
        problems.add(str(exc), line, field)
    return True


def _read_password(
    layer: Layer, key: str, value: object, line: int | None, field: str, lenient: bool
) -> None:
    previous = layer.get("password")
    if previous is not None:
        raise BadValue(
            f"the password source is already set by {previous.field} (line {previous.line}); set only one"
        )
    if key == "password_env":
        source = PasswordSource("env", as_env_name(value, lenient))
    elif key == "password_keyring":
        source = PasswordSource("keyring", as_text(value, lenient))
    elif key == "password_file":
        source = PasswordSource("file", as_text(value, lenient))
    else:
        # password_prompt: false says "no password" explicitly (Kerberos, certificates).
        source = PasswordSource("prompt") if as_bool(value, lenient) else PasswordSource("none")
    layer["password"] = Setting(source, line, field)


def _read_policy(
    layer: Layer, value: object, line: int | None, field: str, problems: Problems, lenient: bool
) -> None:
    if not isinstance(value, dict):
        raise BadValue(f"expected a mapping of {', '.join(POLICY_KEYS)}, got {describe(value)}")
    for key, item in value.items():
        key_line = value.line_of(key) if hasattr(value, "line_of") else line
        sub = f"{field}.{key}"
        if key not in POLICY_KEYS:
            if not read_check_policy(layer, str(key), item, key_line, sub, problems):
                problems.add(f"unknown policy key {key!r}{suggest(str(key), POLICY_KEYS)}", key_line, sub)
            continue
        read_policy_value(layer, str(key), item, key_line, sub, problems)


def read_check_policy(
    layer: Layer, key: str, value: object, line: int | None, field: str, problems: Problems
) -> bool:
    """Store the desired state of baseline check ``key`` as ``policy.<key>``; False when no
    shipped baseline, nor one this mapping's ``baselines:`` names, has that check."""
    states = _baseline_states(key, layer)
    if states is None:
        return False
    try:
        layer[f"policy.{key}"] = Setting(as_choice(value, states), line, field)
    except BadValue as exc:
        problems.add(str(exc), line, field)
    return True


def _read_baselines(value: object, base_dir: Path) -> tuple[str, ...]:
    """``baselines:``: shipped names or files (relative to the inventory), each loaded and
    validated now (docs/baselines.md)."""
    from toolkit.baselines.loader import resolve, shipped_names

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise BadValue(f"expected a list of baseline names or files, got {describe(value)}")
    specs: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise BadValue(f"expected a baseline name or file, got {describe(item)}")
        text = item.strip()
        spec = text if text in shipped_names() else str(base_dir / Path(text).expanduser())
        try:
            resolve(spec)
        except InputError as exc:
            raise BadValue(f"baseline {text!r}: {exc.one_line()}") from None
        specs.append(spec)
    return tuple(specs)


def _baseline_states(key: str, layer: Layer) -> tuple[str, ...] | None:
    """The desired states of check ``key`` in a shipped baseline or one this mapping's
    ``baselines:`` names; None when no such check is known."""
    from toolkit.baselines.loader import resolve, shipped_names

    chosen = layer.get("baselines")
    specs = (*shipped_names(), *(chosen.value if chosen is not None else ()))  # type: ignore[misc]
    for spec in specs:
        check = resolve(str(spec)).check(key)
        if check is not None:
            return tuple(check.states)
    return None


def read_policy_value(
    layer: Layer, key: str, value: object, line: int | None, field: str, problems: Problems
) -> None:
    """Store one policy key (``client_signing``...) as ``policy.<key>``: policies merge key by key."""
    try:
        layer[f"policy.{key}"] = Setting(as_choice(value, POLICY_KEYS[key]), line, field)
    except BadValue as exc:
        problems.add(str(exc), line, field)


# --- merging and building hosts --------------------------------------------------------------


def merge(layers: Iterable[Mapping[str, Setting]]) -> Layer:
    """Stack layers from weakest to strongest: a later layer's key replaces an earlier one."""
    out: Layer = {}
    for layer in layers:
        out.update(layer)
    return out


#: Layer keys that are :class:`Transport` fields of the same name (defaults come from the model).
_TRANSPORT_KEYS: tuple[str, ...] = tuple(item.name for item in fields(Transport))


def _default_address(name: str) -> str:
    """The host name, without brackets if it is a bracketed IPv6 literal (``[::1]`` -> ``::1``)."""
    if name.startswith("[") and name.endswith("]"):
        try:
            return as_address(name, False)
        except BadValue:
            pass
    return name


def build_host(
    name: str,
    merged: Layer,
    *,
    groups: tuple[str, ...],
    source: SourceRef,
    problems: Problems,
    host_vars: Mapping[str, object] | None = None,
) -> Host | None:
    """Turn a host's merged settings into a :class:`Host`, or None after reporting problems.

    With no scheme given a host uses http (the native format's default); Ansible's plugins
    set their own defaults in the layer first (:mod:`toolkit.inventory.ansible_hosts`).
    """
    before = len(problems)
    given: dict[str, Any] = {key: setting.value for key, setting in merged.items()}
    transport = Transport(**{key: given[key] for key in _TRANSPORT_KEYS if key in given})
    if transport.read_timeout <= transport.operation_timeout:
        where = merged.get("read_timeout") or merged["operation_timeout"]
        problems.add(
            f"read_timeout ({transport.read_timeout:g}) must be greater than operation_timeout "
            f"({transport.operation_timeout:g}); pypsrp requires it",
            where.line,
            where.field,
        )
    auth = transport.auth
    if auth in ("basic", "certificate") and transport.scheme == "http" and not transport.allow_unencrypted:
        where = merged["auth"]
        problems.add(
            f"{auth} authentication over http is not encrypted; use https "
            "or set allow_unencrypted: true if you accept that",
            where.line,
            where.field,
        )
    if auth == "certificate":
        missing = [k for k in ("certificate_pem", "certificate_key_pem") if k not in merged]
        if missing:
            where = merged["auth"]
            problems.add(f"certificate authentication needs {' and '.join(missing)}", where.line, where.field)
    if len(problems) != before:
        return None
    policy = Policy(
        **{key: given[f"policy.{key}"] for key in POLICY_KEYS if f"policy.{key}" in given},
        checks={
            key.removeprefix("policy."): value
            for key, value in given.items()
            if key.startswith("policy.") and key.removeprefix("policy.") not in POLICY_KEYS
        },
    )
    return Host(
        name=name,
        address=given.get("address", _default_address(name)),
        transport=transport,
        policy=policy,
        groups=groups,
        source=source,
        vars=dict(host_vars or {}),
        **{
            key: given[key]
            for key in ("username", "password", "smb_port", "site", "baselines")
            if key in given
        },
    )


# --- group graphs -------------------------------------------------------------------------------


def creates_cycle(parent: str, child: str, parents: Mapping[str, list[str]]) -> bool:
    """True if making ``child`` a child of ``parent`` closes a cycle (child is parent or above it)."""
    seen: set[str] = set()
    stack = [parent]
    while stack:
        current = stack.pop()
        if current == child:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(parents.get(current, ()))
    return False


def group_depths(parents: Mapping[str, list[str]]) -> dict[str, int]:
    """Depth of each group: 0 without parents, else one more than its deepest parent."""
    memo: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in memo:
            memo[name] = 0  # a cycle was already reported; this only stops the recursion
            memo[name] = max((depth(p) + 1 for p in parents.get(name, ())), default=0)
        return memo[name]

    return {name: depth(name) for name in parents}


def with_ancestors(groups: Iterable[str], parents: Mapping[str, list[str]]) -> set[str]:
    """The groups and all their parents, grandparents..."""
    out: set[str] = set()
    stack = list(groups)
    while stack:
        name = stack.pop()
        if name not in out:
            out.add(name)
            stack.extend(parents.get(name, ()))
    return out
