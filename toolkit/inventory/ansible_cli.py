"""The ``ansible`` inventory backend: ansible-core reads the inventory, as AWX does.

``ansible-inventory -i SOURCE --list`` runs as a subprocess (no import of Ansible's code), so
group_vars/host_vars, directories, inventory plugins (constructed, cloud and AD inventories)
and vault come with it. Its JSON (``_meta.hostvars`` and each group's ``hosts``/``children``)
becomes an :class:`~toolkit.inventory.ansible.AnsibleView`, then psfleet hosts as with the
built-in reader.

Vault: ``--vault-password-file``, ``--vault-id`` and ``ANSIBLE_VAULT_PASSWORD_FILE`` are
passed to ansible-core. ``ansible-inventory --list`` prints vaulted values still encrypted;
an ``ansible_password`` among them is decrypted by ``ansible-vault decrypt`` reading the
ciphertext on stdin and writing the password to a pipe (never argv, never a file).

Bounds: each subprocess gets :data:`TIMEOUT` seconds and at most :data:`MAX_OUTPUT` bytes of
output; stderr is cut to its last line for the error message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import InventoryError
from toolkit.inventory.ansible import AnsibleView, Var
from toolkit.inventory.model import SourceRef
from toolkit.inventory.vault_yaml import Unsafe, Vaulted

TIMEOUT = 120.0
MAX_OUTPUT = 64 * 1024 * 1024
COMMAND = "ansible-inventory"


@dataclass(frozen=True)
class VaultOptions:
    """Vault secrets for ansible-core: password files and ``--vault-id`` values
    (``label@file``). ``ANSIBLE_VAULT_PASSWORD_FILE`` is read by ansible-core itself."""

    password_files: tuple[str, ...] = ()
    vault_ids: tuple[str, ...] = ()

    def args(self) -> list[str]:
        out: list[str] = []
        for path in self.password_files:
            out += ["--vault-password-file", path]
        for vault_id in self.vault_ids:
            out += ["--vault-id", vault_id]
        return out


def find_ansible_inventory() -> str | None:
    """The ``ansible-inventory`` on PATH, or None."""
    return shutil.which(COMMAND)


def _run(cmd: Sequence[str], *, stdin: str | None, what: str, source: str) -> str:
    """Run a bounded subprocess; its stdout, or :class:`InventoryError` with stderr's last line."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                list(cmd),
                input=stdin.encode() if stdin is not None else None,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=TIMEOUT,
                check=False,
                # An inventory source Ansible cannot parse is an error, not an empty inventory.
                env={
                    **os.environ,
                    "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_FORCE_COLOR": "0",
                    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
                },
            )
        except subprocess.TimeoutExpired:
            raise InventoryError(f"{what} did not answer within {TIMEOUT:g} s", file=source) from None
        except OSError as exc:
            raise InventoryError(f"cannot run {what}: {exc.strerror}", file=source) from None
        if out.tell() > MAX_OUTPUT:
            raise InventoryError(f"{what} wrote more than {MAX_OUTPUT // (1024 * 1024)} MiB", file=source)
        err.seek(max(0, err.tell() - 8192))
        messages = [line.strip() for line in err.read().decode(errors="replace").splitlines() if line.strip()]
        if proc.returncode != 0:
            # The plugin's own words ("Failed to parse ... with 'ini' plugin: ...") say more
            # than the closing "[ERROR]: No inventory was parsed".
            cause = next((m for m in messages if "Failed to parse" in m), None)
            last = cause or next(
                (m for m in reversed(messages) if "ERROR" in m), messages[-1] if messages else ""
            )
            last = last.removeprefix("[WARNING]: ").removeprefix("[ERROR]: ").removeprefix("ERROR! ")
            raise InventoryError(f"{what} failed (exit {proc.returncode}): {last}", file=source)
        out.seek(0)
        return out.read().decode("utf-8", errors="replace")


def read_with_ansible(
    source: str | Path, *, executable: str | None = None, vault: VaultOptions = VaultOptions()
) -> AnsibleView:
    """Run ``ansible-inventory --list`` on ``source`` and return its answer as a view.

    Raises :class:`InventoryError` when ansible-inventory is missing, fails, times out or
    answers with something that is not its JSON."""
    exe = executable or find_ansible_inventory()
    if exe is None:
        raise InventoryError(
            "ansible-inventory is not on PATH; install ansible-core or use --inventory-backend builtin",
            file=str(source),
        )
    cmd = [exe, "-i", str(source), "--list", *vault.args()]
    text = _run(cmd, stdin=None, what="ansible-inventory", source=str(source))
    try:
        data = json.loads(text)
    except ValueError:
        raise InventoryError("ansible-inventory did not answer with JSON", file=str(source)) from None
    if not isinstance(data, dict):
        raise InventoryError(
            "ansible-inventory answered with something other than a mapping", file=str(source)
        )
    return view_from_list(data, str(source))


def view_from_list(data: dict[str, object], source: str) -> AnsibleView:
    """An :class:`AnsibleView` from ``ansible-inventory --list`` JSON (variables are already
    merged by Ansible; ``{"__ansible_vault": ...}`` values become :class:`Vaulted` and
    ``{"__ansible_unsafe": ...}`` ones :class:`Unsafe`)."""
    view = AnsibleView(source=source, backend="ansible")
    meta = data.get("_meta")
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else {}
    groups: dict[str, dict[str, list[str]]] = {}
    for name, body in data.items():
        if name != "_meta" and isinstance(body, dict):
            groups[name] = {
                "hosts": [str(h) for h in body.get("hosts", []) or []],
                "children": [str(c) for c in body.get("children", []) or []],
            }
    groups.setdefault("all", {"hosts": [], "children": []})

    def members(group: str) -> list[str]:
        order, queue, seen = [], [group], {group}
        while queue:
            current = queue.pop(0)
            for host in groups.get(current, {}).get("hosts", []):
                if host not in order:
                    order.append(host)
            for child in groups.get(current, {}).get("children", []):
                if child not in seen:
                    seen.add(child)
                    queue.append(child)
        return order

    all_hosts = members("all")
    for name in hostvars if isinstance(hostvars, dict) else {}:
        if name not in all_hosts:
            all_hosts.append(name)
    parents: dict[str, set[str]] = {}
    for group, body in groups.items():
        for child in body["children"]:
            parents.setdefault(child, set()).add(group)
    for host in all_hosts:
        raw = hostvars.get(host, {}) if isinstance(hostvars, dict) else {}
        view.hosts[host] = SourceRef(source, None)
        view.hostvars[host] = {
            key: Var(_value(value), source, None, f"{host}.{key}") for key, value in (raw or {}).items()
        }
        direct = {g for g, body in groups.items() if host in body["hosts"]}
        stack, found = list(direct), set()
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(parents.get(current, ()))
        view.member_of[host] = tuple(g for g in groups if g in found and g not in ("all", "ungrouped"))
    for group in groups:
        view.groups[group] = tuple(members(group))
    view.groups["all"] = tuple(all_hosts)
    return view


def _value(value: object) -> object:
    """``value`` with the tags ``--list`` prints, at any depth (ansible-core 2.19 prints a
    vaulted or ``!unsafe`` item inside a list or mapping as it does a whole variable):
    ``{"__ansible_vault": ciphertext}`` as :class:`Vaulted` and ``{"__ansible_unsafe": text}``
    as :class:`Unsafe`, as the built-in reader has them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_vault"}:
            return Vaulted(str(value["__ansible_vault"]))
        if set(value) == {"__ansible_unsafe"}:
            return Unsafe(str(value["__ansible_unsafe"]))
        return {key: _value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_value(item) for item in value]
    return value


def vault_decrypter(
    source: str | Path, *, executable: str | None = None, vault: VaultOptions = VaultOptions()
) -> object:
    """A ``decrypt(vaulted, var) -> str`` using ``ansible-vault decrypt`` beside
    ``ansible-inventory`` (the ciphertext on stdin, the password from stdout)."""
    exe = executable or find_ansible_inventory() or COMMAND
    vault_exe = str(Path(exe).with_name("ansible-vault"))

    def decrypt(value: Vaulted, var: Var) -> str:
        cmd = [vault_exe, "decrypt", "--output", "-", *vault.args(), "-"]
        try:
            text = _run(cmd, stdin=value.ciphertext, what="ansible-vault", source=str(source))
        except InventoryError as exc:
            raise InventoryError(
                f"cannot decrypt {var.field.split('.')[-1]}: {exc.message}", file=str(source), field=var.field
            ) from None
        return text.rstrip("\r\n")

    return decrypt
