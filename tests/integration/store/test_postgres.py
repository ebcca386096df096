"""The store on a real PostgreSQL server (tests/support/postgres.py): migrations from an
empty database, two writers at once, psfleet audit/history with a postgresql:// URL, and a
server that is not there (the run completes; one warning, without the password)."""

from __future__ import annotations

import json

from sqlalchemy import func, inspect, select

from tests.integration.store.concurrency import two_writers
from tests.integration.store.conftest import Story
from tests.support.postgres import PostgresServer, free_port
from toolkit.store import open_store
from toolkit.store.db import current_revision
from toolkit.store.schema import HEAD, check_results, host_results, runs


def test_migrations_create_every_table_in_an_empty_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.database("migrate_empty")
    with open_store(url) as store, store.read() as conn:
        assert current_revision(conn) == HEAD
        tables = set(inspect(conn).get_table_names())
    assert {"runs", "host_results", "check_results", "changes", "alembic_version"} <= tables
    with open_store(url) as again, again.read() as conn:  # an up-to-date store is left alone
        assert current_revision(conn) == HEAD


def test_two_writers_at_once_from_an_empty_database(postgres_server: PostgresServer) -> None:
    url = postgres_server.database("two_writers")
    password = postgres_server.password
    no_password = url.replace(f":{password}@", "@")
    two_writers(no_password, runs=8, hosts=40, env={"PGPASSWORD": password})
    with open_store(url) as store, store.read() as conn:
        operators = sorted(r[0] for r in conn.execute(select(runs.c.operator)))
        hosts = conn.execute(select(func.count()).select_from(host_results)).scalar_one()
        checks = conn.execute(select(func.count()).select_from(check_results)).scalar_one()
    assert operators == sorted([f"alice-{n}" for n in range(8)] + [f"bob-{n}" for n in range(8)])
    assert hosts == 16 * 40 and checks == 16 * 40 * 3


def test_audit_records_to_a_postgresql_url_and_history_reads_it(
    story: Story, postgres_server: PostgresServer
) -> None:
    url = postgres_server.database("cli").replace(f":{postgres_server.password}@", "@")
    env = {"PGPASSWORD": postgres_server.password}
    audit = story.psfleet("audit", "-i", str(story.inventory), "--db", url, "-f", "json", env=env)
    assert audit.code == 12, audit.err  # the story's fleet: one drifted, one down
    assert "not recorded" not in audit.err
    history = story.psfleet("history", "--db", url, "-f", "json", env=env)
    assert history.code == 0, history.err
    (run,) = json.loads(history.out)["runs"]
    assert run["counts"] == {"compliant": 2, "drift": 1, "unreachable": 1}


def test_an_unreachable_server_leaves_the_run_whole_with_one_warning(story: Story) -> None:
    secret = "s3cret-Passw0rd"
    url = f"postgresql://psfleet:{secret}@127.0.0.1:{free_port()}/psfleet"
    result = story.psfleet("audit", "-i", str(story.inventory), "-f", "json", env={"PSFLEET_DB": url})
    assert result.code == 12
    assert json.loads(result.out)["summary"]["total"] == 4  # the report is whole
    warnings = [line for line in result.err.splitlines() if "not recorded" in line]
    assert len(warnings) == 1, result.err
    assert "psfleet: warning: run not recorded in postgresql://psfleet:***@127.0.0.1" in warnings[0]
    assert secret not in result.err


def test_a_locked_or_read_only_postgresql_store_leaves_the_run_whole(
    story: Story, postgres_server: PostgresServer
) -> None:
    import psycopg

    url = postgres_server.database("locked")
    open_store(url).close()
    baseline = story.runs["audit2"]
    env = {"PSFLEET_DB": url, "PSFLEET_DB_BUSY_TIMEOUT": "1"}
    with psycopg.connect(url) as holder:  # another session holds the runs table
        holder.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
        locked = story.psfleet("audit", "-i", str(story.inventory), "-f", "json", env=env)
    assert locked.code == baseline.code == 12
    assert json.loads(locked.out)["summary"] == json.loads(baseline.out)["summary"]
    (warning,) = [line for line in locked.err.splitlines() if "not recorded" in line]
    assert "lock timeout" in warning and postgres_server.password not in locked.err

    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute("ALTER DATABASE locked SET default_transaction_read_only = on")
    read_only = story.psfleet("audit", "-i", str(story.inventory), "-f", "json", env=env)
    assert read_only.code == 12
    (warning,) = [line for line in read_only.err.splitlines() if "not recorded" in line]
    assert "read-only transaction" in warning
    history = story.psfleet("history", "-f", "json", env=env)  # reading still works
    assert history.code == 0 and json.loads(history.out)["runs"] == []
