"""Every renderer of psfleet, each reading only a run's plain data (never printing).

* :mod:`~toolkit.report.render`: ``render(run, fmt)`` for any run, by its schema (``toolkit.render``);
* :mod:`~toolkit.report.audit`: the host report of an audit, remediation or rollback, through
  :mod:`~toolkit.report.table` (table, Markdown), :mod:`~toolkit.report.machine` (JSON, NDJSON,
  CSV) and :mod:`~toolkit.report.junit`; :mod:`~toolkit.report.prometheus` and
  :mod:`~toolkit.report.html` for audits;
* :mod:`~toolkit.report.remediate`: the changes and restores tables and the terminal lines of
  remediate and rollback;
* :mod:`~toolkit.report.run` (``psfleet run``), :mod:`~toolkit.report.probe` (``probe smb``),
  :mod:`~toolkit.report.diagnose` (``diagnose validate-negotiate``),
  :mod:`~toolkit.report.listing` (baseline and inventory listings),
  :mod:`~toolkit.report.history` (the store's history);
* :mod:`~toolkit.report.model`: what renderers may read (protocols) and shared text helpers.

Runs of other packages are read by attribute (their types only under ``TYPE_CHECKING``):
nothing here imports remediate/, run_command/ or smb/.
"""
