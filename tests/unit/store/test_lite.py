"""The sqlite3 writer (toolkit.store.lite) against the SQLAlchemy one: the same rows, byte for
byte and type for type; it steps aside (writing nothing) whenever the SQLAlchemy store must
decide, and a failed write raises with SQLite's own words. The CLI records a run into an
existing store without importing SQLAlchemy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.integration.store.writers import audit_document
from toolkit.store import open_store
from toolkit.store.lite import record_sqlite
from toolkit.store.record import write_rows
from toolkit.store.revision import HEAD
from toolkit.store.rows import RUNS_TABLE, RunRows, run_rows
from toolkit.store.schema import metadata

TABLES = ("runs", "host_results", "check_results", "changes")


def _remediation() -> dict[str, Any]:
    doc = audit_document(3, drifted={"host-0001"}, down={"host-0002"})
    doc["schema"] = "psfleet.remediate/1"
    doc["run"].update(id="rem-20261130-1", mode="apply", journal="/var/lib/psfleet/fix.jsonl")
    doc["changes"] = {"changed": 1, "failed": 0}
    host = doc["hosts"][1]
    host["checks"][1]["outcome"] = "changed"
    host["changes"] = [
        {"id": "client_signing", "path": r"HKLM:\SYSTEM\X", "name": "RequireSecuritySignature",
         "before": {"kind": "DWord", "value": 0}, "after": {"kind": "DWord", "value": 1},
         "observed": None, "outcome": "changed", "command": "Set-ItemProperty"},
    ]  # fmt: skip
    host["batch"] = {"attempt": 1, "ünïcode": "naïve"}  # not a column: kept in detail
    return doc


def _probe() -> dict[str, Any]:
    return {
        "schema": "psfleet.probe/2",
        "run": {"started": "2026-11-30T10:00:00+00:00", "finished": "2026-11-30T10:00:01+00:00",
                "inventory": "/srv/fleet.yml", "psfleet_version": "0.1.0", "exit_code": 8,
                "interrupted": True},
        "summary": {"probed": 1, "timeout": 1, "total": 2},
        "hosts": [
            {"name": "a", "address": "10.0.0.1", "port": 445, "status": "probed", "dialect": "3.1.1",
             "signing": "Message signing enabled but not required", "relay_target": True,
             "probe": {"duration_s": 0.004, "per_dialect": []}, "error": None},
            {"name": "b", "address": "10.0.0.2", "port": 445, "status": "timeout", "dialect": None,
             "probe": None, "error": {"kind": "timeout", "message": "10.0.0.2:445: no answer within 10s"}},
        ],
    }  # fmt: skip


def _rows(document: dict[str, Any], kind: str) -> RunRows:
    return run_rows(
        document,
        kind=kind,
        groups={"host-0000": ["hq", "web"], "a": ["branch"]},
        sites={"host-0001": "paris"},
        operator="ann",
        workstation="admin-ws",
        recorded="2026-11-30T10:00:02+00:00",
    )


CASES = [
    pytest.param(
        lambda: _rows(audit_document(4, drifted={"host-0001"}, down={"host-0003"}), "audit"), id="audit"
    ),
    pytest.param(lambda: _rows(_remediation(), "remediate"), id="remediate"),
    pytest.param(lambda: _rows(_probe(), "probe"), id="probe"),
]


def _dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, each value with SQLite's storage class."""
    with sqlite3.connect(db) as conn:
        out = {}
        for table in TABLES:
            names = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            cells = ", ".join(f'"{n}", typeof("{n}")' for n in names)
            out[table] = conn.execute(f'SELECT {cells} FROM "{table}" ORDER BY id').fetchall()
        return out


def _new_store(path: Path) -> Path:
    open_store(str(path)).close()
    return path


@pytest.mark.parametrize("make_rows", CASES)
def test_both_writers_store_the_same_rows(tmp_path: Path, make_rows: Any) -> None:
    rows, then = make_rows(), _rows(_probe(), "probe")  # a second run: ids count on
    alchemy, lite = _new_store(tmp_path / "alchemy.db"), _new_store(tmp_path / "lite.db")
    with open_store(str(alchemy)) as store:
        assert [write_rows(store, rows), write_rows(store, then)] == [1, 2]
    assert [record_sqlite(str(lite), rows), record_sqlite(str(lite), then)] == [1, 2]
    written = _dump(lite)
    assert written == _dump(alchemy)
    assert len(written["host_results"]) == rows.run["hosts_total"] + 2


def test_each_row_key_is_a_column_of_the_schema() -> None:
    rows = _rows(_remediation(), "remediate")
    assert set(rows.run) | {"id"} == set(metadata.tables[RUNS_TABLE].columns.keys())
    for table, table_rows in rows.tables:
        assert table_rows, table
        assert set(table_rows[0]) | {"id", "run_id"} == set(metadata.tables[table].columns.keys()), table


def test_a_run_written_by_sqlite3_reads_back_through_the_store(tmp_path: Path) -> None:
    from toolkit.store.query import host_timeline, list_runs

    db = _new_store(tmp_path / "s.db")
    assert record_sqlite(str(db), _rows(_remediation(), "remediate")) == 1
    with open_store(str(db)) as store:
        (run,) = list_runs(store)
        assert (run.kind, run.mode, run.counts) == (
            "remediate",
            "apply",
            {"compliant": 1, "drift": 1, "unreachable": 1},
        )
        (entry,) = host_timeline(store, "host-0001")
    assert [(c["setting"], c["journal_run_id"]) for c in entry.changes] == [
        ("client_signing", "rem-20261130-1")
    ]


@pytest.mark.parametrize("name", ["a?b.db", "a%41b.db", "a#b c%.db"])
def test_both_writers_use_the_file_named_even_with_url_characters(tmp_path: Path, name: str) -> None:
    db = tmp_path / name
    _new_store(db)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # not "a", not "aAb.db"
    assert record_sqlite(str(db), _rows(_probe(), "probe")) == 1
    with open_store(str(db)) as store:
        assert write_rows(store, _rows(_remediation(), "remediate")) == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT kind FROM runs ORDER BY id").fetchall() == [("probe",), ("remediate",)]


def _at_revision(path: Path, revision: str) -> Path:
    _new_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    return path


@pytest.mark.parametrize(
    "prepare",
    [
        pytest.param(lambda p: p, id="missing file"),
        pytest.param(lambda p: (p.write_bytes(b""), p)[1], id="empty file"),
        pytest.param(lambda p: (p.write_text("not a database\n" * 100), p)[1], id="not a database"),
        pytest.param(lambda p: _at_revision(p, "0000"), id="older schema"),
        pytest.param(lambda p: _at_revision(p, "9999"), id="newer schema"),
    ],
)
def test_it_steps_aside_without_writing_when_the_store_must_decide(tmp_path: Path, prepare: Any) -> None:
    path = prepare(tmp_path / "s.db")
    before = path.read_bytes() if path.exists() else None
    assert record_sqlite(str(path), _rows(_probe(), "probe")) is None
    assert (path.read_bytes() if path.exists() else None) == before  # not created, not changed
    if before and path.stat().st_size > 2000:  # a real store at another revision: still no run
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_urls_are_for_the_sqlalchemy_store(tmp_path: Path) -> None:
    db = _new_store(tmp_path / "s.db")
    for url in (f"sqlite:///{db}", "postgresql://u@h/db"):
        assert record_sqlite(url, _rows(_probe(), "probe")) is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_a_locked_store_raises_after_the_busy_timeout_and_keeps_nothing(tmp_path: Path) -> None:
    db = _new_store(tmp_path / "s.db")
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            record_sqlite(str(db), _rows(_probe(), "probe"), timeout=0.2)
    finally:
        holder.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM host_results").fetchone() == (0,)


def test_a_store_locked_even_for_readers_raises_instead_of_stepping_aside(tmp_path: Path) -> None:
    db = _new_store(tmp_path / "s.db")
    with sqlite3.connect(db, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")  # a rollback journal: a writer blocks readers
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # not None: no second wait elsewhere
            record_sqlite(str(db), _rows(_probe(), "probe"), timeout=0.2)
    finally:
        holder.close()


def test_a_failed_insert_leaves_no_part_of_the_run(tmp_path: Path) -> None:
    db = _new_store(tmp_path / "s.db")
    rows = _rows(_remediation(), "remediate")
    assert record_sqlite(str(db), rows) == 1
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):  # the same run id twice
        record_sqlite(str(db), rows)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM host_results").fetchone() == (3,)


def test_the_cli_records_into_an_existing_store_without_sqlalchemy(tmp_path: Path) -> None:
    db = _new_store(tmp_path / "s.db")
    code = textwrap.dedent(
        f"""
        import json, sys
        from toolkit.cli.record import open_early, record
        open_early({str(db)!r}, no_record=False)
        doc = json.loads(sys.stdin.read())
        run_id = record(lambda: doc, kind="probe", db={str(db)!r}, no_record=False, warn=print)
        print(run_id, sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(_probe()), capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["1", "[]"], done.stdout + done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT kind, hosts_total FROM runs").fetchall() == [("probe", 2)]
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)


def test_a_store_path_that_cannot_be_resolved_costs_one_warning_not_the_run(tmp_path: Path) -> None:
    from toolkit.cli.record import open_early, record

    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    db = str(tmp_path / "a" / "psfleet.db")  # a symlink loop: the path cannot be resolved
    warnings: list[str] = []
    open_early(db, no_record=False)  # must not raise: the command has not probed yet
    assert record(_probe, kind="probe", db=db, no_record=False, warn=warnings.append) is None
    assert len(warnings) == 1 and "run not recorded" in warnings[0], warnings


def test_runs_started_in_the_same_second_are_listed_in_the_order_they_ran(tmp_path: Path) -> None:
    """A remediation's start has milliseconds, an audit's whole seconds: an audit started in
    the same second after a remediation is listed after it (it used to come first, as text)."""
    from toolkit.store.query import list_runs

    remediation, audit = _remediation(), audit_document(3, drifted=set(), down=set())
    remediation["run"]["started"] = "2026-11-30T12:00:05.300+00:00"
    audit["run"]["started"] = "2026-11-30T12:00:05+00:00"
    db = _new_store(tmp_path / "s.db")
    record_sqlite(str(db), _rows(remediation, "remediate"))
    record_sqlite(str(db), _rows(audit, "audit"))
    with open_store(str(db)) as store:
        assert [(r.kind, r.started) for r in list_runs(store)] == [
            ("remediate", "2026-11-30T12:00:05+00:00"),
            ("audit", "2026-11-30T12:00:05+00:00"),
        ]
