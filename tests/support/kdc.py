"""A real MIT Kerberos KDC as a test peer (issue: Kerberos end to end, against a real KDC).

The ``kdc`` fixture (session scope) builds a throwaway realm, PSFLEET.TEST, in a temp dir:
its own kdc.conf and krb5.conf (nothing under /etc is read or written: every tool runs with
KRB5_CONFIG / KRB5_KDC_PROFILE pointing into the temp dir), a database with a stash, an admin
user with a password, ``HTTP/`` and ``host/`` service principals for the lab hosts exported to
one keytab, and ``krb5kdc -n`` listening on 127.0.0.1 only, on a free non-default port.

Host names never need to resolve: krb5.conf sets ``dns_canonicalize_hostname = false`` and
``rdns = false``, so a client that connects to 127.0.0.x but names ``lab-01.psfleet.test`` as
the SPN host (pypsrp's ``negotiate_hostname_override``) asks the KDC for exactly
``HTTP/lab-01.psfleet.test@PSFLEET.TEST``.

Skips when MIT's KDC tools are not installed (see INSTALL_HINT); any other failure to start is
an error carrying the KDC's log. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

INSTALL_HINT = (
    "apt-get install -y krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc "
    "&& pip install 'pyspnego[kerberos]'"
)
REALM = "PSFLEET.TEST"
DOMAIN = "psfleet.test"
# Lab host names (the SPN host part) and the loopback address each one is served on.
LAB_HOSTS: Mapping[str, str] = {
    "lab-01.psfleet.test": "127.0.0.1",
    "lab-02.psfleet.test": "127.0.0.2",
    "lab-03.psfleet.test": "127.0.0.3",
}
SERVICES = ("HTTP", "host")
# The host the Kerberos tests act as, and another one the KDC knows but whose key it lacks.
LAB_HOST = "lab-02.psfleet.test"
OTHER_LAB_HOST = "lab-03.psfleet.test"
# Short on purpose: an expired ticket must be rejected within seconds, and the KDC applies this
# allowance to ticket end times too (a TGT expired 1 s ago is still honoured with the usual 300 s).
CLOCK_SKEW_SECONDS = 5
START_TIMEOUT = 15.0
COMMAND_TIMEOUT = 30.0
TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "kdestroy", "klist")
SBIN_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


class KdcError(RuntimeError):
    """A KDC tool failed; the message carries its output."""


def find_tool(name: str) -> str | None:
    # /usr/sbin (krb5kdc, kadmin.local, kdb5_util) is often missing from a non-root PATH.
    found = shutil.which(name)
    if found:
        return found
    return next((str(Path(d) / name) for d in SBIN_DIRS if os.access(Path(d) / name, os.X_OK)), None)


def missing_tools() -> list[str]:
    return [name for name in TOOLS if find_tool(name) is None]


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (the KDC listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise KdcError("no free TCP+UDP port on 127.0.0.1")


def spn(service: str, hostname: str, realm: str = REALM) -> str:
    return f"{service}/{hostname}@{realm}"


@dataclass
class Kdc:
    """A running KDC for one realm, plus the files a client and an acceptor need.

    ``environ`` holds KRB5_CONFIG, KRB5CCNAME (the admin's ticket cache), KRB5_KTNAME (the lab
    keytab) and KRB5RCACHEDIR (replay caches stay in the temp dir). The helpers run MIT's own
    tools with that environment; none of them touch the caller's os.environ.
    """

    realm: str
    root: Path
    port: int
    krb5_conf: Path
    kdc_conf: Path
    keytab: Path
    ccache: Path
    admin_principal: str
    admin_password: str
    lab_hosts: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.root / "kdc.log"

    def log_text(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def ccache_env(self, ccache: Path | str) -> dict[str, str]:
        """``environ`` with KRB5CCNAME pointed at another cache (a FILE: path or any cache name)."""
        name = str(ccache)
        if ":" not in name:
            name = f"FILE:{name}"
        return {**self.environ, "KRB5CCNAME": name}

    def run(
        self, argv: list[str], *, stdin: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        tool = find_tool(argv[0]) or argv[0]
        full_env = {**os.environ, **self.environ, **(env or {})}
        result = subprocess.run(
            [tool, *argv[1:]],
            input=stdin,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise KdcError(
                f"{' '.join(argv)} exited {result.returncode}\nstdout: {result.stdout}\n"
                f"stderr: {result.stderr}\nkdc log:\n{self.log_text()[-2000:]}"
            )
        return result

    def kadmin(self, *queries: str) -> str:
        """Run kadmin.local queries (one process for all of them); returns their output."""
        result = self.run(["kadmin.local", "-r", self.realm], stdin="\n".join([*queries, "quit", ""]))
        # kadmin.local exits 0 even when a query fails; its errors go to stderr.
        failures = [line for line in result.stderr.splitlines() if "while" in line or "error" in line.lower()]
        if failures:
            raise KdcError("kadmin.local failed:\n" + "\n".join(failures))
        return result.stdout

    def export_keytab(self, path: Path, *principals: str) -> Path:
        """Write existing principals' current keys to another keytab (e.g. one lab host's own)."""
        self.kadmin(*(f"ktadd -k {path} -norandkey {principal}" for principal in principals))
        return path

    def host_keytab(self, hostname: str, path: Path) -> Path:
        """A keytab with only ``hostname``'s HTTP/ and host/ keys, as a real machine would hold."""
        return self.export_keytab(path, *(spn(service, hostname, self.realm) for service in SERVICES))

    def kinit(
        self,
        principal: str | None = None,
        password: str | None = None,
        *,
        ccache: Path | str | None = None,
        lifetime: str | None = None,
    ) -> str:
        """Get a TGT into ``ccache`` (default: the admin's cache), the password fed on stdin."""
        argv = ["kinit"]
        if lifetime:
            argv += ["-l", lifetime]
        argv.append(principal or self.admin_principal)
        env = self.ccache_env(ccache) if ccache else None
        self.run(argv, stdin=(password or self.admin_password) + "\n", env=env)
        return (env or self.environ)["KRB5CCNAME"]

    def kdestroy(self, *, ccache: Path | str | None = None) -> None:
        env = self.ccache_env(ccache) if ccache else None
        with contextlib.suppress(KdcError):  # "No credentials cache found" is fine here
            self.run(["kdestroy"], env=env)

    def expiring_ticket(self, ccache: Path | str, *, lifetime_seconds: int = 1) -> ExpiringTicket:
        """A TGT in ``ccache`` that the KDC refuses ``lifetime_seconds + CLOCK_SKEW_SECONDS + 1``
        seconds from now (7 s by default); :meth:`ExpiringTicket.wait` sleeps only what is left."""
        name = self.kinit(ccache=ccache, lifetime=f"{lifetime_seconds}s")
        return ExpiringTicket(name, time.monotonic() + lifetime_seconds + CLOCK_SKEW_SECONDS + 1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@dataclass(frozen=True)
class ExpiringTicket:
    """A TGT with a 1 s lifetime, shared by the tests that need an expired ticket.

    The KDC honours it for its lifetime plus the realm's clock-skew allowance; :meth:`wait`
    sleeps only for what is left of that (tests that ran meanwhile used the time).
    """

    ccache: str
    expired_at: float  # time.monotonic() after which the KDC refuses it

    def wait(self) -> str:
        time.sleep(max(0.0, self.expired_at - time.monotonic()))
        return self.ccache


def _write_configs(kdc: Kdc) -> None:
    root = kdc.root
    kdc.kdc_conf.write_text(
        f"""[kdcdefaults]
    kdc_listen = 127.0.0.1:{kdc.port}
    kdc_tcp_listen = 127.0.0.1:{kdc.port}

[realms]
    {kdc.realm} = {{
        database_name = {root}/db/principal
        key_stash_file = {root}/db/stash
        acl_file = {root}/kadm5.acl
        kdc_listen = 127.0.0.1:{kdc.port}
        kdc_tcp_listen = 127.0.0.1:{kdc.port}
        max_life = 10h 0m 0s
        max_renewable_life = 1d 0h 0m 0s
        master_key_type = aes256-cts-hmac-sha1-96
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}

[logging]
    kdc = FILE:{root}/kdc.log
    admin_server = FILE:{root}/kadmin.log
    default = FILE:{root}/krb5lib.log
"""
    )
    kdc.krb5_conf.write_text(
        f"""[libdefaults]
    default_realm = {kdc.realm}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    clockskew = {CLOCK_SKEW_SECONDS}
    ticket_lifetime = 1h
    forwardable = true
    udp_preference_limit = 1

[realms]
    {kdc.realm} = {{
        kdc = 127.0.0.1:{kdc.port}
        admin_server = 127.0.0.1:{kdc.port}
    }}

[domain_realm]
    .{DOMAIN} = {kdc.realm}
    {DOMAIN} = {kdc.realm}
"""
    )
    (root / "kadm5.acl").write_text(f"*/admin@{kdc.realm} *\n")
    (root / "db").mkdir()


def _wait_listening(kdc: Kdc) -> None:
    assert kdc.process is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if kdc.process.poll() is not None:
            raise KdcError(f"krb5kdc exited {kdc.process.returncode}\n{kdc.log_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", kdc.port), timeout=0.5):
            return
        time.sleep(0.05)
    raise KdcError(f"krb5kdc not listening on 127.0.0.1:{kdc.port} after {START_TIMEOUT}s\n{kdc.log_text()}")


def start_kdc(root: Path, *, realm: str = REALM, lab_hosts: Mapping[str, str] = LAB_HOSTS) -> Kdc:
    """Build the realm under ``root`` and start its KDC. The caller must ``stop()`` it."""
    root.mkdir(parents=True, exist_ok=True)
    kdc = Kdc(
        realm=realm,
        root=root,
        port=free_port(),
        krb5_conf=root / "krb5.conf",
        kdc_conf=root / "kdc.conf",
        keytab=root / "lab.keytab",
        ccache=root / "admin.ccache",
        admin_principal=f"admin@{realm}",
        admin_password="Adm1n-" + os.urandom(6).hex(),
        lab_hosts=dict(lab_hosts),
    )
    kdc.environ = {
        "KRB5_CONFIG": str(kdc.krb5_conf),
        "KRB5_KDC_PROFILE": str(kdc.kdc_conf),
        "KRB5CCNAME": f"FILE:{kdc.ccache}",
        "KRB5_KTNAME": f"FILE:{kdc.keytab}",
        "KRB5RCACHEDIR": str(root),
    }
    if os.environ.get("PSFLEET_KRB5_TRACE"):  # MIT's own step-by-step trace, for debugging a failure
        kdc.environ["KRB5_TRACE"] = str(root / "trace.log")
    _write_configs(kdc)
    master_password = os.urandom(12).hex()
    kdc.run(["kdb5_util", "create", "-s", "-r", realm, "-P", master_password])
    queries = [f'addprinc -pw "{kdc.admin_password}" {kdc.admin_principal}']
    for hostname in kdc.lab_hosts:
        for service in SERVICES:
            queries.append(f"addprinc -randkey {spn(service, hostname, realm)}")
            queries.append(f"ktadd -k {kdc.keytab} -norandkey {spn(service, hostname, realm)}")
    kdc.kadmin(*queries)
    tool = find_tool("krb5kdc") or "krb5kdc"
    with (root / "krb5kdc.out").open("wb") as out:
        kdc.process = subprocess.Popen(
            [tool, "-n", "-r", realm, "-P", str(root / "krb5kdc.pid")],
            env={**os.environ, **kdc.environ},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_listening(kdc)
        kdc.kinit()
    except BaseException:
        kdc.stop()
        raise
    return kdc


@pytest.fixture(scope="session")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kdc]:
    """A running MIT KDC for PSFLEET.TEST with the admin's TGT already in ``kdc.ccache``."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"MIT Kerberos tools not installed ({', '.join(missing)}): {INSTALL_HINT}")
    server = start_kdc(tmp_path_factory.mktemp("kdc"))
    try:
        yield server
    finally:
        server.stop()
