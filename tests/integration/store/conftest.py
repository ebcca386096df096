"""A small lab fleet in two groups, changed between runs the way fleets change: remediated,
drifted by hand, a host taken down. The ``story`` fixture runs psfleet as a user does
(``python -m toolkit.cli`` in a subprocess, default settings, one database) and keeps each
command's outcome for the tests to read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.postgres import postgres_server  # noqa: F401 - a fixture of this folder
from toolkit.lab.fleet import Fleet
from toolkit.lab.server import FaultConfig
from toolkit.lab.spec import loads_spec

WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
SRV = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters"
HARDENED = (
    f"    registry:\n"
    f"      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}\n"
    f"      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}"
)
SPEC = f"""users:
  - {{name: admin, password: 'Adm1n-Lab!', admin: true}}
hosts:
  - name: hq-ok
    profile: server2019
{HARDENED}
  - name: hq-drift
    profile: server2022
  - name: br-ok
    profile: server2016
{HARDENED}
  - name: br-drift
    profile: server2019
"""
GROUPS = "groups:\n  hq: {hosts: [hq-ok, hq-drift]}\n  branch: {hosts: [br-ok, br-drift]}\n"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> dict:  # type: ignore[type-arg]
        return json.loads(self.out)


@dataclass
class Story:
    inventory: Path
    db: Path
    env: dict[str, str]
    tmp: Path
    runs: dict[str, Result] = field(default_factory=dict)

    def psfleet(self, *args: str, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "toolkit.cli", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Result(done.returncode, done.stdout, done.stderr)


def psfleet_env(tmp: Path, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSFLEET_")}
    env.update(
        PSFLEET_DB=str(db),
        PSFLEET_STATE_DIR=str(tmp / "state"),
        PSFLEET_CONFIG="",
        PSFLEET_NO_PROGRESS="1",
    )
    return env


@pytest.fixture(scope="package")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """audit -> remediate (apply) -> manual drift on hq-ok, br-ok taken down -> audit."""
    tmp = tmp_path_factory.mktemp("store-story")
    with Fleet(loads_spec(SPEC, "store-fleet.yml"), addressing="port", workdir=tmp / "lab") as fleet:
        inventory = tmp / "fleet.yml"
        fleet.write_inventory(inventory)
        inventory.write_text(inventory.read_text() + GROUPS)
        db = tmp / "psfleet.db"
        s = Story(inventory, db, psfleet_env(tmp, db), tmp)
        s.runs["audit1"] = s.psfleet("audit", "-i", str(inventory), "-f", "json")
        s.runs["remediate"] = s.psfleet(
            "remediate", "-i", str(inventory), "--yes", "-f", "json", "--journal", str(tmp / "fix.jsonl")
        )
        # An admin turns client signing off by hand on a compliant host; a branch host goes down.
        fleet.sim("hq-ok").registry.set(WS, "RequireSecuritySignature", "DWord", 0)
        fleet.endpoint("br-ok").fault = FaultConfig(kind="reset")
        s.runs["audit2"] = s.psfleet("audit", "-i", str(inventory), "-f", "json")
        yield s
