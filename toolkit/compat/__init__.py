"""The only place where psfleet touches private modules or attributes of its dependencies.

Each module here wraps one dependency, and that dependency has an upper version bound in
pyproject.toml so a release that moves the private piece cannot break psfleet unnoticed:

- :mod:`toolkit.compat.pypsrp` (pypsrp <0.10): the requests session inside pypsrp's WSMan
  transport, hardened (no redirects, a response size cap, reads bounded by the host's
  deadline), and the serializer of a runspace pool (typed deserialization of output);
- :mod:`toolkit.compat.spnego`: the lean client's and the lab's NTLM/Kerberos pieces (its
  docstring says what and why);
- :mod:`toolkit.compat.psrpcore_server` (psrpcore <0.4): the lab's caching server runspace pool
  and the pipeline-state and receive-buffer calls psrpcore keeps private.
- :mod:`toolkit.compat.smbprotocol` (smbprotocol <1.18): its TCP transport with the message
  header checked and the size capped before a read (``diagnose validate-negotiate``).
- :mod:`toolkit.compat.typer_values` (typer <0.30): option values converted without pydantic
  where the answer is plain (Typer 0.29 imports pydantic for every command otherwise).

Nothing outside this package imports an underscore-prefixed module or attribute of a
dependency (tests/unit/test_no_private_imports.py scans toolkit/ for it). Nothing here imports
the transport either: the shims raise the refusals of :mod:`toolkit.errors`, which
:mod:`toolkit.transport.classify` classifies. The lean client's hand-cut PSRP framing uses
psrpcore's public API only and lives with it (:mod:`toolkit.transport.lean.fragments`).
"""
