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

import contextlib
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
from toolkit.remediate.model import SETTINGS, RemediateRun, Setting, settings_of, value_dict, value_from_dict

FORMAT = "journal/1"


class JournalWriteError(JournalError):
    """The journal cannot be written (full disk, quota, read-only filesystem): exit 2.
    A run stops starting hosts at once; nothing is sent without its intent on disk."""


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
        #: Why an append failed (the journal then takes nothing more), else None.
        self.failed: str | None = None

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> JournalWriter:
        """Create ``path`` (never an existing file) and write the run record. Any failure
        (a missing directory on a read-only filesystem, a full disk) is a
        :class:`JournalWriteError` and leaves no file behind."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise JournalWriteError(
                f"cannot create the journal's directory: {exc.strerror or exc}", file=path
            ) from None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except FileExistsError:
            raise JournalError(
                "journal already exists; refusing to overwrite it (choose another --journal)", file=path
            ) from None
        except OSError as exc:
            raise JournalWriteError(f"cannot create journal: {exc.strerror or exc}", file=path) from None
        writer = cls(path, os.fdopen(fd, "w", encoding="utf-8", newline="\n"))
        try:
            writer.append({"psfleet": FORMAT, "type": "run", **header})
            fsync_directory(path.parent)
        except (JournalError, OSError) as exc:
            writer.close()
            path.unlink(missing_ok=True)  # an empty or partial header is no journal
            if isinstance(exc, JournalWriteError):
                raise
            raise JournalWriteError(f"cannot write journal: {exc}", file=path) from None
        return writer

    def append(self, *records: dict[str, Any]) -> None:
        """Append records as one fsynced batch (one line each). Raises
        :class:`JournalWriteError` when the file cannot take them (full disk, quota, I/O
        error): the writer is then ``failed`` and refuses every later append."""
        text = "".join(
            json.dumps(r, ensure_ascii=False, sort_keys=False, default=str) + "\n" for r in records
        )
        with self._lock:
            if self.failed is not None:
                raise JournalWriteError(
                    f"journal unusable after an earlier failure: {self.failed}", file=self.path
                )
            if self.closed:
                raise JournalError("journal is closed", file=self.path)
            try:
                self._handle.write(text)
                self._handle.flush()
                os.fsync(self._handle.fileno())
            except OSError as exc:
                self.failed = exc.strerror or str(exc)
                raise JournalWriteError(f"cannot write journal: {self.failed}", file=self.path) from None

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                # Buffered text of a failed append cannot be written: already reported.
                with contextlib.suppress(OSError):
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
    endpoint: str = "",
    baseline: str = "",
    baseline_digest: str = "",
) -> dict[str, Any]:
    """An intent: written and fsynced before its write goes out. ``baseline`` (a shipped
    name or a file's absolute path) and ``baseline_digest`` (its SHA-256) say which
    baseline's check the write belongs to; rollback writes only what that check owns."""
    return {
        "type": "intent",
        "run_id": run_id,
        "time": now_iso(),
        "host": host,
        "address": address,
        "endpoint": endpoint,
        "setting": setting,
        "path": path,
        "name": name,
        "before": value_dict(before),
        "after": value_dict(after),
        "command": command,
        "workaround_expires": workaround_expires.isoformat() if workaround_expires else None,
        "baseline": baseline or None,
        "baseline_digest": baseline_digest or None,
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
    #: ``address:port`` the write went to ("" in journals written before it was recorded).
    endpoint: str = ""
    time: str = ""
    #: The baseline the check belongs to (shipped name or file path) and its SHA-256 when
    #: the write was journaled ("" in journals written before baselines: the default one).
    baseline: str = ""
    baseline_digest: str = ""
    #: The setting as that baseline defines it: what rollback may write.
    owner: Setting | None = None


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
    #: Line number of an incomplete last line (no newline: a crash while appending, or a
    #: file cut short), tolerated and reported.
    damaged_line: int | None = None
    #: ``--salvage``: lines that were skipped, ``(line, why)``.
    skipped: tuple[tuple[int, str], ...] = ()

    @property
    def run_id(self) -> str:
        return str(self.header.get("run_id", ""))

    def outcome_of(self, host: str, setting: str) -> str | None:
        found = None
        for record in self.outcomes:
            if record.host == host and record.setting == setting:
                found = record.outcome
        return found


#: Kinds a prior value of a managed setting may have (they are DWORDs, sometimes left as a
#: REG_SZ/REG_EXPAND_SZ "0" by other tools); rollback restores nothing else.
PRIOR_KINDS = (None, "DWord", "String", "ExpandString")
#: Longest string prior rollback restores (the settings hold a number).
MAX_PRIOR_TEXT = 256


def read_journal(path: Path, *, salvage: bool = False) -> Journal:
    """Parse a journal. Raises :class:`JournalError` (``file:line: message``) when the file
    is missing, is not a psfleet journal, or has a bad record anywhere but the last line; an
    incomplete last line is tolerated (``damaged_line``).

    Every intent must name a (path, value name) pair that psfleet's settings own, with a
    prior kind such a value can have (:data:`PRIOR_KINDS`); anything else is a bad record.

    ``salvage``: bad records are skipped and listed in ``skipped`` instead (a damaged middle
    line, a repeated run record, two journals concatenated); the first line must still be a
    psfleet run record.
    """
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
    skipped: list[tuple[int, str]] = []
    ended = False
    damaged: int | None = None
    last_number = numbered[-1][0]
    for number, line in numbered:
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if header is not None and number == last_number and not complete_last:
                damaged = number  # cut short: the record never completed
                break
            if header is None:
                raise JournalError(
                    "not a psfleet journal (the first line is not a JSON object)", file=path, line=number
                ) from None
            if salvage:
                skipped.append((number, f"damaged record: {_short(str(exc))}"))
                continue
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
            elif kind == "run":
                raise ValueError("a second run record (journals concatenated?)")
            else:
                raise ValueError(f"unknown record type {kind!r}")
        except (ValueError, TypeError) as exc:
            if salvage:
                skipped.append((number, f"bad record: {exc}"))
                continue
            raise JournalError(f"bad record: {exc}", file=path, line=number) from None
    assert header is not None
    return Journal(path, header, tuple(intents), tuple(outcomes), ended, damaged, tuple(skipped))


def _owner(setting_id: str, baseline: str) -> Setting:
    """The setting ``setting_id`` of ``baseline`` (the default baseline for old journals)."""
    if not baseline:
        found = SETTINGS.get(setting_id)
    else:
        from toolkit.baselines.loader import resolve
        from toolkit.errors import InputError

        try:
            found = settings_of((resolve(baseline),)).get(setting_id)
        except InputError as exc:
            raise ValueError(f"baseline {baseline!r} cannot be read: {exc.one_line()}") from None
    if found is None:
        where = f" in baseline {baseline}" if baseline else ""
        raise ValueError(f"unknown setting {setting_id!r}{where}")
    return found


def parse_intent(line: int, record: dict[str, Any]) -> Intent:
    """One intent record, checked as :func:`read_journal` checks every intent (ValueError:
    an unmanaged value, a prior kind the setting cannot have...)."""
    return _intent(line, record)


def _intent(number: int, record: dict[str, Any]) -> Intent:
    setting_id = _str(record, "setting")
    baseline = record.get("baseline") or ""
    if not isinstance(baseline, str):
        raise ValueError("'baseline' must be a string")
    setting = _owner(setting_id, baseline)
    path, name = _str(record, "path"), _str(record, "name")
    if path.lower() != setting.path.lower() or name.lower() != setting.name.lower():
        raise ValueError(
            f"{path}\\{name} is not a value psfleet manages (setting {setting_id} is "
            f"{setting.path}\\{setting.name}); refusing to touch it"
        )
    before = value_from_dict(record.get("before"))
    after = value_from_dict(record.get("after"))
    if before.kind is not None and before.kind not in setting.prior_kinds:
        raise ValueError(f"prior kind {before.kind} is not one {setting_id} can have; refusing to restore it")
    if isinstance(before.value, str) and len(before.value) > MAX_PRIOR_TEXT:
        raise ValueError(f"prior text longer than {MAX_PRIOR_TEXT} characters; refusing to restore it")
    if before.kind == "DWord" and not 0 <= before.value <= 0xFFFF_FFFF:
        raise ValueError("prior DWord out of range")
    if after.kind != setting.kind:
        raise ValueError(f"psfleet only writes {setting.kind} values for {setting_id}, not {after.kind}")
    expires_text = record.get("workaround_expires")
    expires = datetime.fromisoformat(expires_text) if isinstance(expires_text, str) else None
    return Intent(
        line=number,
        run_id=str(record.get("run_id", "")),
        host=_str(record, "host"),
        address=str(record.get("address", "")),
        setting=setting_id,
        path=setting.path,
        name=setting.name,
        before=before,
        after=after,
        command=str(record.get("command", "")),
        workaround_expires=expires,
        endpoint=str(record.get("endpoint", "")),
        time=str(record.get("time", "")),
        baseline=baseline,
        baseline_digest=str(record.get("baseline_digest") or ""),
        owner=setting,
    )


def _str(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
