"""Ansible host variables -> psfleet hosts, the way Ansible's connection plugins read them.

A host is a target when its ``ansible_connection`` is ``winrm`` or ``psrp`` (any collection
prefix, ``ansible.builtin.psrp``). Without the variable Ansible uses ssh, so such hosts are
skipped like ``ssh``, ``local`` or ``network_cli`` ones: returned with the reason, not errors.

Each plugin reads only its own variables (its ``vars:`` list; the last one listed wins):

* winrm: address ``ansible_winrm_host`` > ``ansible_host`` > the inventory name; user
  ``ansible_winrm_user`` > ``ansible_user``; port ``ansible_winrm_port`` > ``ansible_port`` >
  5986; scheme ``ansible_winrm_scheme``, else http on port 5985 and https otherwise;
  ``ansible_winrm_transport`` (``ssl``/``plaintext`` are Basic; a list of Kerberos/NTLM is
  Negotiate), else, as Ansible decides, Kerberos for a ``user@REALM`` username and Basic
  otherwise; ``ansible_winrm_server_cert_validation`` ``validate`` (the default) or
  ``ignore``; ``ansible_winrm_ca_trust_path``; ``ansible_winrm_connection_timeout`` sets the
  operation timeout and the read timeout 10 s above it (else ``..._operation_timeout_sec``,
  ``..._read_timeout_sec``); password ``ansible_winrm_password`` > ``ansible_winrm_pass`` >
  ``ansible_password``.
* psrp: address ``ansible_psrp_host`` > ``ansible_host``; user ``ansible_psrp_user`` >
  ``ansible_user``; port and ``ansible_psrp_protocol`` (https on 5986 when neither is set;
  http only on port 5985 or when asked); ``ansible_psrp_auth`` (default negotiate);
  ``ansible_psrp_cert_validation`` ``validate``/``ignore``; ``ansible_psrp_ca_cert`` >
  ``ansible_psrp_cert_trust_path``; the psrp timeouts; password as the plugin reads it
  (``ansible_winrm_password`` > ``ansible_winrm_pass`` > ``ansible_password``).

``psfleet_<key>`` gives any native key (``psfleet_password_env=VAR``, ``psfleet_smb_port``)
and ``psfleet_policy_<key>``/``psfleet_<key>`` a policy key. An ``ansible_password`` (plain
or, with the ansible backend, vaulted) is used as the password and never shown; a
``{{ lookup('env', 'VAR') }}`` becomes ``password_env: VAR``. Other Jinja templates in the
variables psfleet uses are refused: neither ``ansible-inventory --list`` nor psfleet
evaluates them. A ``!unsafe`` value is never a template (Ansible never renders it): it is
taken as written, braces included, by both backends.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.inventory.ansible import USE_ANSIBLE, AnsibleView, Var
from toolkit.inventory.model import AUTH_KINDS, Host, Inventory, PasswordSource, SourceRef
from toolkit.inventory.settings import (
    PASSWORD_KEYS,
    POLICY_KEYS,
    SETTING_KEYS,
    BadValue,
    Layer,
    Problems,
    Setting,
    as_choice,
    build_host,
    describe,
    plain,
    read_check_policy,
    read_policy_value,
    read_setting,
    suggest,
)
from toolkit.inventory.vault_yaml import Unsafe, Vaulted

CONNECTIONS: tuple[str, ...] = ("winrm", "psrp")

#: Per plugin: native key -> the Ansible variables that set it, weakest first.
WINRM_VARIABLES: dict[str, tuple[str, ...]] = {
    "address": ("ansible_host", "ansible_winrm_host"),
    "username": ("ansible_user", "ansible_winrm_user"),
    "port": ("ansible_port", "ansible_winrm_port"),
    "scheme": ("ansible_winrm_scheme",),
    "path": ("ansible_winrm_path",),
    "auth": ("ansible_winrm_transport",),
    "cert_validation": ("ansible_winrm_server_cert_validation",),
    "ca_file": ("ansible_winrm_ca_trust_path",),
    "operation_timeout": ("ansible_winrm_operation_timeout_sec",),
    "read_timeout": ("ansible_winrm_read_timeout_sec",),
    "connection_timeout": ("ansible_winrm_connection_timeout",),
    "negotiate_service": ("ansible_winrm_service",),
    "negotiate_delegate": ("ansible_winrm_kerberos_delegation",),
    "negotiate_hostname_override": ("ansible_winrm_kerberos_hostname_override",),
    "certificate_pem": ("ansible_winrm_cert_pem",),
    "certificate_key_pem": ("ansible_winrm_cert_key_pem",),
    "password": ("ansible_password", "ansible_winrm_pass", "ansible_winrm_password"),
}
PSRP_VARIABLES: dict[str, tuple[str, ...]] = {
    "address": ("ansible_host", "ansible_psrp_host"),
    "username": ("ansible_user", "ansible_psrp_user"),
    "port": ("ansible_port", "ansible_psrp_port"),
    "scheme": ("ansible_psrp_protocol",),
    "path": ("ansible_psrp_path",),
    "auth": ("ansible_psrp_auth",),
    "cert_validation": ("ansible_psrp_cert_validation",),
    "ca_file": ("ansible_psrp_cert_trust_path", "ansible_psrp_ca_cert"),
    "operation_timeout": ("ansible_psrp_operation_timeout",),
    "read_timeout": ("ansible_psrp_read_timeout",),
    "connection_timeout": ("ansible_psrp_connection_timeout",),
    "negotiate_service": ("ansible_psrp_negotiate_service",),
    "negotiate_delegate": ("ansible_psrp_negotiate_delegate",),
    "negotiate_hostname_override": ("ansible_psrp_negotiate_hostname_override",),
    "certificate_pem": ("ansible_psrp_certificate_pem",),
    "certificate_key_pem": ("ansible_psrp_certificate_key_pem",),
    "password": ("ansible_password", "ansible_winrm_pass", "ansible_winrm_password"),
}
PLUGIN_VARIABLES = {"winrm": WINRM_VARIABLES, "psrp": PSRP_VARIABLES}
#: pywinrm transport names -> psfleet auth (``ssl`` and ``plaintext`` are Basic).
_WINRM_TRANSPORTS = {**{k: k for k in AUTH_KINDS}, "ssl": "basic", "plaintext": "basic"}
_ENV_LOOKUP = re.compile(
    r"""\{\{\s*lookup\(\s*['"](?:ansible\.builtin\.)?env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}"""
)
_CERT_CHOICES = ("validate", "ignore")


@dataclass(frozen=True)
class SkippedHost:
    """A host left out on purpose (not an error): Ansible would not reach it over WinRM."""

    name: str
    reason: str
    source: SourceRef


#: Decrypts an Ansible Vault value (the ansible backend gives one; the built-in reader None).
Decrypt = Callable[[Vaulted, Var], str]


def connection_of(hostvars: dict[str, Var]) -> str:
    """The connection plugin's short name (``ssh`` when the host sets none, as Ansible)."""
    var = hostvars.get("ansible_connection")
    if var is None or var.value is None:
        return "ssh"
    return str(var.value).strip().lower().rsplit(".", 1)[-1]


def _is_template(value: object) -> bool:
    # Ansible never templates an !unsafe value: its braces are part of the text.
    return isinstance(value, str) and not isinstance(value, Unsafe) and ("{{" in value or "{%" in value)


def _chosen(hostvars: dict[str, Var], names: tuple[str, ...]) -> Var | None:
    for name in reversed(names):
        if name in hostvars:
            return hostvars[name]
    return None


def map_host(
    name: str,
    hostvars: dict[str, Var],
    *,
    source: SourceRef,
    groups: tuple[str, ...],
    problems: Problems,
    backend: str,
    decrypt: Decrypt | None = None,
) -> Host | None:
    """The psfleet host for one WinRM/PSRP host's effective Ansible variables (None after
    reporting problems)."""
    plugin = connection_of(hostvars)
    table = PLUGIN_VARIABLES[plugin]
    layer: Layer = {}
    used: set[str] = {"ansible_connection"}
    for key, names in table.items():
        used.update(names)
        var = _chosen(hostvars, names)
        if var is None:
            continue
        if isinstance(var.value, Vaulted):
            if decrypt is None or key != "password":
                what = "Ansible Vault value" if decrypt is None else "Ansible Vault value outside a password"
                problems.add(
                    f"{what}: the {backend} reader cannot use it; " + USE_ANSIBLE,
                    var.line,
                    var.field,
                    file=var.file,
                )
                continue
        elif _is_template(var.value) and not (
            key == "password" and _ENV_LOOKUP.fullmatch(str(var.value).strip())
        ):
            # Ansible renders templates only when it connects: ansible-inventory --list (the
            # ansible backend) shows them as written, so no backend can read this value.
            problems.add(
                f"Jinja template {describe(var.value)}: neither psfleet's readers nor ansible-inventory "
                "evaluate templates (Ansible renders them when it connects); write the value itself",
                var.line,
                var.field,
                file=var.file,
            )
            continue
        _map_one(layer, key, var, plugin, problems, decrypt)
    extra: dict[str, object] = {}
    for var_name, var in hostvars.items():
        if var_name.startswith("psfleet_"):
            if _is_template(var.value):
                problems.add("Jinja template: write the value itself", var.line, var.field, file=var.file)
                continue
            if var_name.removeprefix("psfleet_") in PASSWORD_KEYS:
                layer.pop("password", None)  # psfleet's own password source beats ansible_password
            _map_psfleet(layer, var_name, var, problems)
        elif var_name not in used and not isinstance(var.value, Vaulted):
            extra[var_name] = plain(var.value)
    _plugin_defaults(layer, plugin, name, source.line)
    return build_host(name, layer, groups=groups, source=source, problems=problems, host_vars=extra)


def _base_dir(var: Var) -> Path:
    return Path(var.file).resolve().parent


def _map_one(
    layer: Layer, key: str, var: Var, plugin: str, problems: Problems, decrypt: Decrypt | None
) -> None:
    value, where = var.value, var.field
    try:
        if key == "password":
            _map_password(layer, var, problems, decrypt)
        elif key == "auth" and plugin == "winrm":
            layer["auth"] = Setting(winrm_transport(value), var.line, where)
        elif key == "cert_validation":
            if not isinstance(value, str):  # Ansible refuses booleans here too
                raise BadValue(f"must be one of validate, ignore; got {describe(value)}")
            choice = as_choice(value, _CERT_CHOICES)
            layer["cert_validation"] = Setting(choice == "validate", var.line, where)
        elif key == "connection_timeout" and plugin == "winrm":
            # Ansible's winrm plugin sets pywinrm's operation timeout to it, read timeout +10 s.
            read_setting(
                layer,
                "operation_timeout",
                value,
                var.line,
                where,
                problems,
                base_dir=_base_dir(var),
                lenient=True,
            )
            if "operation_timeout" in layer:
                seconds = float(str(layer["operation_timeout"].value))
                layer["read_timeout"] = Setting(seconds + 10, var.line, where)
        else:
            read_setting(layer, key, value, var.line, where, problems, base_dir=_base_dir(var), lenient=True)
    except BadValue as exc:
        problems.add(str(exc), var.line, where, file=var.file)


def _map_password(layer: Layer, var: Var, problems: Problems, decrypt: Decrypt | None) -> None:
    value = var.value
    lookup = _ENV_LOOKUP.fullmatch(str(value).strip()) if _is_template(value) else None
    if lookup is not None:
        layer["password"] = Setting(PasswordSource("env", lookup.group(1)), var.line, var.field)
        return
    if isinstance(value, Vaulted):
        assert decrypt is not None
        secret = decrypt(value, var)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        secret = str(value)
    else:
        raise BadValue(f"expected a password string, got {describe(value)}")
    ref = f"{var.file}:{var.line}" if var.line is not None else var.file
    layer["password"] = Setting(PasswordSource("inventory", ref, secret), var.line, var.field)


def winrm_transport(value: object) -> str:
    """``ansible_winrm_transport`` (a list or comma-separated text) as one psfleet auth."""
    items = value if isinstance(value, list) else str(value).split(",")
    kinds = [_WINRM_TRANSPORTS.get(str(item).strip().lower(), "") for item in items]
    if "" in kinds or not kinds:
        raise BadValue(f"must be one of {', '.join(_WINRM_TRANSPORTS)}; got {describe(value)}")
    if len(set(kinds)) == 1:
        return kinds[0]
    if set(kinds) <= {"kerberos", "ntlm", "negotiate"}:
        return "negotiate"  # "try Kerberos, then NTLM" is what Negotiate does
    raise BadValue("psfleet uses one authentication protocol per host; give one transport")


def _plugin_defaults(layer: Layer, plugin: str, name: str, line: int | None) -> None:
    """What each plugin does when a variable is not set (see the module docstring)."""
    port = layer.get("port")
    scheme = layer.get("scheme")
    if plugin == "winrm":
        if port is None:
            layer["port"] = port = Setting(5986, None, "ansible_port")
        if scheme is None:
            layer["scheme"] = Setting("http" if port.value == 5985 else "https", None, "ansible_winrm_scheme")
        if "auth" not in layer:
            user = layer.get("username")
            realm = user is not None and "@" in str(user.value)
            # Named so that "basic over http" points at the variable to set on this host.
            where = f"{name}.ansible_winrm_transport (not set; winrm's default is {'kerberos' if realm else 'basic'})"
            layer["auth"] = Setting("kerberos" if realm else "basic", line, where)
    else:
        if scheme is None:
            text = "https" if port is None or port.value != 5985 else "http"
            layer["scheme"] = scheme = Setting(text, None, "ansible_psrp_protocol")
        if port is None:
            layer["port"] = Setting(5986 if scheme.value == "https" else 5985, None, "ansible_port")


def _map_psfleet(layer: Layer, name: str, var: Var, problems: Problems) -> None:
    key = name.removeprefix("psfleet_")
    policy_key = key.removeprefix("policy_")
    if policy_key in POLICY_KEYS:
        read_policy_value(layer, policy_key, var.value, var.line, var.field, problems)
    elif key in SETTING_KEYS:
        read_setting(
            layer, key, var.value, var.line, var.field, problems, base_dir=_base_dir(var), lenient=True
        )
    elif read_check_policy(layer, policy_key, var.value, var.line, var.field, problems):
        pass  # psfleet_policy_<check id of a baseline>: its desired state
    else:
        known = [f"psfleet_{k}" for k in (*SETTING_KEYS, *POLICY_KEYS)]
        problems.add(
            f"unknown psfleet variable {name!r}{suggest(name, known)}", var.line, var.field, file=var.file
        )


def readable_by_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False


def to_inventory(
    view: AnsibleView, problems: Problems, *, decrypt: Decrypt | None = None
) -> tuple[Inventory | None, list[SkippedHost], list[str]]:
    """The WinRM/PSRP hosts of ``view`` as an :class:`Inventory` (None if problems were
    reported), the hosts skipped with reasons, and warnings (one line each)."""
    hosts: list[Host] = []
    skipped: list[SkippedHost] = []
    warnings: list[str] = []
    plain_password_files: set[str] = set()
    for name, source in view.hosts.items():
        hostvars = view.hostvars[name]
        plugin = connection_of(hostvars)
        if plugin not in CONNECTIONS:
            var = hostvars.get("ansible_connection")
            given = (
                f"ansible_connection is {plugin}"
                if var is not None
                else "no ansible_connection (Ansible uses ssh)"
            )
            skipped.append(SkippedHost(name, f"{given}; psfleet reaches hosts over winrm or psrp", source))
            continue
        made = map_host(
            name,
            hostvars,
            source=source,
            groups=view.member_of.get(name, ()),
            problems=problems,
            backend=view.backend,
            decrypt=decrypt,
        )
        if made is None:
            continue
        hosts.append(made)
        password = _chosen(hostvars, PLUGIN_VARIABLES[plugin]["password"])
        plain_text = password is not None and isinstance(password.value, str) and password.line is not None
        if made.password.kind == "inventory" and plain_text and readable_by_others(password.file):  # type: ignore[union-attr]
            plain_password_files.add(password.file)  # type: ignore[union-attr]
    for file in sorted(plain_password_files):
        warnings.append(
            f"{file} holds a plain ansible_password and is readable by group or others; "
            "chmod 600 it or encrypt the value with ansible-vault"
        )
    if problems:
        return None, skipped, warnings
    names = {h.name for h in hosts}
    groups = {
        g: tuple(h for h in members if h in names)
        for g, members in view.groups.items()
        if g not in ("all", "ungrouped")
    }
    order = {g: members for g, members in view.groups.items()}
    return (
        Inventory(hosts=tuple(hosts), groups=groups, source=view.source, ansible_groups=order),
        skipped,
        warnings,
    )
