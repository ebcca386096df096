"""The journal's durability order: an intent is written, flushed and fsynced before the write
it describes leaves, and a process killed (SIGKILL) right after an append leaves the whole
line on disk. The order is observed on the calls themselves, not inferred from the result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import IO, Any

import pytest

from tests.unit.checks.helpers import dword
from toolkit.checks.facts import CURRENT_VERSION_KEY, SERVER_KEY, WORKSTATION_KEY
from toolkit.inventory.model import Host
from toolkit.remediate import journal as journal_module
from toolkit.remediate.execute import Progress, write_and_verify
from toolkit.remediate.journal import JournalWriter, read_journal
from toolkit.remediate.model import SETTINGS, Outcome
from toolkit.remediate.plan import PlannedWrite, registry_write
from toolkit.transport.model import InvocationResult, PSObj, PSValue


class RecordingHandle:
    """A text file that records write/flush; ``fsync`` of its fd is recorded by the test."""

    def __init__(self, real: IO[str], events: list[str]) -> None:
        self._real = real
        self.events = events

    def write(self, text: str) -> int:
        self.events.append("write")
        return self._real.write(text)

    def flush(self) -> None:
        self.events.append("flush")
        self._real.flush()

    def fileno(self) -> int:
        return self._real.fileno()

    def close(self) -> None:
        self._real.close()


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    recorded: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        recorded.append("fsync")
        real_fsync(fd)

    monkeypatch.setattr(journal_module.os, "fsync", fsync)
    return recorded


def recording_writer(path: Path, events: list[str]) -> JournalWriter:
    handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed by the writer)
    return JournalWriter(path, RecordingHandle(handle, events))  # type: ignore[arg-type]


def test_each_append_is_written_then_flushed_then_fsynced(tmp_path: Path, events: list[str]) -> None:
    writer = recording_writer(tmp_path / "j.jsonl", events)
    writer.append({"type": "outcome", "n": 1}, {"type": "outcome", "n": 2})
    assert events == ["write", "flush", "fsync"]
    writer.append({"type": "outcome", "n": 3})
    assert events == ["write", "flush", "fsync"] * 2
    writer.close()


def _obj(key: str, **values: PSValue) -> PSObj:
    path = PSValue(
        "String", "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\" + key.split("\\", 1)[1]
    )
    return PSObj(("System.Management.Automation.PSCustomObject",), {**values, "PSPath": path})


#: The read-back after client signing was set to 1.
WRITTEN = InvocationResult(
    output=(
        _obj(CURRENT_VERSION_KEY, CurrentBuild=PSValue("String", "17763")),
        _obj(WORKSTATION_KEY, RequireSecuritySignature=PSValue("Int32", 1)),
        _obj(SERVER_KEY, RequireSecuritySignature=PSValue("Int32", 1)),
    )
)


class WatchingSession:
    """Looks at the journal on disk, and at what the worker recorded, when the write is sent."""

    transport = "lean"
    fallback: str | None = None

    def __init__(self, path: Path, events: list[str], progress: Progress) -> None:
        self.path = path
        self.events = events
        self.progress = progress
        self.seen: dict[str, Any] = {}

    def run(self, statements: Any) -> InvocationResult:
        lines = self.path.read_text(encoding="utf-8").splitlines()
        self.seen = {
            "intents_on_disk": [json.loads(line) for line in lines if '"intent"' in line],
            "events": list(self.events),
            "stage": self.progress.stage,
            "guard_sent": self.progress.guard.sent,
        }
        self.events.append("send")
        return WRITTEN


def test_the_intent_is_on_disk_and_sent_is_recorded_before_the_write_leaves(
    tmp_path: Path, events: list[str]
) -> None:
    path = tmp_path / "j.jsonl"
    writer = recording_writer(path, events)
    writer.append({"psfleet": "journal/1", "type": "run", "run_id": "r1", "command": "remediate"})
    events.clear()
    setting = SETTINGS["client_signing"]
    write = PlannedWrite(setting, dword(0), dword(1), (registry_write(setting.path, setting.name, dword(1)),))
    progress = Progress()
    session = WatchingSession(path, events, progress)
    host = Host(name="fs01", address="192.0.2.5")
    verified = write_and_verify(
        session,  # type: ignore[arg-type]
        host,
        [write],
        journal=writer,
        run_id="r1",
        progress=progress,
    )
    writer.close()
    (intent,) = session.seen["intents_on_disk"]
    assert (intent["host"], intent["setting"], intent["before"], intent["after"]) == (
        "fs01",
        "client_signing",
        {"kind": "DWord", "value": 0},
        {"kind": "DWord", "value": 1},
    )
    assert session.seen["events"][-3:] == ["write", "flush", "fsync"]
    # The worker says "sent" before it waits for the answer: a host abandoned while the write
    # is in flight must be reported as "may have happened", not as "nothing written".
    assert session.seen["stage"] == "sent" and session.seen["guard_sent"] is True
    # The outcome comes after the answer, durably too.
    assert events[-4:] == ["send", "write", "flush", "fsync"]
    (result,) = verified.results
    assert result.outcome is Outcome.CHANGED
    assert read_journal(path).outcome_of("fs01", "client_signing") == "changed"


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from toolkit.remediate.journal import JournalWriter
    writer = JournalWriter.create(Path(sys.argv[1]), {"run_id": "r1", "command": "remediate"})
    writer.append({"type": "outcome", "run_id": "r1", "host": "fs01", "setting": "client_signing",
                   "outcome": "changed", "note": "x" * 3000})
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_process_killed_right_after_an_append_leaves_the_whole_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-500:]
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    header, record = (json.loads(line) for line in text.splitlines())
    assert header["type"] == "run" and record["outcome"] == "changed" and len(record["note"]) == 3000
    journal = read_journal(path)
    assert journal.damaged_line is None and journal.outcome_of("fs01", "client_signing") == "changed"


def test_a_closed_journal_takes_nothing_more(tmp_path: Path) -> None:
    from toolkit.errors import JournalError

    writer = JournalWriter.create(tmp_path / "j.jsonl", {"run_id": "r1", "command": "remediate"})
    writer.close()
    assert writer.closed
    with pytest.raises(JournalError, match="journal is closed"):
        writer.append({"type": "outcome"})
    writer.close()  # twice is harmless
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == 1
