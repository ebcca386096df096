"""CSV that a spreadsheet opens as data, never as formulas (CSV injection).

Host names, registry values, error messages and command output all come from hosts or
inventories psfleet does not control. A cell such as ``=HYPERLINK(...)`` or ``@SUM(...)``
would run as a formula when an auditor opens the report in Excel or LibreOffice. Following
OWASP's advice, every text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` (shown as text, not evaluated); plain numbers (``-1``, ``+5``)
are left as they are. Every CSV writer in psfleet goes through :func:`writer`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


class SafeWriter:
    """A :func:`csv.writer` whose rows are neutralised cell by cell."""

    def __init__(self, out: _Writable, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Writable, *, lineterminator: str = "\n") -> SafeWriter:
    """The CSV writer for every report (``lineterminator`` as :func:`csv.writer`)."""
    return SafeWriter(out, lineterminator=lineterminator)
