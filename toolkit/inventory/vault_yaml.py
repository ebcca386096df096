"""YAML as Ansible writes it: ``!vault`` values kept as :class:`Vaulted`, ``!unsafe`` as
:class:`Unsafe` text, with line numbers (:mod:`toolkit.yamlsrc`).

A module of its own because every inventory file is parsed with this loader to tell the
formats apart: a native inventory then does not import the Ansible reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from toolkit.yamlsrc import loads


@dataclass(frozen=True)
class Vaulted:
    """An Ansible Vault ``!vault`` value: the ciphertext, never decrypted by psfleet itself."""

    ciphertext: str = field(repr=False)


class Unsafe(str):
    """An Ansible ``!unsafe`` value: text Ansible never templates, so psfleet takes it as written
    (``{{`` in such a password is part of the password). A ``str`` in every other way; the type
    says where the text came from, which the text itself cannot."""

    __slots__ = ()


class VaultLoader(yaml.SafeLoader):
    """SafeLoader that keeps ``!vault`` values (as :class:`Vaulted`) and ``!unsafe`` text (as
    :class:`Unsafe`)."""


VaultLoader.add_constructor(
    "!vault",
    lambda loader, node: Vaulted(str(loader.construct_scalar(node))),  # type: ignore[arg-type]
)
VaultLoader.add_constructor(
    "!unsafe",
    lambda loader, node: Unsafe(loader.construct_scalar(node)),  # type: ignore[arg-type]
)


def load_yaml(text: str, file: str) -> object:
    """YAML as Ansible writes it (``!vault``, ``!unsafe``), with line numbers."""
    return loads(text, file, loader_class=VaultLoader)
