"""Bad input through the real CLI (``toolkit.cli.main`` in-process): random inventories (native
YAML, Ansible INI/YAML), lab specs and option values. Whatever the input, psfleet either runs
(exit 0/4/8/12, a complete report) or prints one clean line naming the file/line or option and
exits 2; never a traceback, never exit 1, and with ``--output`` a failed run leaves the file
as it was (absent or unchanged).

The audit itself is replaced by a stub (every host ``unreachable`` at once) so that random
valid inventories never touch the network; everything before and after it is the real code.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.inventory.test_properties import documents, ini_lines
from toolkit.cli import main
from toolkit.inventory.model import Inventory
from toolkit.results import AuditRun, ErrorKind, HostError, HostResult, HostStatus

SETTINGS = settings(
    # CI runs 120 per test; PSFLEET_HYPOTHESIS_EXAMPLES=2000 for a long local hunt.
    max_examples=int(os.environ.get("PSFLEET_HYPOTHESIS_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PREVIOUS = "previous report\n"
OK_CODES = {0, 4, 8, 12}


def _stub_audit(inventory: Inventory, **_: Any) -> AuditRun:
    hosts = tuple(
        HostResult(
            h.name, h.address, HostStatus.UNREACHABLE, error=HostError(ErrorKind.UNREACHABLE, "stub", False)
        )
        for h in inventory.hosts
    )
    return AuditRun(hosts=hosts, started="s", finished="f", inventory=inventory.source, version="test")


@contextmanager
def _no_network() -> Iterator[None]:
    with mock.patch("toolkit.api.audit", _stub_audit):  # audit_cmd imports it when it runs
        yield


def run_cli(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        with _no_network():
            main(list(argv))
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert isinstance(code, int), code
    return code, out, err


def assert_clean(code: int, out: str, err: str, *, mentions: Sequence[str]) -> None:
    """Either a normal exit, or one clean line mentioning one of ``mentions`` and exit 2."""
    assert "Traceback" not in out + err
    assert code != 1, err
    assert code in OK_CODES | {2}, (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("psfleet: error: "), err
        assert any(m in lines[0] for m in mentions), (mentions, lines[0])


def _with_output(argv: list[str], folder: Path, existing: bool) -> tuple[list[str], Path]:
    output = folder / "report.out"
    if existing:
        output.write_text(PREVIOUS, encoding="utf-8")
    return [*argv, "--output", str(output)], output


def assert_output(code: int, output: Path, existing: bool, fmt: str) -> None:
    if code == 2:
        if existing:
            assert output.read_text(encoding="utf-8") == PREVIOUS, "a failed run changed --output"
        else:
            assert not output.exists(), "a failed run created --output"
        assert not list(output.parent.glob(".report.out*")), "a temp file was left behind"
    else:
        text = output.read_text(encoding="utf-8")
        assert text != PREVIOUS
        if fmt == "json":
            json.loads(text)  # complete, parseable


FORMATS = st.sampled_from(["table", "json", "csv", "markdown", "junit", "ndjson"])


@SETTINGS
@given(document=documents, fmt=FORMATS, existing=st.booleans())
def test_random_yaml_inventories_through_audit(
    document: dict[str, Any], fmt: str, existing: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inv = folder / "inv.yml"
        inv.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        argv, output = _with_output(
            ["audit", "-i", str(inv), "--format", fmt, "--no-input"], folder, existing
        )
        code, out, err = run_cli(argv, capsys)
        assert_clean(code, out, err, mentions=[str(inv)])
        assert_output(code, output, existing, fmt)


@SETTINGS
@given(lines=ini_lines, fmt=FORMATS, existing=st.booleans())
def test_random_ini_inventories_through_audit(
    lines: list[str], fmt: str, existing: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inv = folder / "hosts.ini"
        inv.write_text("\n".join(lines), encoding="utf-8")
        argv, output = _with_output(
            ["audit", "-i", str(inv), "--format", fmt, "--no-input"], folder, existing
        )
        code, out, err = run_cli(argv, capsys)
        assert_clean(code, out, err, mentions=[str(inv)])
        assert_output(code, output, existing, fmt)


@SETTINGS
@given(text=st.text(max_size=300), suffix=st.sampled_from([".yml", ".yaml", ".ini", ""]))
def test_random_text_through_inventory_check_and_list(
    text: str, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        inv = Path(tmp) / f"inv{suffix}"
        inv.write_text(text, encoding="utf-8")
        code, out, err = run_cli(["inventory", "list", "-i", str(inv), "--format", "json"], capsys)
        assert_clean(code, out, err, mentions=[str(inv)])
        if code == 0:
            json.loads(out)
        code, out, err = run_cli(["inventory", "check", "-i", str(inv)], capsys)
        assert "Traceback" not in out + err and code in (0, 2), (code, err)
        if code == 2:  # check prints every error, each one line naming the file
            assert all(line.startswith(("psfleet: error: ", str(inv))) or str(inv) in line
                       for line in err.strip().splitlines()), err  # fmt: skip


# -- options ------------------------------------------------------------------------------

VALID_INVENTORY = (
    "defaults: {password_env: PSFLEET_PROPERTY_PW, username: admin}\n"
    "groups:\n  branch: {hosts: [fs01, fs02]}\n  empty: {hosts: []}\n"
    "hosts:\n  fs01: {address: 192.0.2.1}\n  fs02: {address: '2001:db8::2'}\n  web-1: {address: 192.0.2.3}\n"
)
LIMIT_PIECES = st.sampled_from(
    [*"abfsw01-*?[]!&~,.:^$()|\\ é", "fs01", "branch", "empty", "web-1", "2001:db8::2"]
)
limits = st.lists(st.lists(LIMIT_PIECES, max_size=6).map("".join), max_size=3)
numbers = st.one_of(
    st.integers(-5, 2000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "1e3", "0x10", "nan", "inf", "-inf", "1_0", "٣", "64 ", "abc"]),
    st.text(max_size=5),
)
formats = st.one_of(FORMATS, st.text(max_size=8))
table_formats = st.one_of(st.sampled_from(["simple", "github", "grid", "psql"]), st.text(max_size=8))


@SETTINGS
@given(
    limit=limits,
    forks=st.none() | numbers,
    timeout=st.none() | numbers,
    retries=st.none() | numbers,
    fmt=formats,
    table_format=st.none() | table_formats,
    existing=st.booleans(),
)
def test_random_options_through_audit(
    limit: list[str],
    forks: str | None,
    timeout: str | None,
    retries: str | None,
    fmt: str,
    table_format: str | None,
    existing: bool,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PSFLEET_PROPERTY_PW", "not-a-real-secret")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inv = folder / "fleet.yml"
        inv.write_text(VALID_INVENTORY, encoding="utf-8")
        argv = ["audit", "-i", str(inv), "--format", fmt]
        for pattern in limit:
            argv += ["--limit", pattern]
        for option, value in (("--forks", forks), ("--timeout", timeout), ("--retries", retries),
                              ("--table-format", table_format)):  # fmt: skip
            if value is not None:
                argv.append(f"{option}={value}")
        argv, output = _with_output(argv, folder, existing)
        code, out, err = run_cli(argv, capsys)
        assert_clean(code, out, err, mentions=["--", "-l", str(inv)])
        assert_output(code, output, existing, fmt)


@given(option=st.sampled_from(["--password", "--pass", "-p", "--password-file", "--secret"]),
       command=st.sampled_from(["audit", "remediate", "rollback", "inventory list", "run"]))  # fmt: skip
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_option_takes_a_password(option: str, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "Hunter2-on-argv"
    code, out, err = run_cli([*command.split(), "-i", "x.yml", option, secret], capsys)
    assert code == 2, (code, err)
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1


# -- lab specs through ``psfleet lab serve`` -------------------------------------------------

spec_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 20000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "win81",
            "mixed",
            "server2019",
            "refuse",
            "slow",
            "flaky",
            "DWord",
            "String",
            "https",
            "basic",
            "HKLM:\\SYSTEM\\X",
            "a b",
            "ü",
            "",
            "-x",
            "x" * 70,
        ]
    ),
    st.text(max_size=10),
)
spec_keys = st.one_of(
    st.sampled_from(["name", "profile", "count", "registry", "fault", "kind", "ms", "users", "password", "admin",
                     "events", "id", "log", "days_ago", "auth", "scheme", "latency_ms", "pool_open_ms", "value"]),
    st.text(max_size=6),
)  # fmt: skip
spec_values: st.SearchStrategy[Any] = st.recursive(
    spec_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(spec_keys, inner, max_size=5)),
    max_leaves=25,
)
spec_documents = st.one_of(
    st.dictionaries(st.sampled_from(["users", "defaults", "hosts", "extra"]), spec_values, max_size=4),
    st.fixed_dictionaries(
        {"hosts": st.lists(st.dictionaries(spec_keys, spec_values, max_size=6), max_size=3)},
        optional={"users": spec_values, "defaults": st.dictionaries(spec_keys, spec_scalars, max_size=4)},
    ),
)


class _Started(Exception):
    pass


@SETTINGS
@given(document=spec_documents)
def test_random_lab_specs_through_lab_serve(
    document: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    def fleet(*_: Any, **__: Any) -> None:  # a valid spec: stop before binding anything
        raise typer.Exit(0)

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "lab.yml"
        spec.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        with mock.patch("toolkit.cli.lab_cmd.Fleet", fleet):
            code, out, err = run_cli(["lab", "serve", "--spec", str(spec), "--addressing", "port"], capsys)
        assert_clean(code, out, err, mentions=[str(spec)])
        assert code in (0, 2)
