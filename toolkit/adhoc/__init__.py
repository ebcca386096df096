"""Ad-hoc commands on every host: ``psfleet run`` and :func:`toolkit.run`.

* :mod:`toolkit.adhoc.command`: what is sent (script text or a cmdlet with typed parameters);
* :mod:`toolkit.adhoc.writes`: whether it writes (decided by command verbs);
* :mod:`toolkit.adhoc.runner`: the fan-out (:func:`run`, :class:`RunHooks`);
* :mod:`toolkit.adhoc.results`: plain-data results (schema ``psfleet.run/1``);
* :mod:`toolkit.adhoc.render`: table, json, ndjson, csv, markdown, junit.
"""

from __future__ import annotations

from toolkit.adhoc.command import AdhocCommand, parse_param
from toolkit.adhoc.render import ndjson_line, render_run
from toolkit.adhoc.results import AdhocRun, HostRunResult, OutputObject, RunStatus
from toolkit.adhoc.runner import RunHooks, WriteNotConfirmed, run, run_on_host
from toolkit.adhoc.writes import WriteCheck, classify_cmdlet, classify_script

__all__ = [
    "AdhocCommand",
    "AdhocRun",
    "HostRunResult",
    "OutputObject",
    "RunHooks",
    "RunStatus",
    "WriteCheck",
    "WriteNotConfirmed",
    "classify_cmdlet",
    "classify_script",
    "ndjson_line",
    "parse_param",
    "render_run",
    "run",
    "run_on_host",
]
