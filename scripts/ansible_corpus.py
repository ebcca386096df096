#!/usr/bin/env python3
"""Record ansible-core's answers for the inventory corpus in tests/data/ansible/.

Each case folder holds ``case.json`` (``inventory``: the file or folder to read, ``limits``:
host patterns, optional ``vault_password_file``) and the inventory. This script runs
ansible-core on each case and writes ``recorded.json`` beside it:

* ``list``: ``ansible-inventory -i INV --list`` (groups and every host's variables);
* ``host``: ``ansible-inventory -i INV --host NAME`` for every host;
* ``limits``: ``ansible PATTERN -i INV --list-hosts`` for every pattern (sorted names; ``null``
  when Ansible refuses the pattern);
* ``ansible_core``: the version that answered.

tests/unit/inventory/test_ansible_corpus.py compares psfleet's built-in reader with these
answers (and the ``ansible`` backend with ansible-core itself, when it is installed).

Usage: ``python3 scripts/ansible_corpus.py [--bin DIR] [CASE ...]``. DIR holds
``ansible-inventory`` and ``ansible`` (default: from PATH, else /opt/ansible-venv/bin, where
scripts/install_deps.sh installs ansible-core in its own virtual environment).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "ansible"
DEFAULT_BIN = Path("/opt/ansible-venv/bin")
_TIMEOUT = 120


def _bin_dir(given: str | None) -> Path:
    if given:
        return Path(given)
    found = shutil.which("ansible-inventory")
    if found:
        return Path(found).parent
    return DEFAULT_BIN


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_DEPRECATION_WARNINGS="False",
    )
    for name in ("ANSIBLE_VAULT_PASSWORD_FILE", "ANSIBLE_CONFIG", "ANSIBLE_INVENTORY"):
        env.pop(name, None)  # the case folder (no ansible.cfg) decides, nothing else
    return env


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=_TIMEOUT, check=False
    )


def record(case: Path, bins: Path) -> dict[str, object]:
    spec = json.loads((case / "case.json").read_text(encoding="utf-8"))
    base = ["-i", spec["inventory"]]
    if spec.get("vault_password_file"):
        base += ["--vault-password-file", spec["vault_password_file"]]
    inventory = str(bins / "ansible-inventory")
    listed = _run([inventory, *base, "--list"], case)
    if listed.returncode != 0:
        raise SystemExit(f"{case.name}: ansible-inventory failed: {listed.stderr.strip()}")
    data = json.loads(listed.stdout)
    hosts: dict[str, object] = {}
    for name in sorted(data.get("_meta", {}).get("hostvars", {})):
        answer = _run([inventory, *base, "--host", name], case)
        hosts[name] = json.loads(answer.stdout) if answer.returncode == 0 else None
    limits: dict[str, list[str] | None] = {}
    for pattern in spec.get("limits", []):
        answer = _run([str(bins / "ansible"), pattern, *base, "--list-hosts"], case)
        limits[pattern] = _list_hosts(answer.stdout) if answer.returncode == 0 else None
    version = _run([str(bins / "ansible"), "--version"], case).stdout.splitlines()[0]
    return {"ansible_core": version, "list": data, "host": hosts, "limits": limits}


def _list_hosts(stdout: str) -> list[str]:
    """Host names from ``--list-hosts`` (``  hosts (N):`` then one indented name a line)."""
    lines = stdout.splitlines()
    if not lines or not re.match(r"\s*hosts \(\d+\):", lines[0]):
        return []
    return sorted(line.strip() for line in lines[1:] if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", help="folder holding ansible-inventory and ansible")
    parser.add_argument("cases", nargs="*", help="case folder names (default: all)")
    args = parser.parse_args()
    bins = _bin_dir(args.bin)
    if not (bins / "ansible-inventory").exists():
        print(f"ansible-inventory not found in {bins}; install ansible-core", file=sys.stderr)
        return 2
    names = args.cases or sorted(p.name for p in CORPUS.iterdir() if (p / "case.json").exists())
    for name in names:
        case = CORPUS / name
        answer = record(case, bins)
        (case / "recorded.json").write_text(
            json.dumps(answer, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"{name}: {len(answer['host'])} hosts, {len(answer['limits'])} limits")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
