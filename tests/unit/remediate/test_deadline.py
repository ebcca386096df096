"""A host whose answer comes back after its deadline: the fan-out has reported it ``timeout``,
so its abandoned worker must neither journal nor send anything more (issue 15 #3). A session
that answers the probe late stands for a slow host; the transport's own deadline checks are
out of the picture, so this pins remediation's cancel guard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from toolkit.checks.facts import CURRENT_VERSION_KEY, SERVER_KEY, WORKSTATION_KEY
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate import RemediateOptions, read_journal, remediate
from toolkit.remediate import apply as apply_module
from toolkit.transport.model import InvocationResult, PSObj, PSValue


def _obj(key: str, **values: PSValue) -> PSObj:
    path = PSValue(
        "String", "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\" + key.split("\\", 1)[1]
    )
    return PSObj(("System.Management.Automation.PSCustomObject",), {**values, "PSPath": path})


DRIFTED = InvocationResult(
    output=(
        _obj(CURRENT_VERSION_KEY, CurrentBuild=PSValue("String", "17763")),
        _obj(WORKSTATION_KEY, RequireSecuritySignature=PSValue("Int32", 0)),
        _obj(SERVER_KEY, RequireSecuritySignature=PSValue("Int32", 0)),
    )
)


COMPLIANT = InvocationResult(
    output=(
        _obj(CURRENT_VERSION_KEY, CurrentBuild=PSValue("String", "17763")),
        _obj(WORKSTATION_KEY, RequireSecuritySignature=PSValue("Int32", 1)),
        _obj(SERVER_KEY, RequireSecuritySignature=PSValue("Int32", 1)),
    )
)


class LateSession:
    """Host "slow" answers its probe half a second after its deadline; host "next" (run after
    it, so the run and its journal are still going) answers within its own, compliant."""

    calls: ClassVar[list[tuple[str, int]]] = []
    transport = "lean"
    fallback: str | None = None

    def __init__(self, host: Host, credential: Any, *, deadline: float | None = None, **_: Any) -> None:
        self.name = host.name
        self.deadline = deadline or time.monotonic()

    def __enter__(self) -> LateSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, statements: Any) -> InvocationResult:
        LateSession.calls.append((self.name, len(statements)))
        if self.name == "next":
            time.sleep(0.9)
            return COMPLIANT
        if len([c for c in LateSession.calls if c[0] == "slow"]) == 1:
            time.sleep(max(0.0, self.deadline - time.monotonic()) + 0.5)
        return DRIFTED


def test_a_host_answering_after_its_deadline_gets_nothing_journaled_or_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(apply_module, "open_session", LateSession)
    LateSession.calls = []
    inventory = Inventory(
        (Host(name="slow", address="192.0.2.10"), Host(name="next", address="192.0.2.11")), {}, "inline"
    )
    journal = tmp_path / "j.jsonl"
    run = remediate(
        inventory,
        credentials={"slow": None, "next": None},
        journal=journal,
        options=RemediateOptions(fanout=FanoutOptions(forks=1, timeout=1.0, retries=0)),
    )
    host, following = run.hosts
    time.sleep(1.0)  # the abandoned worker has had its answer for a while
    slow_calls = [c for c in LateSession.calls if c[0] == "slow"]
    assert len(slow_calls) == 1, f"sent after the deadline: {slow_calls}"
    assert read_journal(journal).intents == (), "intents journaled after the deadline"
    assert host.status.value == "timeout"
    assert host.error is not None and "no changes" in host.error.message
    assert following.status.value == "compliant"
