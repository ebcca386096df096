"""An in-process lab fleet plus a native inventory (with per-host policies) for remediation tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.inventory.credentials import Credential
from toolkit.inventory.loader import load_inventory
from toolkit.inventory.model import Inventory
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
ADMIN = ("admin", "Adm1n-P@ss-lab")
READER = ("reader", "Read3r-P@ss-lab")

USERS = f"""users:
  - {{name: {ADMIN[0]}, password: '{ADMIN[1]}', admin: true}}
  - {{name: {READER[0]}, password: '{READER[1]}', admin: false}}
"""

#: (key, value name) of the three managed settings.
MANAGED = {
    "secure_negotiate": (WS, "RequireSecureNegotiate"),
    "client_signing": (WS, "RequireSecuritySignature"),
    "server_signing": (SRV, "RequireSecuritySignature"),
}


@dataclass
class Lab:
    fleet: Fleet
    inventory_path: Path
    inventory: Inventory
    user: tuple[str, str]

    @property
    def credentials(self) -> dict[str, Credential]:
        return {h.name: Credential(self.user[0], self.user[1]) for h in self.inventory.hosts}

    def value(self, host: str, setting: str) -> tuple[str, Any] | None:
        key, name = MANAGED[setting]
        return self.fleet.sim(host).registry.get_value(key, name)

    def state(self) -> dict[str, dict[str, tuple[str, Any] | None]]:
        """Every managed value of every host, as the lab holds it."""
        return {h.name: {s: self.value(h.name, s) for s in MANAGED} for h in self.fleet.hosts}


def write_inventory(
    fleet: Fleet, path: Path, *, policies: Mapping[str, Mapping[str, str]], user: tuple[str, str]
) -> Path:
    secret = path.with_suffix(".password")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(user[1])
    lines = [
        "psfleet: 1",
        "defaults:",
        f"  username: {json.dumps(user[0])}",
        f"  password_file: {json.dumps(str(secret))}",
        "  auth: ntlm",
        "hosts:",
    ]
    for h in fleet.hosts:
        lines += [f"  {h.name}:", f"    address: {h.address}", f"    port: {h.port}"]
        policy = policies.get(h.name)
        if policy:
            lines.append(f"    policy: {json.dumps(dict(policy))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def lab(
    tmp_path: Path,
    hosts_yaml: str,
    *,
    policies: Mapping[str, Mapping[str, str]] | None = None,
    user: tuple[str, str] = ADMIN,
) -> Iterator[Lab]:
    """A fleet from ``hosts:`` YAML (entries indented by two spaces) and its inventory."""
    spec = loads_spec(USERS + "hosts:\n" + hosts_yaml, "<test spec>")
    with Fleet(spec, addressing="port", workdir=tmp_path / "lab") as fleet:
        path = write_inventory(fleet, tmp_path / "inventory.yml", policies=policies or {}, user=user)
        yield Lab(fleet, path, load_inventory(path), user)
