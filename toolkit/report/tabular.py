"""Every human table of psfleet is drawn here: tabulate, with each cell shown as written.

tabulate reads any cell that looks like a number as a number and rewrites it (``"3.0"`` ->
``3``, ``"010"`` -> ``10``, ``"1e5"`` -> ``100000.0``) and right-aligns it. A tool that must
prove what it found may not do that to a dialect, a registry value, a host name or an answer
of ``psfleet run``. Here no cell is parsed; the columns a renderer declares as numbers (counts,
run ids, ports, exit codes, numeric values) are aligned as tabulate aligns numbers, so tables
of ordinary fleets are the same text as before, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

__all__ = ["text_table"]

#: A cell a number column may hold to be aligned as a number (a count, ``-3``, ``0.5``).
_NUMBER = re.compile(r"-?\d+(\.\d+)?\Z")

#: Formats that align every column alike whatever it holds (``pretty`` centres all cells,
#: ``colon_grid`` left-aligns them and reads its colons from an explicit ``colalign``).
_UNIFORM_FORMATS = frozenset({"pretty", "colon_grid"})


def text_table(
    rows: Sequence[Sequence[object]],
    headers: Sequence[str],
    *,
    tablefmt: str = "simple",
    numbers: Collection[int] = (),
) -> str:
    """``rows`` under ``headers`` in tabulate's ``tablefmt``, every cell shown as ``str(cell)``.

    ``numbers`` are the indices of columns that hold numbers: such a column is aligned as
    tabulate aligns numbers (right, on the decimal point) when every non-empty cell of it is a
    plain number, and as text otherwise (a history's ``-`` for a rollback), as tabulate did;
    its cells are never reformatted either. Every other column is text, left-aligned, even
    when all its cells look like numbers. Imports tabulate on first use (JSON and CSV output
    do not need it)."""
    from tabulate import tabulate

    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    aligns = ["decimal" if i in numbers and _all_numbers(cells, i) else "global" for i in range(len(headers))]
    colalign = aligns if "decimal" in aligns and tablefmt not in _UNIFORM_FORMATS else None
    return tabulate(cells, list(headers), tablefmt=tablefmt, disable_numparse=True, colalign=colalign)


def _all_numbers(rows: list[list[str]], column: int) -> bool:
    shown = [row[column] for row in rows if column < len(row) and row[column]]
    return bool(shown) and all(_NUMBER.match(cell) for cell in shown)
