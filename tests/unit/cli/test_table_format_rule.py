"""``--table-format`` shapes ``--format table`` only: every command that has it refuses it with
another ``--format`` before anything else happens (exit 2, one line, nothing on stdout), and
``probe smb`` uses it for its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli

#: A host nobody listens for (port 1 on loopback): a command that went on would report it.
INVENTORY = """\
psfleet: 1
hosts:
  nobody:
    address: 127.0.0.1
    port: 1
    smb_port: 1
    scheme: https
    auth: ntlm
    username: admin
    password_env: PSFLEET_TEST_NO_SUCH_PASSWORD
"""

COMMANDS = {
    "audit": ["audit"],
    "run": ["run", "Get-Date"],
    "remediate": ["remediate"],
    "remediate --check": ["remediate", "--check"],
    "rollback": ["rollback", "--journal", "{tmp}/no-such-journal.jsonl"],
    "probe smb": ["probe", "smb"],
}


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yml"
    path.write_text(INVENTORY)
    return path


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_table_format_with_another_format_is_a_usage_error(
    command: str, fmt: str, inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.replace("{tmp}", str(inventory.parent)) for a in COMMANDS[command]]
    code, out, err = run_cli([*args, "-i", str(inventory), "--format", fmt, "--table-format", "grid"], capsys)
    assert (code, out) == (2, ""), err
    assert err.strip() == (
        f"psfleet: error: --table-format: has no effect with --format {fmt} (it only shapes --format table)"
    )


def test_probe_smb_draws_its_table_in_the_table_format(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["probe", "smb", "-i", str(inventory), "--timeout", "2", "--no-record", "--table-format", "grid"],
        capsys,
    )
    assert code == 8, err  # nobody answers on port 1
    lines = out.splitlines()
    assert lines[0].startswith("+-") and lines[1].startswith("| HOST")
    assert any(line.startswith("| nobody ") and "unreachable" in line for line in lines)
