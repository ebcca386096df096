"""Remediation safety against the lab: the wrong inventory, two operators at once, a host
lease held by another run, a damaged journal, a journal that names values psfleet does not
own (issue 15 #1 #2 #5, issue 14 #2)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.remediate.helpers import SRV, WS, lab
from tests.support.cli import run_cli
from toolkit.inventory.loader import load_inventory
from toolkit.remediate import RemediateRun, read_journal, remediate, rollback
from toolkit.remediate.lease import LEASE_KEY, LEASE_NAME, LeaseInfo
from toolkit.remediate.model import RemediateStatus

pytestmark = pytest.mark.timeout(120)

DRIFTED = "".join(
    f"  - name: h{i}\n    profile: {p}\n" for i, p in enumerate(("server2019", "win10", "server2012r2"))
)


def _intents(journal: Path) -> list[dict[str, object]]:
    return [
        r
        for r in (json.loads(line) for line in journal.read_text().splitlines())
        if r.get("type") == "intent"
    ]


# -- 1. rollback against another inventory whose hosts share the names -------------------------


def test_rollback_refuses_hosts_the_inventory_places_elsewhere_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path / "one", DRIFTED) as first, lab(tmp_path / "two", DRIFTED) as second:
        journal = tmp_path / "j.jsonl"
        code, _, err = run_cli(
            ["remediate", "-i", str(first.inventory_path), "--yes", "--journal", str(journal)], capsys
        )
        assert code == 0, err
        for name in (
            "h0",
            "h1",
            "h2",
        ):  # the other fleet holds what remediation wrote: a rollback would "restore" it
            second.fleet.sim(name).registry.set(WS, "RequireSecuritySignature", "DWord", 1)
            second.fleet.sim(name).registry.set(SRV, "RequireSecuritySignature", "DWord", 1)
        untouched = second.state()

        code, out, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(second.inventory_path), "--yes", "-f", "json"],
            capsys,
        )
        assert code == 8, err
        assert second.state() == untouched  # nothing written on the machines that share the names
        for name in ("h0", "h1", "h2"):
            assert f"refused: {name}: the journal wrote to 127.0.0.1:" in err
        doc = json.loads(out)
        assert {h["status"] for h in doc["hosts"]} == {"error"}
        assert all("--force" in h["error"]["message"] for h in doc["hosts"])

        restored = first.state()
        code, _, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(first.inventory_path), "--yes"], capsys
        )
        assert code == 0, err
        assert first.state() != restored  # the right fleet is rolled back

        code, _, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(second.inventory_path), "--yes", "--force"],
            capsys,
        )
        assert "--force: rolling back anyway" in err


# -- 2. two operators at once ---------------------------------------------------------------------

MANY = "".join(f"  - name: c{i}\n    profile: server2019\n    latency_ms: 30\n" for i in range(8))


def _two_runs(
    env_inv: object, credentials: object, tmp_path: Path, *, same_box: bool
) -> tuple[RemediateRun, RemediateRun]:
    runs: dict[str, RemediateRun] = {}
    barrier = threading.Barrier(2)

    def go(name: str) -> None:
        barrier.wait()
        runs[name] = remediate(
            env_inv,  # type: ignore[arg-type]
            credentials=credentials,  # type: ignore[arg-type]
            journal=tmp_path / f"{name}.jsonl",
            lock_dir=tmp_path / ("locks" if same_box else f"locks-{name}"),
        )

    threads = [threading.Thread(target=go, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return runs["a"], runs["b"]


@pytest.mark.parametrize("same_box", [False, True], ids=["two-boxes", "same-box"])
@pytest.mark.parametrize("first", ["a", "b"])
def test_two_concurrent_remediations_never_journal_the_same_value_and_roll_back_in_any_order(
    tmp_path: Path, same_box: bool, first: str
) -> None:
    with lab(tmp_path, MANY) as env:
        before = env.state()
        run_a, run_b = _two_runs(env.inventory, env.credentials, tmp_path, same_box=same_box)
        runs = {"a": run_a, "b": run_b}
        written = {
            n: {(i["host"], i["setting"]) for i in _intents(tmp_path / f"{n}.jsonl")} for n in ("a", "b")
        }
        changed = {
            (h, k) for h, values in env.state().items() for k, v in values.items() if v != before[h][k]
        }
        assert written["a"] | written["b"] == changed  # every change journaled, by one run only
        assert not written["a"] & written["b"], "both runs journaled (and wrote) the same values"
        for name, run in runs.items():
            other = runs["b" if name == "a" else "a"]
            for host in run.hosts:
                assert host.status in (RemediateStatus.COMPLIANT, RemediateStatus.BUSY), (
                    host.name,
                    host.error,
                )
                if host.status is RemediateStatus.BUSY:
                    assert host.error is not None and other.run_id in host.error.message
        after = env.state()

        second = "b" if first == "a" else "a"
        rollback(tmp_path / f"{first}.jsonl", inventory=env.inventory, credentials=env.credentials)
        state = env.state()
        for host, setting in written[second]:  # the other run's verified changes are still there
            assert state[host][setting] == after[host][setting], (host, setting)
        rollback(tmp_path / f"{second}.jsonl", inventory=env.inventory, credentials=env.credentials)
        assert env.state() == before


def _plant_lease(env: object, host: str, run_id: str, expires: datetime) -> None:
    lease = LeaseInfo(run_id, expires.replace(microsecond=0), "elsewhere:1")
    env.fleet.sim(host).registry.set(LEASE_KEY, LEASE_NAME, "String", lease.text())  # type: ignore[attr-defined]


def test_a_host_leased_by_another_run_is_busy_and_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, DRIFTED) as env:
        before = env.state()
        _plant_lease(env, "h1", "20260101T000000Z-otherrun", datetime.now(UTC) + timedelta(minutes=10))
        code, out, err = run_cli(["remediate", "-i", str(env.inventory_path), "--yes", "-f", "json"], capsys)
        assert code == 8, err
        doc = {h["name"]: h for h in json.loads(out)["hosts"]}
        assert doc["h1"]["status"] == "busy"
        assert "20260101T000000Z-otherrun" in doc["h1"]["error"]["message"]
        assert "busy: h1: busy: run 20260101T000000Z-otherrun" in err
        assert env.state()["h1"] == before["h1"]
        assert doc["h0"]["status"] == "compliant" and env.state()["h0"] != before["h0"]
        # released at the end: only the planted lease is left
        assert env.fleet.sim("h0").registry.get_value(LEASE_KEY, LEASE_NAME) is None
        assert env.fleet.sim("h1").registry.get_value(LEASE_KEY, LEASE_NAME) is not None


def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    with lab(tmp_path, DRIFTED) as env:
        _plant_lease(env, "h1", "20260101T000000Z-deadrun", datetime.now(UTC) - timedelta(minutes=1))
        run = remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "j.jsonl")
        assert run.exit_code == 0, [(h.name, h.status, h.error) for h in run.hosts]
        assert env.fleet.sim("h1").registry.get_value(LEASE_KEY, LEASE_NAME) is None


def test_rollback_warns_when_a_later_journal_wrote_the_same_value(tmp_path: Path) -> None:
    with lab(tmp_path, DRIFTED) as env:
        first = remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "first.jsonl")
        assert first.exit_code == 0
        for name in ("h0", "h1", "h2"):  # someone sets them back, a second run fixes them again
            env.fleet.sim(name).registry.set(WS, "RequireSecuritySignature", "DWord", 0)
        second = remediate(env.inventory, credentials=env.credentials, journal=tmp_path / "second.jsonl")
        assert second.exit_code == 0
        run = rollback(tmp_path / "first.jsonl", inventory=env.inventory, credentials=env.credentials)
        warnings = [n for n in run.notes if n.startswith("warning:")]
        assert any(f"h0 client_signing was written again by run {second.run_id}" in w for w in warnings), (
            run.notes
        )


# -- 5. a damaged journal, --salvage ---------------------------------------------------------------


def _damage(journal: Path) -> tuple[int, int]:
    """A damaged middle line and a repeated run record; returns their line numbers."""
    lines = journal.read_text().splitlines()
    intent_lines = [i for i, line in enumerate(lines) if '"intent"' in line]
    damaged = intent_lines[1]
    lines[damaged] = lines[damaged][:40]
    lines.insert(intent_lines[-1], lines[0])  # a repeated header (two journals concatenated)
    journal.write_text("\n".join(lines) + "\n")
    return damaged + 1, intent_lines[-1] + 1


def test_salvage_restores_every_intact_intent_and_lists_the_skipped_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, DRIFTED) as env:
        before = env.state()
        journal = tmp_path / "j.jsonl"
        code, _, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal)], capsys
        )
        assert code == 0, err
        damaged, header = _damage(journal)
        lost = json.loads(
            journal.read_text().splitlines()[damaged - 2]
        )  # the intent before the damage is intact

        code, _, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(env.inventory_path), "--yes"], capsys
        )
        assert code == 2 and f"{journal}:{damaged}: damaged record" in err
        assert env.state() != before  # nothing restored

        code, out, err = run_cli(
            [
                "rollback",
                "--journal",
                str(journal),
                "-i",
                str(env.inventory_path),
                "--yes",
                "--salvage",
                "-f",
                "json",
            ],
            capsys,
        )
        assert code == 2, err
        assert f"skipped: {journal}:{damaged}: damaged record" in err
        assert f"skipped: {journal}:{header}: bad record: a second run record" in err
        doc = json.loads(out)
        assert doc["run"]["exit_code"] == 2 and len(doc["run"]["skipped_lines"]) == 2
        state = env.state()
        intact = [i for i in read_journal(journal, salvage=True).intents]
        for intent in intact:  # every intact intent is back at its prior value
            assert state[intent.host][intent.setting] == before[intent.host][intent.setting], intent
        assert lost["type"] == "intent"


# -- 14 #2: a journal that names values psfleet does not own ------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"path": r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Run", "name": "evil"},
            "is not a value psfleet manages",
        ),
        (
            {"before": {"kind": "Binary", "value": "00ff"}},
            "prior kind Binary is not one client_signing can have",
        ),
        ({"before": {"kind": "String", "value": "x" * 300}}, "prior text longer than 256"),
        ({"after": {"kind": "String", "value": "1"}}, "psfleet only writes DWord values"),
    ],
)
def test_rollback_refuses_a_journal_that_names_what_psfleet_does_not_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], message: str
) -> None:
    with lab(tmp_path, DRIFTED) as env:
        journal = tmp_path / "j.jsonl"
        code, _, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal)], capsys
        )
        assert code == 0, err
        lines = journal.read_text().splitlines()
        number = next(i for i, line in enumerate(lines) if '"client_signing"' in line and '"intent"' in line)
        record = json.loads(lines[number])
        record.update(change)
        lines[number] = json.dumps(record)
        journal.write_text("\n".join(lines) + "\n")
        after = env.state()
        code, _, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(env.inventory_path), "--yes"], capsys
        )
        assert code == 2
        assert f"{journal}:{number + 1}: bad record:" in err and message in err
        assert env.state() == after
        for host in env.fleet.hosts:
            assert (
                env.fleet.sim(host.name).registry.get_value(
                    r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Run", "evil"
                )
                is None
            )


def test_rollback_shows_the_exact_writes_and_journals_what_it_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, DRIFTED) as env:
        journal = tmp_path / "j.jsonl"
        code, _, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal)], capsys
        )
        assert code == 0, err
        target = tmp_path / "rb.jsonl"
        code, _, err = run_cli(
            [
                "rollback",
                "--journal",
                str(journal),
                "-i",
                str(env.inventory_path),
                "--yes",
                "--rollback-journal",
                str(target),
            ],
            capsys,
        )
        assert code == 0, err
        assert (
            f"Set-ItemProperty -Path '{SRV}' -Name 'RequireSecuritySignature' -Value 0 -Type 'DWord' -Force"
            in err
        )
        for intent in _intents(target):
            assert intent["path"] in (WS, SRV)
            assert str(intent["command"]).startswith(("Set-ItemProperty -Path", "Remove-ItemProperty -Path"))
            assert f"-Path '{intent['path']}' -Name '{intent['name']}'" in str(intent["command"])


def test_inventory_loader_is_the_same_for_both_labs(tmp_path: Path) -> None:
    """Guard for the mismatch test: two labs really give the same names, other ports."""
    with lab(tmp_path / "one", DRIFTED) as first, lab(tmp_path / "two", DRIFTED) as second:
        a = {h.name: h.transport.effective_port for h in load_inventory(first.inventory_path).hosts}
        b = {h.name: h.transport.effective_port for h in load_inventory(second.inventory_path).hosts}
        assert a.keys() == b.keys() and all(a[n] != b[n] for n in a)


# -- 6. a REG_EXPAND_SZ prior ------------------------------------------------------------------------

EXPANDING = (
    "  - name: x\n    profile: win10\n    registry:\n"
    f"      '{WS}': {{RequireSecuritySignature: {{kind: ExpandString, value: '%SystemRoot%'}}}}\n"
)


def test_an_expand_string_prior_is_journaled_unexpanded_and_restored_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, EXPANDING) as env:
        assert env.value("x", "client_signing") == ("ExpandString", "%SystemRoot%")
        journal = tmp_path / "j.jsonl"
        code, _, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal)], capsys
        )
        assert code == 0, err
        assert env.value("x", "client_signing") == ("DWord", 1)
        (intent,) = [i for i in _intents(journal) if i["setting"] == "client_signing"]
        assert intent["before"] == {"kind": "ExpandString", "value": "%SystemRoot%"}
        code, out, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(env.inventory_path), "--yes", "-f", "json"],
            capsys,
        )
        assert code == 0, err
        assert env.value("x", "client_signing") == ("ExpandString", "%SystemRoot%")
        assert "-Type 'ExpandString'" in err
        # a second rollback sees the exact prior (kind and unexpanded text) and changes nothing
        code, out, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(env.inventory_path), "--yes", "-f", "json"],
            capsys,
        )
        assert code == 0, err
        checks = json.loads(out)["hosts"][0]["checks"]
        assert {c["outcome"] for c in checks} == {"compliant"}
