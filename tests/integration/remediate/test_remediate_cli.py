"""``psfleet remediate`` / ``psfleet rollback`` through the CLI: guardrails, confirmation,
workaround expiry seen by ``psfleet audit``, journal safety."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.remediate.helpers import SRV, WS, lab
from tests.support.cli import run_cli

pytestmark = pytest.mark.timeout(60)

HARDENED = f"""    registry:
      '{WS}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
      '{SRV}': {{RequireSecuritySignature: {{kind: DWord, value: 1}}}}
"""

GUARDED = (
    f"  - name: branch\n    profile: server2012r2\n{HARDENED}"
    f"  - name: modern\n    profile: server2019\n{HARDENED}"
    f"  - name: old\n    profile: win7\n{HARDENED}"
)
DISABLED = {name: {"secure_negotiate": "disabled"} for name in ("branch", "modern", "old")}


def _by_name(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    hosts = doc["hosts"]
    assert isinstance(hosts, list)
    return {h["name"]: h for h in hosts}


def test_disabling_secure_negotiate_needs_allow_insecure_and_only_on_9200_9600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, GUARDED, policies=DISABLED) as env:
        inv = str(env.inventory_path)
        code, out, _ = run_cli(["remediate", "-i", inv, "--check", "-f", "json"], capsys)
        hosts = _by_name(json.loads(out))
        assert code == 4
        branch = hosts["branch"]["checks"][0]  # type: ignore[index]
        assert branch["outcome"] == "blocked" and "--allow-insecure" in branch["reason"]
        modern = hosts["modern"]["checks"][0]  # type: ignore[index]
        assert modern["outcome"] == "not_applicable" and "require SMB signing instead" in modern["reason"]
        assert hosts["old"]["checks"][0]["outcome"] == "not_applicable"  # type: ignore[index]

        code, out, err = run_cli(
            ["remediate", "-i", inv, "--allow-insecure", "--expires", "12h", "--yes", "-f", "json"], capsys
        )
        assert code == 0, err
        assert env.value("branch", "secure_negotiate") == ("DWord", 0)
        assert env.value("modern", "secure_negotiate") is None
        journal = Path(json.loads(out)["run"]["journal"])
        intent = next(json.loads(line) for line in journal.read_text().splitlines() if '"intent"' in line)
        assert intent["workaround_expires"] and intent["after"] == {"kind": "DWord", "value": 0}
        registry = json.loads((tmp_path / "state" / "workarounds.json").read_text())
        assert set(registry["hosts"]) == {"branch"}

        # Not expired yet: the audit accepts the workaround.
        code, out, _ = run_cli(["audit", "-i", inv, "-f", "json"], capsys)
        assert code == 0
        assert "temporary workaround until" in _by_name(json.loads(out))["branch"]["checks"][0]["reason"]  # type: ignore[index]

        # Expired: the audit reports drift, and remediate restores required (no --allow-insecure).
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        registry["hosts"]["branch"]["secure_negotiate"]["expires"] = past
        (tmp_path / "state" / "workarounds.json").write_text(json.dumps(registry))
        code, out, _ = run_cli(["audit", "-i", inv, "-f", "json"], capsys)
        assert code == 4
        assert "expired" in _by_name(json.loads(out))["branch"]["checks"][0]["reason"]  # type: ignore[index]
        code, _, err = run_cli(["remediate", "-i", inv, "--yes"], capsys)
        assert code == 0, err
        assert env.value("branch", "secure_negotiate") == ("DWord", 1)
        assert json.loads((tmp_path / "state" / "workarounds.json").read_text())["hosts"] == {}


def test_refuses_without_a_terminal_or_with_json_unless_yes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, "  - name: a\n    profile: server2016\n") as env:
        before = env.state()
        inv = str(env.inventory_path)
        code, out, err = run_cli(["remediate", "-i", inv], capsys)  # pytest's stdin is not a TTY
        assert code == 2 and "pass --yes" in err and out == ""
        code, out, err = run_cli(["remediate", "-i", inv, "-f", "json"], capsys)
        assert code == 2 and "--format json cannot prompt" in err and out == ""
        assert env.state() == before


def test_journal_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with lab(tmp_path, "  - name: a\n    profile: server2016\n") as env:
        journal = tmp_path / "existing.jsonl"
        journal.write_text("keep me\n")
        code, _, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal)], capsys
        )
        assert code == 2 and "refusing to overwrite" in err
        assert journal.read_text() == "keep me\n"
        assert env.value("a", "server_signing") == ("DWord", 0)


def test_default_journal_lands_in_the_state_dir_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, "  - name: a\n    profile: win10\n") as env:
        code, out, err = run_cli(["remediate", "-i", str(env.inventory_path), "--yes"], capsys)
        assert code == 0, err
        journals = list((tmp_path / "state" / "journals").glob("remediate-*.jsonl"))
        assert len(journals) == 1
        assert env.user[1] not in journals[0].read_text()
        assert "new SMB connections" in err and "psfleet rollback --journal" in err
        assert "changed" in out

        code, out, err = run_cli(
            ["rollback", "--journal", str(journals[0]), "-i", str(env.inventory_path), "--yes"], capsys
        )
        assert code == 0, err
        assert env.value("a", "client_signing") == ("DWord", 0)
        assert list((tmp_path / "state" / "journals").glob("*.rollback-*.jsonl"))


def test_rollback_rejects_a_file_that_is_not_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with lab(tmp_path, "  - name: a\n    profile: win10\n") as env:
        bogus = tmp_path / "notes.txt"
        bogus.write_text('{"hello": 1}\n')
        code, _, err = run_cli(
            ["rollback", "--journal", str(bogus), "-i", str(env.inventory_path), "--yes"], capsys
        )
        assert code == 2
        assert f"{bogus}:1: not a psfleet journal" in err and len(err.strip().splitlines()) == 1


def test_rollback_tolerates_a_damaged_last_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with lab(tmp_path, "  - name: a\n    profile: server2022\n") as env:
        before = env.state()
        journal = tmp_path / "j.jsonl"
        code, _, err = run_cli(
            ["remediate", "-i", str(env.inventory_path), "--yes", "--journal", str(journal)], capsys
        )
        assert code == 0, err
        lines = journal.read_text().splitlines(keepends=True)
        journal.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # crash mid-append
        code, _, err = run_cli(
            ["rollback", "--journal", str(journal), "-i", str(env.inventory_path), "--yes"], capsys
        )
        assert code == 0, err
        assert f"{journal}:{len(lines)}: the journal is cut short there" in err
        assert "never sent" not in err
        assert env.state() == before
