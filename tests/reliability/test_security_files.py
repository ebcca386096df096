"""Hostile files (issue 14 #8, #9, #12, #13): inventories and lab specs written to hurt, a
password file someone else owns, a report target another user prepared. Each attack is
refused with a one-line ``FILE:LINE`` error and exit 2, or neutralised."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from toolkit.atomic import write_atomic
from toolkit.errors import InputError
from toolkit.lab.spec import load_spec

#: Nine levels of nine aliases: 9**9 (387 million) strings once expanded; 556 bytes.
ALIAS_BOMB = (
    "psfleet: 1\n"
    "defaults:\n"
    '  lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    "hosts:\n"
    "  fs01: {address: 127.0.0.1, password_env: PSFLEET_BOMB_PW, filler: '" + "x" * 94 + "'}\n"
)


class Recorder:
    """A TCP listener on loopback that keeps every byte a client sends."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while self.sock.fileno() >= 0:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    self.received += conn.recv(65536)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


def test_alias_bomb_inventory_fails_fast_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(ALIAS_BOMB.encode()) == 556
    path = tmp_path / "bomb.yml"
    path.write_text(ALIAS_BOMB)
    monkeypatch.setenv("PSFLEET_BOMB_PW", "x")
    code, out, err = run_cli(["audit", "-i", str(path), "--format", "json"], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"{path}:" in lines[0] and "aliases" in lines[0]
    assert out == ""


def test_alias_bomb_lab_spec_fails_fast_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(ALIAS_BOMB.replace("psfleet: 1\ndefaults:", "users:", 1))
    with pytest.raises(InputError) as exc:
        load_spec(path)
    assert exc.value.file == str(path) and exc.value.line is not None
    assert "aliases" in str(exc.value)


def test_recursive_alias_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yml"
    path.write_text("psfleet: 1\ndefaults: &d\n  more: *d\nhosts: {}\n")
    code, _, err = run_cli(["inventory", "check", "-i", str(path)], capsys)
    assert code == 2
    assert f"{path}:3:" in err and "recursive" in err


def test_aliases_of_ordinary_size_still_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hosts = "".join(f"  h{i}: {{<<: *base, address: 127.0.0.{i + 1}}}\n" for i in range(200))
    path = tmp_path / "merge.yml"
    path.write_text(f"psfleet: 1\ndefaults: &base {{port: 5985, password_env: PW}}\nhosts:\n{hosts}")
    code, out, err = run_cli(["inventory", "list", "-i", str(path), "--format", "json"], capsys)
    assert code == 0, err
    assert out.count("127.0.0.") >= 200


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("path", "wsman\\r\\nX-Injected: 1"),
        ("username", "admin\\r\\nX-Injected: 1"),
        ("negotiate_hostname_override", "fs01\\u0000evil"),
        ("address", "127.0.0.1\\u001b[2J"),
    ],
)
def test_control_characters_in_text_settings_never_reach_the_wire(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    recorder: Recorder,
    key: str,
    value: str,
) -> None:
    monkeypatch.setenv("PSFLEET_CC_PW", "not-a-secret")
    settings = {"address": "127.0.0.1", "port": str(recorder.port), "scheme": "http", key: f'"{value}"'}
    lines = ["psfleet: 1", "hosts:", "  fs01:", *(f"    {k}: {v}" for k, v in settings.items())]
    lines.append("    password_env: PSFLEET_CC_PW")
    path = tmp_path / "inject.yml"
    path.write_text("\n".join(lines) + "\n")
    code, _out, err = run_cli(["audit", "-i", str(path), "--timeout", "5", "--format", "json"], capsys)
    line = 3 + list(settings).index(key) + 1
    assert code == 2, err
    assert f"{path}:{line}:" in err and key in err and "control character" in err
    assert b"X-Injected" not in recorder.received
    assert recorder.received == b""  # refused before any connection


def test_password_file_owned_by_another_user_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another user")
    secret = tmp_path / "pw"
    secret.write_text("planted-password\n")
    os.chmod(secret, 0o600)
    os.chown(secret, 65534, 65534)  # nobody: a file the operator did not write
    path = tmp_path / "inv.yml"
    path.write_text(
        f'psfleet: 1\ndefaults:\n  username: admin\n  password_file: "{secret}"\nhosts:\n  fs01: {{address: 127.0.0.1}}\n'
    )
    code, out, err = run_cli(["audit", "-i", str(path), "--format", "json"], capsys)
    assert code == 2
    assert "owned by another user" in err and f"{path}:6:" in err
    assert "planted-password" not in out + err


def test_password_file_readable_by_others_is_still_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("pw\n")
    os.chmod(secret, 0o644)
    path = tmp_path / "inv.yml"
    path.write_text(
        f'psfleet: 1\ndefaults:\n  username: admin\n  password_file: "{secret}"\nhosts:\n  fs01: {{address: 127.0.0.1}}\n'
    )
    code, _, err = run_cli(["audit", "-i", str(path), "--format", "json"], capsys)
    assert code == 2 and "chmod 600" in err


def test_a_report_over_another_users_world_writable_file_gets_the_owners_mode(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another user")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    target = shared / "audit.csv"
    target.write_text("planted\n")
    os.chmod(target, 0o666)
    os.chown(target, 65534, 65534)
    umask = os.umask(0o022)
    try:
        write_atomic(target, "host,status\n")
    finally:
        os.umask(umask)
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert st.st_uid == os.geteuid()
    assert target.read_text() == "host,status\n"


def test_a_report_over_the_owners_own_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "audit.json"
    target.write_text("{}")
    os.chmod(target, 0o640)
    write_atomic(target, "[]")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_new_report_respects_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o077)
    try:
        write_atomic(tmp_path / "new.json", "{}")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o600


def test_alias_bomb_in_an_ansible_yaml_inventory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    levels = ['    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        levels.append(f"    {name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    path = tmp_path / "hosts.yml"
    path.write_text("all:\n  vars:\n" + "\n".join(levels) + "\n  hosts:\n    fs01:\n")
    code, _, err = run_cli(["inventory", "check", "-i", str(path)], capsys)
    assert code == 2
    assert f"{path}:" in err and "aliases" in err and len(err.strip().splitlines()) == 1
