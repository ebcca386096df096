"""The CLI as a new admin meets it: --version, help, completion, inventory list, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_cli
from toolkit.cli.app import COMMANDS, app, load_command

DATA = Path(__file__).resolve().parents[2] / "data" / "ansible"
EXAMPLES = Path(__file__).resolve().parents[3] / "inventory"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSFLEET_", "_PSFLEET"))}
    env["PSFLEET_CONFIG"] = ""
    env["PSFLEET_COMPLETION_CACHE"] = ""  # Typer answers (test_completion covers the fast path)
    env.update(extra)
    return env


def _psfleet(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toolkit.cli", *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        timeout=60,
        check=False,
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_cli(["--version"], capsys)
    assert code == 0
    assert out.startswith("psfleet ") and out.strip().split()[1][0].isdigit()


def _walk(command: Any, path: str = "psfleet") -> list[tuple[str, Any]]:
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found.extend(_walk(sub, f"{path} {name}"))
    return found


def _tree() -> list[tuple[str, Any]]:
    import typer

    return _walk(typer.main.get_command(app))


def test_every_option_has_help_and_a_type_users_know() -> None:
    missing, odd = [], []
    for path, command in _tree():
        for param in command.params:
            shown = param.param_type_name == "option" and not getattr(param, "hidden", False)
            if shown and not (param.help or "").strip():
                missing.append(f"{path} {param.opts[0]}")
        if path != "psfleet":
            text = command.get_help(command.make_context(path.split()[-1], [], resilient_parsing=True))
            odd += [
                f"{path}: {word}"
                for word in ("<list", "<int", "<str>", "<float", "<bool>", "<path")
                if word in text
            ]
    assert missing == []
    assert odd == []


def test_help_types_are_words(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_cli(["audit", "--help"], capsys)
    assert code == 0
    for shown in ("--forks INTEGER", "--timeout FLOAT", "-i, --inventory PATH", "-l, --limit TEXT"):
        assert shown in out
    assert "--no-input " in out and "--no-input BOOLEAN" not in out


@pytest.mark.parametrize("command", ["audit", "run", "remediate", "inventory list"])
def test_limit_help_names_intersection_and_regex(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run_cli([*command.split(), "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    assert "&pattern" in text and "~regex" in text and "group[0]" in text


def test_short_help_in_the_command_list_matches_each_command() -> None:
    for name, spec in COMMANDS.items():
        command = load_command(name)
        first = " ".join((command.help or "").split())
        assert first.split()[:5] == spec.short_help.split()[:5], name


def test_help_imports_no_command() -> None:
    answer = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "toolkit.cli", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert answer.returncode == 0
    assert "audit" in answer.stdout and "inventory" in answer.stdout
    modules = {line.split("|")[-1].strip() for line in answer.stderr.splitlines() if "|" in line}
    assert not {m for m in modules if m.startswith(("toolkit.lab", "pypsrp", "toolkit.transport"))}


def _complete(words: str, env: dict[str, str] | None = None) -> list[str]:
    parts = words.split(" ")
    answer = _psfleet(
        env=_env(
            COMP_WORDS=words, COMP_CWORD=str(len(parts) - 1), _PSFLEET_COMPLETE="complete_bash", **(env or {})
        )
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.split()


def test_completion_offers_formats_table_formats_and_inventory_names() -> None:
    assert _complete("psfleet audit --format ") == [
        "table",
        "json",
        "ndjson",
        "csv",
        "markdown",
        "junit",
        "prometheus",
    ]
    assert _complete("psfleet audit --format pro") == ["prometheus"]
    assert "prometheus" not in _complete("psfleet run --format ")  # audit only
    assert "github" in _complete("psfleet run --table-format gi")
    inventory = str(EXAMPLES / "ansible-example.ini")
    assert _complete(f"psfleet audit -i {inventory} --limit fs") == [
        "fs01.lab.example",
        "fs02.lab.example",
        "fs03.lab.example",
        "fs10.lab.example",
    ]
    assert _complete("psfleet audit --limit br", {"PSFLEET_INVENTORY": inventory}) == [
        "branch",
        "br01.lab.example",
    ]
    assert _complete("psfleet inven") == ["inventory"]


def test_completion_knows_every_tabulate_format() -> None:
    from tabulate import tabulate_formats

    from toolkit.cli.options import TABLE_FORMAT_NAMES

    assert sorted(tabulate_formats) == list(TABLE_FORMAT_NAMES)


def test_completion_imports_nothing_heavy() -> None:
    words = "psfleet audit --format "
    answer = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "toolkit.cli"],
        capture_output=True,
        text=True,
        env=_env(COMP_WORDS=words, COMP_CWORD="3", _PSFLEET_COMPLETE="complete_bash"),
        timeout=60,
        check=False,
    )
    modules = {line.split("|")[-1].strip() for line in answer.stderr.splitlines() if "|" in line}
    assert "table" in answer.stdout
    heavy = ("pydantic", "pypsrp", "toolkit.lab", "toolkit.fanout", "rich", "tabulate")
    assert not {m for m in modules if m.startswith(heavy)}


def test_inventory_list_json_gives_every_connection_setting_and_no_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PSFLEET_INVENTORY_BACKEND", "builtin")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "windows:\n"
        "  vars:\n"
        "    ansible_connection: psrp\n"
        "    ansible_user: LAB\\admin\n"
        "    ansible_password: Sup3r-Secret-Value\n"
        "    ansible_psrp_ca_cert: /etc/pki/lab.pem\n"
        "  hosts:\n"
        "    fs01:\n"
        "    fs02: {ansible_psrp_cert_validation: ignore}\n",
        encoding="utf-8",
    )
    os.chmod(inventory, 0o600)
    code, out, err = run_cli(["inventory", "list", "-i", str(inventory), "--format", "json"], capsys)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["fs01", "fs02"]
    fs01, fs02 = rows
    assert fs01["groups"] == ["windows"]
    assert (fs01["scheme"], fs01["port"], fs01["auth"]) == ("https", 5986, "negotiate")
    assert fs01["cert_validation"] is True and fs01["ca_file"] == "/etc/pki/lab.pem"
    assert fs02["cert_validation"] is False
    for key in ("connection_timeout", "read_timeout", "operation_timeout", "path", "negotiate_service"):
        assert key in fs01
    assert fs01["password_from"] == f"inventory:{inventory}:5"
    assert "Sup3r-Secret-Value" not in out + err
    assert "readable by group" not in err  # mode 600: no warning


def test_inventory_list_refuses_a_format_it_cannot_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        ["inventory", "list", "-i", str(EXAMPLES / "ansible-example.ini"), "--format", "csv"], capsys
    )
    assert code == 2
    assert out == ""
    assert (
        err.strip() == "psfleet: error: --format csv: has no effect on inventory list; choose table or json"
    )


def test_inventory_check_counts_and_lists_skipped_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    source = str(DATA / "yaml_nested" / "inventory.yml")
    code, _out, err = run_cli(["--inventory-backend", "builtin", "inventory", "check", "-i", source], capsys)
    assert code == 0, err
    assert "psfleet: skipped 1 host not on WinRM: ansible_connection is network_cli (--show-skipped" in err
    assert f"{source}: OK, 3 hosts" in err
    code, _out, err = run_cli(["inventory", "check", "-i", source, "--show-skipped"], capsys)
    assert f"  skipped sw01 ({source}:31): ansible_connection is network_cli; psfleet reaches" in err


def test_winrm_default_basic_over_http_is_refused_naming_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    source = str(DATA / "ini_mixed" / "hosts.ini")
    code, _out, err = run_cli(["--inventory-backend", "builtin", "inventory", "check", "-i", source], capsys)
    assert code == 2
    assert err.strip() == (
        f"{source}:2: loose.lab.ansible_winrm_transport (not set; winrm's default is basic): basic "
        "authentication over http is not encrypted; use https or set allow_unencrypted: true if you accept that"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: b: c\n", "{f}:1: invalid YAML at column 5: a ':' where no 'key: value' can start"),
        ("hosts:\n  a:\n    port: 1\n   b: 2\n", "{f}:4: invalid YAML at column 4: this line's indentation"),
        (
            "hosts:\n\ta: 1\n",
            "{f}:2: invalid YAML at column 1: a character that cannot begin a value (a tab?",
        ),
        ('hosts: {a: "x}\n', "{f}:2: invalid YAML at column 1: a quote or bracket is never closed"),
    ],
)
def test_yaml_errors_name_line_and_column_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(text, encoding="utf-8")
    code, _out, err = run_cli(["inventory", "check", "-i", str(path)], capsys)
    assert code == 2
    assert err.startswith(expected.replace("{f}", str(path))), err


@pytest.mark.parametrize("command", ["audit", "run", "inventory list", "inventory check"])
def test_inventory_backend_is_also_a_command_option(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*command.split(), "--inventory-backend", "nope", "-i", str(DATA)], capsys)
    assert code == 2
    assert (
        "--inventory-backend: unknown inventory backend 'nope'; choose one of: auto, ansible, builtin" in err
    )
    code, out, _err = run_cli([*command.split(), "--help"], capsys)
    assert "--inventory-backend auto|ansible|builtin" in out


def test_builtin_refusal_names_the_group_vars_file_as_given(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(DATA / "vault")
    code, _out, err = run_cli(
        ["inventory", "check", "--inventory-backend", "builtin", "-i", "hosts.ini"], capsys
    )
    assert code == 2
    assert err.startswith("group_vars/windows.yml:3: ansible_password: Ansible Vault value")
