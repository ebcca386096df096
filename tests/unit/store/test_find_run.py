"""``diff``/``report`` take a run by its number or by a remediation's run id (or a prefix of it).
A number that names no run used to fall through to the id prefixes, and an audit's stored id is
random hex: ``diff 42`` picked whichever audit's id began with "42" (test_store's
``find_run(store, "42")`` failed about once in a hundred runs that way)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.store.writers import audit_document
from toolkit.errors import UsageError
from toolkit.store import open_store, record_run
from toolkit.store.query import find_run


def test_a_number_that_names_no_run_is_never_an_audits_random_id(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        audit = audit_document(2, started=datetime(2026, 11, 1, tzinfo=UTC))
        audit["run"]["id"] = "42" + "0" * 30  # what an audit's random id may look like
        record_run(store, audit, kind="audit")
        fix = audit_document(2, started=datetime(2026, 11, 2, tzinfo=UTC))
        fix["run"]["id"] = "20261102T091152Z-0421d6b6"
        record_run(store, fix, kind="remediate")
        with pytest.raises(UsageError, match="no run '42'"):
            find_run(store, "42")
        assert find_run(store, "1").id == 1 and find_run(store, "#2").id == 2
        assert find_run(store, "20261102").id == 2  # a date prefix of a remediation's run id
        assert find_run(store, "20261102T0911").id == 2
        assert find_run(store, "4200000000").id == 1  # long enough to be an id, not a number
