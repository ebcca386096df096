"""Real Samba (smbd) as a test peer, per docs/windows-facts.md#samba-loopback-peer and
docs/windows-facts.md#samba-signing-and-dialect.

Each server runs on 127.0.0.1 on a free non-root port, in its own temp dir, with a test user
added by smbpasswd. Fixtures skip only when smbd is not installed
(``apt-get install -y samba``); any other failure to start is an error with smbd's log.
smbd must run as root (it switches to the session user).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

INSTALL_HINT = "apt-get install -y samba"
START_TIMEOUT = 20.0


def find_smbd() -> str | None:
    # /usr/sbin is often missing from a non-root PATH.
    return shutil.which("smbd") or next((p for p in ("/usr/sbin/smbd",) if os.access(p, os.X_OK)), None)


def find_smbpasswd() -> str | None:
    return shutil.which("smbpasswd") or next(
        (p for p in ("/usr/bin/smbpasswd",) if os.access(p, os.X_OK)), None
    )


@dataclass
class SambaServer:
    host: str
    port: int
    username: str
    password: str
    workdir: Path
    conf: Path
    log: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_conf(workdir: Path, port: int, settings: Mapping[str, str]) -> Path:
    dirs = {name: workdir / name for name in ("state", "lock", "cache", "pid", "private", "ncalrpc")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    base = {
        "server role": "standalone server",
        "smb ports": str(port),
        "interfaces": "127.0.0.1",
        "bind interfaces only": "yes",
        "disable netbios": "yes",
        "state directory": str(dirs["state"]),
        "lock directory": str(dirs["lock"]),
        "cache directory": str(dirs["cache"]),
        "pid directory": str(dirs["pid"]),
        "private dir": str(dirs["private"]),
        "ncalrpc dir": str(dirs["ncalrpc"]),
        "passdb backend": f"tdbsam:{workdir / 'passdb.tdb'}",
        "map to guest": "never",
        "load printers": "no",
        "printcap name": "/dev/null",
        "disable spoolss": "yes",
        "log level": "1",
    }
    base.update(settings)
    conf = workdir / "smb.conf"
    conf.write_text("[global]\n" + "".join(f"    {k} = {v}\n" for k, v in base.items()))
    return conf


def wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"smbd exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"smbd did not listen on {host}:{port} within {timeout:g}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop smbd, then whatever it forked (per-connection smbd, notifyd) that is left in its
    process group. The parent goes first so that it can reap its own children."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        process.wait(5.0)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(5.0)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def run_samba(
    workdir: Path, settings: Mapping[str, str], *, password: str | None = None, attempts: int = 3
) -> Iterator[SambaServer]:
    """Start smbd with ``settings`` added to the [global] section; stop it on exit. The test
    user gets ``password`` (a random one by default)."""
    smbd, smbpasswd = find_smbd(), find_smbpasswd()
    if smbd is None or smbpasswd is None:
        pytest.skip(f"smbd not installed ({INSTALL_HINT})")
    username = pwd.getpwuid(os.getuid()).pw_name  # smbpasswd -a needs an existing Unix account
    password = password or "Pf-" + secrets.token_urlsafe(12)
    last_error = ""
    for _ in range(attempts):  # a free port can be taken before smbd binds it
        server = _start(smbd, smbpasswd, workdir, settings, username, password)
        try:
            assert server.process is not None
            wait_for_port(server.host, server.port, server.process, START_TIMEOUT)
        except RuntimeError as exc:
            last_error = f"{exc}\n{server.log_tail()}"
            assert server.process is not None
            stop(server.process)
            continue
        try:
            yield server
        finally:
            assert server.process is not None
            stop(server.process)
        return
    raise RuntimeError(f"could not start smbd: {last_error}")


def _start(
    smbd: str, smbpasswd: str, workdir: Path, settings: Mapping[str, str], username: str, password: str
) -> SambaServer:
    port = free_port()
    conf = write_conf(workdir, port, settings)
    subprocess.run(
        [smbpasswd, "-c", str(conf), "-s", "-a", username],
        input=f"{password}\n{password}\n".encode(),
        check=True,
        capture_output=True,
        timeout=30,
    )
    log = workdir / "smbd.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [smbd, "--foreground", "--no-process-group", "--debug-stdout", "-s", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group, so teardown reaches forked children
        )
    return SambaServer("127.0.0.1", port, username, password, workdir, conf, log, dict(settings), process)


def _fixture(settings: Mapping[str, str], name: str):  # type: ignore[no-untyped-def]
    @pytest.fixture(scope="session")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaServer]:
        with run_samba(tmp_path_factory.mktemp(name), settings) as s:
            yield s

    return server


#: ``server signing = mandatory``: the NEGOTIATE response says signing required.
samba_signing_required = _fixture({"server signing": "mandatory"}, "samba-signing-required")
#: ``server signing = disabled``: SMB2 still says signing enabled, but not required.
samba_signing_disabled = _fixture({"server signing": "disabled"}, "samba-signing-disabled")
#: ``server max protocol = SMB3_02``: forces the validate-negotiate path (docs/windows-facts.md#samba-signing-and-dialect).
samba_smb3_02 = _fixture({"server max protocol": "SMB3_02"}, "samba-smb3-02")
#: ``server min protocol = NT1``: smbd also accepts an SMB1 NEGOTIATE (NT LM 0.12).
samba_smb1 = _fixture({"server min protocol": "NT1"}, "samba-smb1")
