"""What renderers may read: the read-only shape shared by audit and remediation runs.

Renderers depend on these protocols, not on :class:`toolkit.results.AuditRun`, so a
remediation run renders through the same code as long as it has ``hosts``, ``summary``,
``schema`` and ``to_dict()``. Statuses are read as plain strings (the enums are StrEnums).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from toolkit.report.jsontext import dumps_indented
from toolkit.results import OsInfo


class CheckView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def expected(self) -> str: ...
    @property
    def actual(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def rule(self) -> str: ...


class ErrorView(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def message(self) -> str: ...


class HostView(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def os(self) -> OsInfo | None: ...
    @property
    def checks(self) -> Sequence[CheckView]: ...
    @property
    def error(self) -> ErrorView | None: ...

    def to_dict(self) -> dict[str, Any]: ...


class Run(Protocol):
    @property
    def hosts(self) -> Sequence[HostView]: ...
    @property
    def check_ids(self) -> Sequence[str]:
        """The checks the run judged, in display order (it knows them; report/ does not)."""
        ...

    @property
    def summary(self) -> Mapping[str, int]: ...
    @property
    def schema(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


#: Statuses that mean "assessed" (anything else on a host is a classified failure).
ASSESSED = frozenset({"compliant", "drift"})


def check_ids(run: Run, preferred: Sequence[str] = ()) -> tuple[str, ...]:
    """Check ids in display order: ``preferred`` first, then any others in first-seen order.
    ``preferred`` ids are kept even when no host has them (unassessed hosts only), but not
    when the hosts were judged against other checks only (another baseline)."""
    seen = {check.id for host in run.hosts for check in host.checks}
    ids = list(preferred) if not seen or seen & set(preferred) else []
    for host in run.hosts:
        for check in host.checks:
            if check.id not in ids:
                ids.append(check.id)
    return tuple(ids)


def short_actual(actual: str) -> str:
    """``Name=0 (DWord); Other=...`` -> ``0 (DWord)``: the first value, without its name."""
    first = actual.split(";", 1)[0].strip()
    _, sep, value = first.partition("=")
    return value.strip() if sep else first


def one_line(text: str) -> str:
    """Collapse whitespace (remote error messages can span lines)."""
    return " ".join(text.split())


def printable(text: str) -> str:
    """Replace control and other unprintable characters with ``?`` so that text from a
    remote host cannot drive the terminal (escape sequences) or break a table."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def summary_line(run: Run) -> str:
    """``3 hosts: 1 compliant, 1 drift, 1 unreachable`` (zero counts left out)."""
    counts = dict(run.summary)
    total = counts.pop("total", len(run.hosts))
    parts = [f"{n} {status}" for status, n in counts.items() if n]
    noun = "host" if total == 1 else "hosts"
    return f"{total} {noun}: " + (", ".join(parts) if parts else "none")


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot carry at all (control characters from
    remote error messages) replaced by U+FFFD; ElementTree escapes the rest."""
    return _NOT_XML.sub("\ufffd", text)


def markdown_cell(text: str) -> str:
    """``text`` safe in a Markdown table cell: backslashes and pipes escaped."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


def dumps(data: Any, *, indent: int | None) -> str:
    """JSON as every renderer writes it: UTF-8 text, compact separators without indent,
    anything unknown as its string."""
    if indent:  # the same text as json.dumps(indent=...), without its slow pure-Python path
        return dumps_indented(data, indent=indent, default=str)
    return json.dumps(data, indent=indent, ensure_ascii=False, separators=(",", ":"), default=str)
