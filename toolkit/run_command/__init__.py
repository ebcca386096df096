"""Ad-hoc commands on every host: ``psfleet run`` and :func:`toolkit.run`.

* :mod:`toolkit.run_command.command`: what is sent (script text or a cmdlet with typed parameters);
* :mod:`toolkit.run_command.writes`: whether it writes (decided by command verbs);
* :mod:`toolkit.run_command.runner`: the fan-out (:func:`run`, :class:`RunHooks`);
* :mod:`toolkit.run_command.results`: plain-data results (schema ``psfleet.run/1``), rendered by
  :mod:`toolkit.report.run` (table, json, ndjson, csv, markdown, junit).
"""

from __future__ import annotations

from toolkit.run_command.command import RunCommand, parse_param
from toolkit.run_command.results import CommandRun, HostRunResult, OutputObject, RunStatus
from toolkit.run_command.runner import RunHooks, WriteNotConfirmed, run, run_on_host
from toolkit.run_command.writes import WriteCheck, classify_cmdlet, classify_script

__all__ = [
    "CommandRun",
    "HostRunResult",
    "OutputObject",
    "RunCommand",
    "RunHooks",
    "RunStatus",
    "WriteCheck",
    "WriteNotConfirmed",
    "classify_cmdlet",
    "classify_script",
    "parse_param",
    "run",
    "run_on_host",
]
