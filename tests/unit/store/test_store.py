"""The store without a fleet: schema and migrations agree, locations, durations, recording a
document and reading it back, diff categories, the renderers' escaping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.integration.store.writers import audit_document
from toolkit.errors import UsageError
from toolkit.report.html import render_html
from toolkit.report.prometheus import render_prometheus
from toolkit.store import open_store, record_run
from toolkit.store.db import MIGRATIONS, redacted
from toolkit.store.location import choose_db, default_db_path, to_url
from toolkit.store.query import compare_runs, find_run, host_timeline, last_two_audits, list_runs, parse_since
from toolkit.store.report_data import report_data
from toolkit.store.schema import HEAD, metadata


def test_head_is_the_newest_migration_and_migrations_build_the_schema(tmp_path: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD
    with open_store(str(tmp_path / "s.db")) as store, store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []  # the migrations create exactly the tables, columns and indexes of schema.py


def test_where_the_store_is() -> None:
    env = {"HOME": "/home/ann"}
    assert default_db_path(env) == Path("/home/ann/.local/state/psfleet/psfleet.db")
    assert default_db_path({**env, "XDG_STATE_HOME": "/st"}) == Path("/st/psfleet/psfleet.db")
    assert choose_db(None, config_value="/cfg.db", env=env) == "/cfg.db"
    assert choose_db(None, config_value="/cfg.db", env={**env, "PSFLEET_DB": "/env.db"}) == "/env.db"
    assert choose_db("/opt.db", config_value="/cfg.db", env={**env, "PSFLEET_DB": "/env.db"}) == "/opt.db"
    assert to_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert to_url("/x/y.db") == "sqlite:////x/y.db"
    assert redacted("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_since_durations_and_dates() -> None:
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_since("30d", now=now) == "2026-10-31T12:00:00+00:00"
    assert parse_since("12h", now=now) == "2026-11-30T00:00:00+00:00"
    assert parse_since("2026-11-01", now=now) == "2026-11-01T00:00:00+00:00"
    with pytest.raises(UsageError, match="not a duration"):
        parse_since("last week", now=now)


def _store_with_three_audits(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = open_store(str(tmp_path / "s.db"))
    day = datetime(2026, 11, 1, tzinfo=UTC)
    record_run(store, audit_document(5, started=day), kind="audit")
    record_run(store, audit_document(5, started=day + timedelta(days=1), drifted={"host-0001"}), kind="audit")
    later = audit_document(5, started=day + timedelta(days=2), down={"host-0002"}, drifted={"host-0001"})
    later["hosts"] = [h for h in later["hosts"] if h["name"] != "host-0004"]  # decommissioned
    later["hosts"][0]["checks"][0]["actual"] = "RequireSecureNegotiate=absent"  # same verdict, other value
    record_run(store, later, kind="audit")
    return store


def test_recorded_runs_come_back_with_their_counts(tmp_path: Path) -> None:
    with _store_with_three_audits(tmp_path) as store:
        runs = list_runs(store)
        assert [r.counts for r in runs] == [
            {"compliant": 5},
            {"compliant": 4, "drift": 1},
            {"compliant": 3, "drift": 1, "unreachable": 1},  # the document's summary, as recorded
        ]
        assert [r.counts for r in list_runs(store, check="client_signing")][1] == {"compliant": 4, "drift": 1}
        assert [r.hosts for r in list_runs(store, hosts=["host-0001"])] == [1, 1, 1]
        assert list_runs(store, last=1)[0].id == 3
        assert find_run(store, "#2").id == 2
        with pytest.raises(UsageError, match="no run"):
            find_run(store, "42")
        timeline = host_timeline(store, "host-0001")
        assert [e.status for e in timeline] == ["compliant", "drift", "drift"]


def test_diff_categories(tmp_path: Path) -> None:
    with _store_with_three_audits(tmp_path) as store:
        a, b = last_two_audits(store)
        assert (a.id, b.id) == (2, 3)
        diff = compare_runs(store, a, b)
        found = {(e.category, e.host, e.check) for e in diff.entries}
        assert found == {
            ("unreachable", "host-0002", ""),
            ("removed", "host-0004", ""),
            ("changed", "host-0000", "secure_negotiate"),
        }
        assert diff.exit_code == 4
        first = compare_runs(store, find_run(store, "1"), find_run(store, "2"))
        assert {(e.category, e.host) for e in first.entries} == {("drifted", "host-0001")}
        back = compare_runs(store, find_run(store, "3"), find_run(store, "1"))
        assert {e.category for e in back.entries} == {"back", "fixed", "added", "changed"}
        assert back.exit_code == 0


def test_prometheus_text_counts_and_escapes() -> None:
    doc = audit_document(3, drifted={"host-0001"}, down={"host-0002"})
    doc["hosts"][0]["name"] = 'odd"name\\x'
    text = render_prometheus(doc)
    assert 'psfleet_audit_hosts{status="drift"} 1' in text
    assert 'psfleet_audit_checks{check="client_signing",status="drift"} 1' in text
    assert 'psfleet_audit_host_status{host="odd\\"name\\\\x",status="compliant"} 1' in text
    assert "psfleet_audit_run_duration_seconds 5" in text
    assert "# TYPE psfleet_audit_exit_code gauge\npsfleet_audit_exit_code 12" in text
    assert text.endswith("\n")


def test_html_escapes_what_hosts_report_and_links_rules(tmp_path: Path) -> None:
    doc = audit_document(2, drifted={"host-0001"})
    doc["hosts"][1]["checks"][1]["reason"] = "<script>alert(1)</script>"
    with open_store(str(tmp_path / "s.db")) as store:
        record_run(store, doc, kind="audit", groups={"host-0000": ["hq"]}, sites={"host-0001": "paris"})
        data = report_data(store, since=None)
    worst = [(g["kind"], g["group"], g["drift"]) for g in data["groups"]]
    assert worst.index(("site", "paris", 1)) < worst.index(("group", "hq", 0))  # worst first
    html = render_html(data, facts_url="https://docs.example/windows-facts.md")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://docs.example/windows-facts.md#signing-client-value"' in html
    assert '<b id="count-drift">1</b>' in html
    assert "<td>site paris</td>" in html
    assert json.dumps(data)  # plain data


def test_the_config_file_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from toolkit.cli.record import chosen_db

    config = tmp_path / "config.toml"
    config.write_text('db = "postgresql://psfleet@db.example.org/psfleet"\n')
    monkeypatch.setenv("PSFLEET_CONFIG", str(config))
    monkeypatch.delenv("PSFLEET_DB", raising=False)
    assert chosen_db(None) == "postgresql://psfleet@db.example.org/psfleet"
    monkeypatch.setenv("PSFLEET_DB", "/env.db")
    assert chosen_db(None) == "/env.db"
    assert chosen_db("/opt.db") == "/opt.db"
    config.write_text("db = 5\n")
    assert chosen_db(None) == "/env.db"  # a bad file was reported by the command; not fatal here
