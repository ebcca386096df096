"""Running psfleet in-process and writing inventories/lab fleets for the SMB CLI tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolkit.lab.fleet import Fleet

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"


def write_probe_inventory(path: Path, ports: Mapping[str, int]) -> Path:
    """A native inventory of hosts at 127.0.0.1 with the given SMB ports."""
    lines = ["psfleet: 1", "hosts:"]
    for name, port in ports.items():
        lines += [f"  {name}:", "    address: 127.0.0.1", f"    smb_port: {port}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_fleet_inventory(fleet: Fleet, path: Path, smb_ports: Mapping[str, int]) -> Path:
    """The fleet's own inventory, with the named hosts' ``smb_port`` (the lab's own SMB
    responder's port) replaced by the given one."""
    fleet.write_inventory(path)
    out: list[str] = []
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("smb_port:") and current in smb_ports:
            continue
        out.append(line)
        if line.startswith("  ") and not line.startswith("    ") and stripped.endswith(":"):
            current = json.loads(stripped[:-1]) if stripped.startswith('"') else stripped[:-1]
        if stripped.startswith("address:") and current in smb_ports:
            out.append(f"    smb_port: {smb_ports[current]}")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def hosts_by_name(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in doc["hosts"]}
