"""Pieces the remediate unit tests share: the host ``fs01`` and its journal records, a rollback
run against fake hosts, the operator's second Ctrl-C, a fake host whose answer waits until the
test lets it go (no test guesses how long a thread needs), a clock a fake host moves, the
answer of a host that does not return registry keys, and docs/baselines.md's example baseline."""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.unit.remediate.fakehost import FakeFleet, FakeWindows
from toolkit.checks.facts import RegValue
from toolkit.fanout.runner import FanoutOptions
from toolkit.inventory.model import Host, Inventory
from toolkit.remediate import interrupt
from toolkit.remediate.journal import JournalWriter, intent_record
from toolkit.remediate.model import SETTINGS, RemediateRun
from toolkit.remediate.rollback import rollback
from toolkit.transport.model import InvocationResult, PSObj, PSValue

HOST = Host(name="fs01", address="192.0.2.5")
FS02 = Host(name="fs02", address="192.0.2.6")
ZERO, ONE = RegValue("DWord", 0), RegValue("DWord", 1)
rollback_module = sys.modules["toolkit.remediate.rollback"]
DOCS = Path(__file__).resolve().parents[3] / "docs"


def intent(
    host: str = "fs01",
    setting: str = "client_signing",
    before: RegValue = ZERO,
    after: RegValue = ONE,
    *,
    address: str = "192.0.2.5",
    endpoint: str = "192.0.2.5:5985",
    run_id: str = "r1",
) -> dict[str, object]:
    s = SETTINGS[setting]
    return intent_record(
        run_id=run_id,
        host=host,
        address=address,
        endpoint=endpoint,
        setting=setting,
        path=s.path,
        name=s.name,
        before=before,
        after=after,
        command="Set-ItemProperty ...",
    )


def journal_of(
    path: Path, *records: dict[str, object], run_id: str = "r1", inventory: str = "inline", end: bool = True
) -> Path:
    writer = JournalWriter.create(path, {"run_id": run_id, "command": "remediate", "inventory": inventory})
    writer.append(*records)
    if end:
        writer.append({"type": "end", "run_id": run_id})
    writer.close()
    return path


def run_rollback(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    journal: Path,
    hosts: tuple[Host, ...] = (HOST,),
    **boxes_and_kw: object,
) -> RemediateRun:
    boxes = {k: v for k, v in boxes_and_kw.items() if isinstance(v, FakeWindows)}
    kw = {k: v for k, v in boxes_and_kw.items() if not isinstance(v, FakeWindows)}
    kw.setdefault("rollback_journal", tmp_path / "rollback.jsonl")
    monkeypatch.setattr(rollback_module, "open_session", FakeFleet(**boxes))
    return rollback(
        journal,
        inventory=Inventory(hosts, {}, "inline"),
        credentials=dict.fromkeys(boxes),
        options=FanoutOptions(forks=1, timeout=30, retries=0),
        lock_dir=tmp_path / "locks",
        **kw,  # type: ignore[arg-type]
    )


def second_ctrl_c(why: str = "interrupted") -> None:
    """What the operator's second Ctrl-C does to a running remediation or rollback
    (toolkit.remediate.interrupt's handler): every host in flight is cancelled."""
    for cancel in list(interrupt._CANCELLERS):
        cancel(why)


class HeldWindows(FakeWindows):
    """A fake host whose answer waits until the test calls :meth:`finish`: its first round
    trip (``held="read"``) or its writes, once applied (``held="write"``). ``worker`` is the
    thread that asked (the fan-out's host thread), so the test can wait for it to end."""

    def __init__(self, build: str = "17763", *, held: str, **values: tuple[str, Any]) -> None:
        super().__init__(build, **values)
        self.release = threading.Event()
        self.worker: threading.Thread | None = None
        self._read_held = held == "read"
        if held == "write":
            self.write_delay = self._hold

    def _hold(self, deadline: float) -> float:
        self.release.wait(30)
        return 0.0

    def run(self, statements: Any, deadline: float) -> InvocationResult:
        self.worker = threading.current_thread()
        if self._read_held:
            self._read_held = False
            self._hold(deadline)
        return super().run(statements, deadline)

    def finish(self, timeout: float = 30) -> bool:
        """Let the held answer go and wait for the host's worker to end; whether it ended."""
        self.release.set()
        if self.worker is not None:
            self.worker.join(timeout)
        return self.worker is not None and not self.worker.is_alive()


class Clock:
    """A monotonic clock that moves only when told (``advance``): put it in place of a
    module's ``time`` to know the durations that module measures exactly."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def garbled(answer: InvocationResult) -> InvocationResult:
    """``answer`` as a host that does not return registry keys gives it: its lease value (if
    any) followed by a number."""
    lease = [o for o in answer.output if isinstance(o, PSObj) and "psfleet" in str(o.get("PSPath"))]
    return InvocationResult(output=(*lease, PSValue("Int32", 42)))


def documented_baseline(name: str) -> str:
    """The baseline named ``name`` as docs/baselines.md writes it out (its worked example,
    which tests/integration/baselines runs against the lab too)."""
    text = (DOCS / "baselines.md").read_text(encoding="utf-8")
    for block in re.findall(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        if block.startswith(f"name: {name}\n"):
            return str(block)
    raise LookupError(f"docs/baselines.md shows no baseline named {name}")
