"""Temporary workarounds (secure negotiate disabled with ``--allow-insecure``) and their expiry.

``psfleet remediate`` records each verified disable here, next to its journal, in
``<state dir>/workarounds.json``; ``psfleet audit`` reads it through
:func:`workarounds_from_journals` so that an expired workaround is reported as drift
(docs/windows-facts.md#rsn-workaround: disabling validate negotiate is a workaround, not a state to keep). Restoring
``required`` (a later remediation or a rollback) removes the entry.

File format::

    {"psfleet": "workarounds/1",
     "hosts": {"branch-fs-01": {"secure_negotiate": {"expires": "2026-05-08T10:00:00+00:00",
                                                      "run_id": "...", "journal": "...",
                                                      "address": "10.0.0.5"}}}}

Updates take an exclusive lock (``workarounds.json.lock``) and replace the file atomically.
"""

from __future__ import annotations

import copy
import fcntl
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from toolkit.atomic import write_atomic
from toolkit.errors import JournalError
from toolkit.inventory.model import Host
from toolkit.remediate.journal import state_dir

FORMAT = "workarounds/1"
FILE_NAME = "workarounds.json"

WorkaroundLookup = Callable[[Host], Mapping[str, datetime] | None]


def workarounds_path(directory: Path | None = None) -> Path:
    return (directory or state_dir()) / FILE_NAME


def load_workarounds(path: Path | None = None) -> dict[str, dict[str, datetime]]:
    """``{host name: {check id: expiry}}``; an absent file is empty. Raises
    :class:`JournalError` for a file that is not a psfleet workaround registry."""
    data = _read(path or workarounds_path())
    out: dict[str, dict[str, datetime]] = {}
    for host, settings in data["hosts"].items():
        for setting, entry in settings.items():
            out.setdefault(host, {})[setting] = _utc(datetime.fromisoformat(entry["expires"]))
    return out


def workarounds_from_journals(directory: Path | None = None) -> WorkaroundLookup:
    """The hook for ``toolkit.api.audit(workarounds=...)``: host -> ``{"secure_negotiate":
    expiry}`` from the workarounds recorded by remediation runs (state dir by default).
    Read once, when called."""
    table = load_workarounds(workarounds_path(directory))

    def lookup(host: Host) -> Mapping[str, datetime] | None:
        return table.get(host.name)

    return lookup


def record_workaround(
    host: str,
    *,
    setting: str,
    expires: datetime,
    run_id: str,
    journal: str,
    address: str,
    path: Path | None = None,
) -> None:
    entry = {"expires": _utc(expires).isoformat(), "run_id": run_id, "journal": journal, "address": address}
    with _locked(path or workarounds_path()) as data:
        data["hosts"].setdefault(host, {})[setting] = entry


def clear_workaround(host: str, *, setting: str, run_id: str | None = None, path: Path | None = None) -> bool:
    """Remove a host's workaround (only the one recorded by ``run_id`` when given)."""
    target = path or workarounds_path()
    if not target.exists():
        return False
    with _locked(target) as data:
        entry = data["hosts"].get(host, {}).get(setting)
        if entry is None or (run_id is not None and entry.get("run_id") != run_id):
            return False
        del data["hosts"][host][setting]
        if not data["hosts"][host]:
            del data["hosts"][host]
        return True


@contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        data = _read(path)
        original = copy.deepcopy(data)
        yield data
        # Workers clear on every verified ``required``: most of those find nothing to remove.
        if data != original:
            write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"psfleet": FORMAT, "hosts": {}}
    except OSError as exc:
        raise JournalError(f"cannot read workarounds: {exc.strerror}", file=path) from None
    try:
        data = json.loads(text)
        if (
            not isinstance(data, dict)
            or data.get("psfleet") != FORMAT
            or not isinstance(data.get("hosts"), dict)
        ):
            raise ValueError(f"not a psfleet {FORMAT} file")
        for settings in data["hosts"].values():
            for entry in settings.values():
                datetime.fromisoformat(entry["expires"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise JournalError(f"bad workarounds file: {exc}", file=path, line=1) from None
    return data


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
