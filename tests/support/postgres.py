"""A real PostgreSQL server (Debian's ``postgresql`` binaries) for the store's tests: a fresh
data directory, listening on 127.0.0.1 at a free port only, password authentication
(SCRAM), torn down after. Skipped with the reason where it cannot run.

PostgreSQL refuses to run as root: under root the server runs as the ``postgres`` account
(Debian's package creates it) through ``runuser``, with a data directory that account owns
under /tmp; otherwise as the current user.

In a ``conftest.py``: ``from tests.support.postgres import postgres_server`` (a session
fixture); ``server.database(name)`` creates an empty database and returns its URL.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "psfleet"


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, bindir: Path, run_as: str | None) -> None:
        self.bindir = bindir
        self.run_as = run_as
        self.dir = Path(tempfile.mkdtemp(prefix="psfleet-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.proc: subprocess.Popen[bytes] | None = None

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        return ["runuser", "-u", self.run_as, "--", *args]

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{USER}:{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self.run_as is not None:
            account = pwd.getpwnam(self.run_as)
            for path in (self.dir, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.dir.chmod(0o700)
        pwfile.chmod(0o600)
        subprocess.run(
            self._cmd(
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=scram-sha-256",
                f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
        pwfile.unlink()
        self.proc = subprocess.Popen(
            self._cmd(
                str(self.bindir / "postgres"), "-D", str(self.data), "-c", "listen_addresses=127.0.0.1",
                "-p", str(self.port), "-k", str(self.dir), "-c", "fsync=off", "-c", "max_connections=50",
            ),
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "server.log", "wb"),  # noqa: SIM115 - the server keeps it
        )  # fmt: skip
        give_up = time.monotonic() + 30
        import psycopg

        while time.monotonic() < give_up:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.dir / 'server.log').read_text()[-2000:]}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("postgres did not accept connections within 30 s")

    def database(self, name: str) -> str:
        """Create an empty database ``name``; its URL (with the password)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # smart shutdown
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _why_not() -> tuple[Path | None, str | None, str]:
    bindir = _bindir()
    if bindir is None or not (bindir / "postgres").exists():
        return None, None, "Debian's postgresql is not installed (initdb/postgres not found)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, None, "psycopg is not installed"
    if os.geteuid() != 0:
        return bindir, None, ""
    if shutil.which("runuser") is None:
        return None, None, "running as root without runuser: PostgreSQL refuses to run as root"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None, None, "running as root and there is no postgres account to run the server as"
    return bindir, "postgres", ""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir, run_as, why = _why_not()
    if bindir is None:
        pytest.skip(why)
    server = PostgresServer(bindir, run_as)
    try:
        server.start()
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        server.stop()
        pytest.skip(f"PostgreSQL could not start here: {exc}")
    try:
        yield server
    finally:
        server.stop()
