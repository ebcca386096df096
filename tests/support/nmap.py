"""nmap's smb2-security-mode as a reference peer: run it, read its XML output.

Tests that compare psfleet's wording with nmap's skip when nmap is not installed
(``apt-get install -y nmap``; scripts/install_deps.sh installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

INSTALL_HINT = "apt-get install -y nmap"

#: nmap names dialects "3.1.1" (current source), "311" (7.80-7.94) or "3:1:1" (older).
_DIALECTS = {
    "202": "2.0.2",
    "210": "2.1",
    "21": "2.1",
    "300": "3.0",
    "30": "3.0",
    "302": "3.0.2",
    "311": "3.1.1",
}


def find_nmap() -> str | None:
    return shutil.which("nmap")


def dialect_from_nmap(key: str) -> str:
    digits = key.replace(":", "").replace(".", "")
    return _DIALECTS.get(digits, key)


@dataclass(frozen=True)
class NmapSigning:
    dialect: str
    text: str


def parse_smb2_security_mode(xml_text: str) -> dict[str, NmapSigning]:
    """address -> what smb2-security-mode printed (hosts without the script's output left out)."""
    out: dict[str, NmapSigning] = {}
    for host in ET.fromstring(xml_text).iter("host"):
        address = host.find("address")
        script = host.find("hostscript/script[@id='smb2-security-mode']")
        if address is None or script is None:
            continue
        table = script.find("table")
        elem = table.find("elem") if table is not None else None
        if table is None or elem is None or elem.text is None:
            continue
        out[address.get("addr", "")] = NmapSigning(dialect_from_nmap(table.get("key", "")), elem.text)
    return out


def parse_smb_protocols(xml_text: str) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """address -> (SMB1 listed, SMB2 dialects) as smb-protocols printed them."""
    out: dict[str, tuple[bool, tuple[str, ...]]] = {}
    for host in ET.fromstring(xml_text).iter("host"):
        address = host.find("address")
        script = host.find("hostscript/script[@id='smb-protocols']")
        if address is None or script is None:
            continue
        texts = [e.text or "" for e in script.iter("elem")]
        smb1 = any(t.startswith("NT LM 0.12") for t in texts)
        dialects = tuple(dialect_from_nmap(t) for t in texts if not t.startswith("NT LM"))
        out[address.get("addr", "")] = (smb1, dialects)
    return out


def nmap_command(
    targets: Sequence[str], port: int, *, target_file: str | None = None, script: str = "smb2-security-mode"
) -> list[str]:
    """``script`` (smb2-security-mode by default) over ``targets`` on ``port`` (a TCP connect
    scan, no ping, no DNS); ``target_file`` (one address a line) instead of ``targets`` for
    long lists."""
    nmap = find_nmap()
    if nmap is None:
        raise FileNotFoundError(f"nmap not installed ({INSTALL_HINT})")
    cmd = [nmap, "-Pn", "-n", "-sT", "-p", str(port), "--script", script]
    cmd += ["--script-args", f"smbport={port}", "-oX", "-"]
    return cmd + (["-iL", target_file] if target_file else list(targets))


def run_smb2_security_mode(
    targets: Sequence[str], port: int, *, timeout: float = 120
) -> dict[str, NmapSigning]:
    done = subprocess.run(
        nmap_command(targets, port), capture_output=True, text=True, timeout=timeout, check=True
    )
    return parse_smb2_security_mode(done.stdout)


def run_smb_protocols(
    targets: Sequence[str], port: int, *, timeout: float = 120
) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """smb-protocols: address -> (SMB1 listed, SMB2 dialects)."""
    argv = nmap_command(targets, port, script="smb-protocols")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)
    return parse_smb_protocols(done.stdout)
