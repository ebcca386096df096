"""A known password goes through every command (audit at -vvv in every format, inventory
list/check, run, remediate --check / remediate / rollback, probe, diagnose (unreachable, and
through a real smbd's NTLM session setup), lab serve) and through failures (auth_fail hosts,
Basic over HTTPS, an internal error raised inside a check and one raised at the top level with
-vvv tracebacks). It must never appear, in any form, in
stdout, stderr, logs, reports, journals or retry files. The only artifacts allowed to hold it
are the lab's own ``--inventory-out`` password file and ``--fleet-json`` (documented), and
both must be mode 0600.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import typer

from tests.support.samba import run_samba
from toolkit.cli import main
from toolkit.cli.app import app
from toolkit.lab.fleet import Fleet
from toolkit.lab.spec import loads_spec

PASSWORD = "Zq7;S3cr3t'P\u00e4ss\"$(x)"
USER = "admin"
ENV = "PSFLEET_SECRET_TEST_PW"
WS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"


def secret_forms() -> dict[str, bytes]:
    raw = PASSWORD.encode()
    utf16 = PASSWORD.encode("utf-16-le")
    return {
        "utf-8": raw,
        "utf-16-le": utf16,
        "base64": base64.b64encode(raw),
        "base64 user:password (Basic)": base64.b64encode(f"{USER}:{PASSWORD}".encode()),
        "base64 utf-16-le": base64.b64encode(utf16),
        "json-escaped": json.dumps(PASSWORD)[1:-1].encode(),
        "hex": raw.hex().encode(),
        "distinctive part": b"S3cr3t",
    }


def leaks(blob: bytes) -> list[str]:
    return [name for name, form in secret_forms().items() if form in blob]


SPEC = f"""
users:
  - {{name: {USER}, password: {json.dumps(PASSWORD)}, admin: true}}
  - {{name: reader, password: {json.dumps(PASSWORD)}, admin: false}}
hosts:
  - name: drifted
    profile: server2012r2
    registry:
      '{WS}': {{RequireSecureNegotiate: {{kind: DWord, value: 0}}, RequireSecuritySignature: {{kind: DWord, value: 0}}}}
  - {{name: modern, profile: win10}}
  - {{name: badauth, profile: server2019, fault: auth_fail}}
  - {{name: web, profile: server2022, scheme: https, auth: basic}}
  - {{name: gone, profile: server2019, fault: refuse}}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    work = tmp_path_factory.mktemp("secrets")
    with Fleet(loads_spec(SPEC, "secrets.yml"), workdir=work / "lab") as fleet:
        lines = ["defaults:", f"  username: {USER}", f"  password_env: {ENV}", "hosts:"]
        for h in fleet.hosts:
            lines += [f"  {h.name}:", f"    address: {h.address}", f"    port: {h.port}",
                      f"    scheme: {h.scheme}", f"    auth: {h.auth}"]  # fmt: skip
            if h.ca_file:
                lines.append(f"    ca_file: {h.ca_file}")
        out = work / "out"
        out.mkdir()
        inventory = out / "fleet.yml"
        inventory.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield fleet, inventory, out


class Capture:
    """Everything the commands printed or logged (logs at DEBUG, as -vvv shows them)."""

    def __init__(self) -> None:
        self.chunks: list[tuple[str, str]] = []

    def add(self, what: str, text: str) -> None:
        self.chunks.append((what, text))

    def leaks(self) -> list[str]:
        return [f"{what}: {form}" for what, text in self.chunks for form in leaks(text.encode())]


@pytest.fixture(scope="module")
def capture() -> Capture:
    return Capture()


def cli(
    argv: Sequence[str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    capture: Capture,
) -> int:
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        try:
            main(list(argv))
            code: Any = 0
        except SystemExit as exc:
            code = exc.code
    out, err = capsys.readouterr()
    log_text = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records
    )  # fmt: skip
    capture.add(f"{' '.join(argv[:2])} stdout", out)
    capture.add(f"{' '.join(argv[:2])} stderr", err)
    capture.add(f"{' '.join(argv[:2])} log", log_text)
    assert "Traceback" not in out
    assert isinstance(code, int)
    return code


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, lab: tuple[Fleet, Path, Path]) -> Path:
    monkeypatch.setenv(ENV, PASSWORD)
    monkeypatch.setenv("PSFLEET_STATE_DIR", str(lab[2] / "state"))
    return lab[2]


def test_audit_in_every_format_at_vvv(
    lab: tuple[Fleet, Path, Path], env: Path, capsys: Any, caplog: Any, capture: Capture
) -> None:
    _, inventory, out = lab
    for fmt in ("table", "json", "ndjson", "csv", "markdown", "junit"):
        code = cli(
            ["audit", "-i", str(inventory), "--format", fmt, "-vvv", "--timeout", "10"],
            capsys,
            caplog,
            capture,
        )
        assert code == 12, fmt
        code = cli(["audit", "-i", str(inventory), "--format", fmt, "-o", str(out / f"audit.{fmt}"),
                    "--retry-file", str(out / f"retry-{fmt}.yml"), "--timeout", "10"], capsys, caplog, capture)  # fmt: skip
        assert code == 12
    report = json.loads((out / "audit.json").read_text())
    status = {h["name"]: h["status"] for h in report["hosts"]}
    assert status["badauth"] == "auth_failed" and status["web"] in ("compliant", "drift"), status


def test_inventory_run_remediate_rollback(
    lab: tuple[Fleet, Path, Path], env: Path, capsys: Any, caplog: Any, capture: Capture
) -> None:
    _, inventory, out = lab
    for argv in (["inventory", "list", "-i", str(inventory)], ["inventory", "list", "-i", str(inventory), "--format", "json"],
                 ["inventory", "check", "-i", str(inventory)]):  # fmt: skip
        assert cli(argv, capsys, caplog, capture) == 0
    run = ["run", "-i", str(inventory), "--timeout", "10", "-vvv"]
    cli([*run, "$env:COMPUTERNAME"], capsys, caplog, capture)
    cli(
        [*run, "--cmdlet", "Get-ItemProperty", "--param", f"Path={WS}", "--format", "json"],
        capsys,
        caplog,
        capture,
    )
    journal = out / "remediate.jsonl"
    common = ["-i", str(inventory), "--timeout", "10", "-vvv"]
    assert cli(["remediate", *common, "--check", "--format", "json"], capsys, caplog, capture) in (4, 12)
    assert cli(["remediate", *common, "--yes", "--journal", str(journal), "-o", str(out / "rem.json"),
                "--format", "json"], capsys, caplog, capture) == 8  # fmt: skip
    assert journal.exists()
    assert cli(
        ["rollback", *common, "--yes", "--journal", str(journal), "--format", "table"],
        capsys,
        caplog,
        capture,
    ) in (0, 8)


def test_probe_and_diagnose(
    lab: tuple[Fleet, Path, Path], env: Path, capsys: Any, caplog: Any, capture: Capture, monkeypatch: Any
) -> None:
    _, inventory, _ = lab
    cli(
        ["probe", "smb", "-i", str(inventory), "--timeout", "2", "--format", "json", "-vvv"],
        capsys,
        caplog,
        capture,
    )
    monkeypatch.setenv("PSFLEET_SMB_PW", PASSWORD)
    code = cli(["diagnose", "validate-negotiate", "--server", "127.0.0.1:9", "--username", USER,
                "--password-env", "PSFLEET_SMB_PW", "--timeout", "3", "--no-input", "-vvv"], capsys, caplog, capture)  # fmt: skip
    assert code in (2, 8)


@pytest.mark.samba
def test_diagnose_through_smb_session_setup(
    env: Path,
    capsys: Any,
    caplog: Any,
    capture: Capture,
    monkeypatch: Any,
    tmp_path: Path,
) -> None:
    """Here the password really goes into NTLM over SMB: smbd's user has it, so validate
    negotiate runs to the end at -vvv; then a user smbd does not know (auth_failed)."""
    monkeypatch.setenv("PSFLEET_SMB_PW", PASSWORD)
    with run_samba(tmp_path, {"server max protocol": "SMB3_02"}, password=PASSWORD) as smb:
        base = ["diagnose", "validate-negotiate", "--server", f"{smb.host}:{smb.port}",
                "--password-env", "PSFLEET_SMB_PW", "--timeout", "15", "--no-input", "-vvv"]  # fmt: skip
        assert cli([*base, "--username", smb.username], capsys, caplog, capture) == 0
        assert "status   pass" in capture.chunks[-3][1]
        assert (
            cli([*base, "--username", f"no-{smb.username}", "--format", "json"], capsys, caplog, capture) == 8
        )
        assert json.loads(capture.chunks[-3][1])["error"]["kind"] == "auth_failed"


class Boom(RuntimeError):
    pass


def test_internal_errors_with_tracebacks(
    lab: tuple[Fleet, Path, Path], env: Path, capsys: Any, caplog: Any, capture: Capture
) -> None:
    _, inventory, _ = lab

    def broken_check(*_: Any, **__: Any) -> Any:
        raise Boom("injected failure inside a check")

    with mock.patch("toolkit.checks.audit.parse_facts", broken_check):
        code = cli(
            ["audit", "-i", str(inventory), "--format", "json", "-vvv", "--timeout", "10"],
            capsys,
            caplog,
            capture,
        )
    assert code == 8
    assert "injected failure" in capture.chunks[-3][1]  # reported as the host's error

    def broken_render(*_: Any, **__: Any) -> Any:
        raise Boom("injected failure at the top level")

    with mock.patch("toolkit.report.render.render", broken_render):  # audit imports it when it runs
        code = cli(["audit", "-i", str(inventory), "-vvv", "--timeout", "10"], capsys, caplog, capture)
    assert code == 1
    assert "Traceback" in capture.chunks[-2][1]  # -vvv prints it; it must still hold no secret


def test_subprocess_audit_at_vvv_and_lab_serve(
    tmp_path: Path, lab: tuple[Fleet, Path, Path], capture: Capture
) -> None:
    _, inventory, out = lab
    env = {**os.environ, ENV: PASSWORD, "PSFLEET_STATE_DIR": str(out / "state")}
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "audit", "-i", str(inventory), "-vvv", "--timeout", "10"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 12, proc.stderr[-1000:]
    assert "DEBUG" in proc.stderr  # the wire log really was on
    capture.add("subprocess audit -vvv stdout", proc.stdout)
    capture.add("subprocess audit -vvv stderr", proc.stderr)

    spec = tmp_path / "spec.yml"
    spec.write_text(SPEC.replace("fault: refuse", "fault: hang"), encoding="utf-8")
    served = out / "served"
    lab_proc = subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", "lab", "serve", "--spec", str(spec), "--addressing", "port",
         "--inventory-out", str(served / "lab.yml"), "--fleet-json", str(served / "fleet.json"), "-vvv"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (served / "fleet.json").exists():
            assert lab_proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        lab_proc.terminate()
        lab_out, lab_err = lab_proc.communicate(timeout=30)
    capture.add("lab serve stdout", lab_out)
    capture.add("lab serve stderr", lab_err)
    allowed = {served / "fleet.json", *(served / "lab.secrets").glob("*.password")}
    assert len(allowed) >= 2
    for path in allowed:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        text = path.read_text(encoding="utf-8")  # the documented exception holds the password
        assert (
            text == PASSWORD
            if path.suffix == ".password"
            else PASSWORD in {h["password"] for h in json.loads(text)}
        )


def test_no_secret_anywhere(lab: tuple[Fleet, Path, Path], capture: Capture) -> None:
    """Runs last: every captured stream, and every file the commands wrote."""
    _, _, out = lab
    assert capture.chunks, "the commands above did not run"
    # The DEBUG logs (wire and smbprotocol) were captured: an empty capture would find nothing.
    assert any(what.endswith(" log") and text for what, text in capture.chunks)
    found = capture.leaks()
    allowed = {out / "served" / "fleet.json", *(out / "served" / "lab.secrets").glob("*.password")}
    files = [p for p in out.rglob("*") if p.is_file() and p not in allowed]
    assert any(p.suffix == ".jsonl" for p in files) and any("retry" in p.name for p in files)
    for path in files:
        found += [f"{path}: {form}" for form in leaks(path.read_bytes())]
    assert found == []


def _options(command: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    for param in getattr(command, "params", []):
        for name in (*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])):
            yield f"{prefix}{command.name}", name
    for sub in getattr(command, "commands", {}).values():
        yield from _options(sub, f"{prefix}{command.name} ")


def test_no_option_takes_a_password() -> None:
    """Only ``--password-env`` (the *name* of a variable) mentions a password."""
    options = list(_options(typer.main.get_command(app)))
    assert len(options) > 50
    suspicious = [
        (cmd, opt) for cmd, opt in options
        if any(w in opt.lower() for w in ("pass", "secret", "cred", "token"))
        and opt not in ("--password-env", "--vault-password-file")  # a variable's name; a file's path
    ]  # fmt: skip
    assert suspicious == []
