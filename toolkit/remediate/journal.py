"""The remediation journal: JSON Lines, append-only, fsynced before every write goes out.

Format (one JSON object per line; ``docs/remediation.md`` documents it for humans)::

    {"psfleet": "journal/1", "type": "run", "run_id": ..., "command": "remediate"|"rollback", ...}
    {"type": "intent", "run_id": ..., "time": ..., "host": ..., "address": ..., "setting": ...,
     "path": ..., "name": ..., "before": {"kind": "String", "value": "0"} | {"kind": null},
     "after": {"kind": "DWord", "value": 1}, "command": ..., "workaround_expires": null}
    {"type": "outcome", "run_id": ..., "time": ..., "host": ..., "setting": ...,
     "outcome": "changed"|"failed"|"unknown"|"restored"|..., "observed": {...}|null, "error": null}
    {"type": "end", "run_id": ..., "time": ..., "exit_code": 0, "summary": {...}, "stopped": null}

An ``intent`` is appended, flushed and fsynced *before* the write it describes is sent, so
after a crash (even SIGKILL) the journal names every value that may have changed, with the
value it had before. A crash can leave a partial last line: readers tolerate (and report)
that one line only. Credentials are never written.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from toolkit.atomic import fsync_directory
from toolkit.checks.facts import RegValue
from toolkit.errors import JournalError
from toolkit.remediate.model import SETTINGS, RemediateRun, value_dict, value_from_dict

FORMAT = "journal/1"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def state_dir(env: dict[str, str] | None = None) -> Path:
    """psfleet's state directory: ``$PSFLEET_STATE_DIR``, else ``$XDG_STATE_HOME/psfleet``,
    else ``~/.local/state/psfleet``."""
    environ = env if env is not None else dict(os.environ)
    if environ.get("PSFLEET_STATE_DIR"):
        return Path(environ["PSFLEET_STATE_DIR"])
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "psfleet"


def default_journal_path(command: str = "remediate", *, directory: Path | None = None) -> Path:
    """``<state dir>/journals/<command>-<UTC timestamp>.jsonl`` (a free name)."""
    return free_journal_path(directory or state_dir() / "journals", command)


def free_journal_path(folder: Path, prefix: str) -> Path:
    """``<folder>/<prefix>-<UTC timestamp>.jsonl``, with ``-2``, ``-3``... added until the
    name is free (a journal is never overwritten)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{prefix}-{stamp}.jsonl"
    n = 2
    while path.exists():
        path = folder / f"{prefix}-{stamp}-{n}.jsonl"
        n += 1
    return path


class JournalWriter:
    """An exclusive, append-only journal file. Thread-safe: workers append concurrently.

    :meth:`create` refuses an existing file (never overwrite a journal). Every
    :meth:`append` is flushed and fsynced before it returns.
    """

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle
        self._lock = threading.Lock()
        self.closed = False

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> JournalWriter:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            raise JournalError(
                "journal already exists; refusing to overwrite it (choose another --journal)", file=path
            ) from None
        except OSError as exc:
            raise JournalError(f"cannot create journal: {exc.strerror}", file=path) from None
        writer = cls(path, os.fdopen(fd, "w", encoding="utf-8", newline="\n"))
        writer.append({"psfleet": FORMAT, "type": "run", **header})
        fsync_directory(path.parent)
        return writer

    def append(self, *records: dict[str, Any]) -> None:
        """Append records as one fsynced batch (one line each)."""
        text = "".join(
            json.dumps(r, ensure_ascii=False, sort_keys=False, default=str) + "\n" for r in records
        )
        with self._lock:
            if self.closed:
                raise JournalError("journal is closed", file=self.path)
            self._handle.write(text)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                self._handle.close()


# -- records ------------------------------------------------------------------------------


def intent_record(
    *,
    run_id: str,
    host: str,
    address: str,
    setting: str,
    path: str,
    name: str,
    before: RegValue,
    after: RegValue,
    command: str,
    workaround_expires: datetime | None = None,
) -> dict[str, Any]:
    return {
        "type": "intent",
        "run_id": run_id,
        "time": now_iso(),
        "host": host,
        "address": address,
        "setting": setting,
        "path": path,
        "name": name,
        "before": value_dict(before),
        "after": value_dict(after),
        "command": command,
        "workaround_expires": workaround_expires.isoformat() if workaround_expires else None,
    }


def outcome_record(
    *,
    run_id: str,
    host: str,
    setting: str,
    outcome: str,
    observed: RegValue | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "outcome",
        "run_id": run_id,
        "time": now_iso(),
        "host": host,
        "setting": setting,
        "outcome": outcome,
        "observed": value_dict(observed),
        "error": error,
    }


def end_record(run: RemediateRun) -> dict[str, Any]:
    """The last line of a journal: how the run ended (remediation and rollback alike)."""
    return {
        "type": "end",
        "run_id": run.run_id,
        "time": now_iso(),
        "exit_code": run.exit_code,
        "summary": run.summary,
        "changes": run.change_counts,
        "stopped": run.stopped,
        "interrupted": run.interrupted,
    }


@dataclass(frozen=True)
class Intent:
    line: int
    run_id: str
    host: str
    address: str
    setting: str
    path: str
    name: str
    before: RegValue
    after: RegValue
    command: str
    workaround_expires: datetime | None


@dataclass(frozen=True)
class OutcomeRecord:
    line: int
    host: str
    setting: str
    outcome: str


@dataclass(frozen=True)
class Journal:
    path: Path
    header: dict[str, Any]
    intents: tuple[Intent, ...]
    outcomes: tuple[OutcomeRecord, ...]
    ended: bool
    #: Line number of a partial last line (a crash mid-append), tolerated and reported.
    damaged_line: int | None = None

    @property
    def run_id(self) -> str:
        return str(self.header.get("run_id", ""))

    def outcome_of(self, host: str, setting: str) -> str | None:
        found = None
        for record in self.outcomes:
            if record.host == host and record.setting == setting:
                found = record.outcome
        return found


def read_journal(path: Path) -> Journal:
    """Parse a journal. Raises :class:`JournalError` (``file:line: message``) when the file
    is missing, is not a psfleet journal, or has a bad record anywhere but the last line; a
    damaged last line is tolerated (``damaged_line``)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise JournalError("journal not found", file=path) from None
    except OSError as exc:
        raise JournalError(f"cannot read journal: {exc.strerror}", file=path) from None
    text = raw.decode("utf-8", errors="replace")
    lines = text.split("\n")
    complete_last = text.endswith("\n")
    if complete_last:
        lines.pop()
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        raise JournalError("empty file: not a psfleet journal", file=path, line=1)
    header: dict[str, Any] | None = None
    intents: list[Intent] = []
    outcomes: list[OutcomeRecord] = []
    ended = False
    damaged: int | None = None
    last_number = numbered[-1][0]
    for number, line in numbered:
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if header is not None and number == last_number:
                damaged = number  # a crash while appending: the record never completed
                break
            if header is None:
                raise JournalError(
                    "not a psfleet journal (the first line is not a JSON object)", file=path, line=number
                ) from None
            raise JournalError(f"damaged record: {_short(str(exc))}", file=path, line=number) from None
        if header is None:
            if record.get("psfleet") != FORMAT or record.get("type") != "run":
                raise JournalError(
                    f"not a psfleet journal (first line must be a {FORMAT!r} run record)",
                    file=path,
                    line=number,
                )
            header = record
            continue
        try:
            kind = record.get("type")
            if kind == "intent":
                intents.append(_intent(number, record))
            elif kind == "outcome":
                outcomes.append(
                    OutcomeRecord(
                        number, _str(record, "host"), _str(record, "setting"), _str(record, "outcome")
                    )
                )
            elif kind == "end":
                ended = True
            else:
                raise ValueError(f"unknown record type {kind!r}")
        except ValueError as exc:
            raise JournalError(f"bad record: {exc}", file=path, line=number) from None
    assert header is not None
    return Journal(path, header, tuple(intents), tuple(outcomes), ended, damaged)


def _intent(number: int, record: dict[str, Any]) -> Intent:
    setting = _str(record, "setting")
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}")
    expires_text = record.get("workaround_expires")
    expires = datetime.fromisoformat(expires_text) if isinstance(expires_text, str) else None
    return Intent(
        line=number,
        run_id=str(record.get("run_id", "")),
        host=_str(record, "host"),
        address=str(record.get("address", "")),
        setting=setting,
        path=_str(record, "path"),
        name=_str(record, "name"),
        before=value_from_dict(record.get("before")),
        after=value_from_dict(record.get("after")),
        command=str(record.get("command", "")),
        workaround_expires=expires,
    )


def _str(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
