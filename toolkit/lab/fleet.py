"""A lab fleet: hosts from a spec, bound to loopback addresses, served in this process (a
background thread) or in worker processes.

Every listener is on 127.0.0.0/8: either one address per host (``addressing="ip"``,
127.10.0.1, 127.10.0.2, ... on the WinRM ports) or 127.0.0.1 with one port per host
(``addressing="port"``). The fleet writes an inventory that ``psfleet audit -i`` reads as is
(credentials through ``password_file``) and a JSON description for any other client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import multiprocessing
import multiprocessing.connection
import os
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from toolkit.atomic import write_atomic
from toolkit.lab.host import LabUser, SimHost
from toolkit.lab.kerberos import KerberosAcceptor, KerberosLabConfig
from toolkit.lab.profiles import get_profile
from toolkit.lab.server import FaultConfig, HostEndpoint, LabServer
from toolkit.lab.smb import SmbResponder, default_port
from toolkit.lab.spec import HostSpec, LabSpec, build_host
from toolkit.lab.tls import LabTLS, make_lab_tls

Addressing = Literal["port", "ip"]
#: First address of ``addressing="ip"`` fleets (one address per host from there).
DEFAULT_BASE_ADDRESS = "127.10.0.1"


@dataclass(frozen=True)
class FleetHost:
    """What a client needs to reach one lab host (one entry of ``--fleet-json``)."""

    name: str
    address: str
    port: int
    scheme: str
    auth: str
    username: str
    password: str
    ca_file: str | None
    profile: str
    build: int
    fault: str | None = None
    #: Set for hosts that accept Kerberos: clients ask for ``<service>/<override>``.
    negotiate_service: str | None = None
    negotiate_hostname_override: str | None = None
    #: The port of the host's SMB responder (toolkit.lab.smb), on the same address.
    smb_port: int | None = None

    def public_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Blocks ``find_free`` tries before giving up (ip mode: 127.10/16, 127.11/16, ...).
_FREE_BLOCK_ATTEMPTS = 100


def _bindable(address: str, port: int) -> bool:
    """Whether the lab could listen on ``address:port`` now (bound as the server binds)."""
    if not port:
        return True
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


class LabAddressInUse(OSError):
    """An address or port the user chose for the lab is held by another listener."""

    def __init__(self, address: str, port: int) -> None:
        super().__init__(f"{address}:{port} is in use")
        self.address, self.port = address, port


@dataclass
class _Plan:
    spec: HostSpec
    address: str
    port: int


def _auth_methods(spec: HostSpec) -> tuple[str, ...]:
    auth = spec.auth or "negotiate"
    if auth == "basic":
        return ("basic",)
    if auth == "kerberos":
        return ("negotiate", "kerberos")
    return ("negotiate", "ntlm", "basic")


def _client_auth(spec: HostSpec, kerberos: KerberosLabConfig | None = None) -> str:
    """What a client should ask for: the host's auth as a real inventory says it (``negotiate``
    by default). Lab hosts without a KDC answer NTLM inside Negotiate; both clients go to NTLM
    up front when no Kerberos ticket is cached, so no realm lookup stalls them."""
    return spec.auth or "negotiate"


def _accepts_kerberos(spec: HostSpec, kerberos: KerberosLabConfig | None) -> bool:
    if kerberos is None:
        return False
    return spec.auth == "kerberos" or spec.name in kerberos.hostnames or spec.name in kerberos.keytabs


def _ticket_auth(spec: HostSpec, kerberos: KerberosLabConfig | None) -> bool:
    """Clients of this host log on with their Kerberos ticket alone (no password in the inventory)."""
    return _accepts_kerberos(spec, kerberos) and (spec.auth or "negotiate") in ("kerberos", "negotiate")


def _endpoint(
    plan: _Plan, spec: LabSpec, state_dir: str | None, kerberos: KerberosLabConfig | None = None
) -> HostEndpoint:
    hs = plan.spec
    sim = build_host(hs, state_dir=state_dir)
    fault = FaultConfig()
    if hs.fault is not None:
        fault = FaultConfig(kind=hs.fault.kind, ms=hs.fault.ms, count=hs.fault.count)
    return HostEndpoint(
        name=hs.name,
        sim=sim,
        address=plan.address,
        port=plan.port,
        build=get_profile(hs.profile).build,
        revision=get_profile(hs.profile).ubr,
        scheme=hs.scheme or "http",
        auth_methods=_auth_methods(hs),
        latency_ms=float(hs.latency_ms if hs.latency_ms is not None else spec.latency_ms),
        pool_open_ms=float(hs.pool_open_ms if hs.pool_open_ms is not None else spec.pool_open_ms),
        fault=fault,
        allow_from=hs.allow_from,
        kerberos=KerberosAcceptor(kerberos.acceptor_config(hs.name))
        if kerberos is not None and _accepts_kerberos(hs, kerberos)
        else None,
    )


def _default_user(spec: LabSpec) -> LabUser:
    """The user clients log on as unless told otherwise: the first admin, else the first user."""
    return next((u for u in spec.users if u.admin), spec.users[0])


def _write_password_file(directory: Path, user: LabUser) -> Path:
    """A 0600 file holding ``user``'s password, named after the user."""
    safe = "".join(c if c.isalnum() else "_" for c in user.name)
    path = directory / f"{safe}.password"
    write_atomic(path, user.password, mode=0o600)
    return path


def _worker_main(
    conn: multiprocessing.connection.Connection,
    plans: list[_Plan],
    spec: LabSpec,
    state_dir: str | None,
    tls: LabTLS | None,
    kerberos: KerberosLabConfig | None = None,
    smb_port: int = 0,
) -> None:
    """Entry point of a lab worker process: serve ``plans`` until told to stop."""
    loop = asyncio.new_event_loop()
    endpoints = [_endpoint(p, spec, state_dir, kerberos) for p in plans]
    server = LabServer(endpoints, list(spec.users), ssl_context=tls.server_context() if tls else None)
    loop.run_until_complete(server.start())
    smb = SmbResponder([(ep.sim, ep.address) for ep in endpoints], port=smb_port)
    conn.send({"ports": [ep.port for ep in endpoints], "smb_ports": loop.run_until_complete(smb.start())})

    def poll() -> None:
        if conn.poll():
            try:
                msg = conn.recv()
            except EOFError:
                loop.stop()
                return
            if msg == "stop":
                loop.stop()
                return
            if msg == "stats":
                conn.send(_stats(endpoints, server))
        loop.call_later(0.05, poll)

    loop.call_soon(poll)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(smb.stop())
        loop.run_until_complete(server.stop())
        conn.close()


def _wait_ready(proc: Any, conn: multiprocessing.connection.Connection, timeout: float) -> bool:
    """Wait for a worker's first message; give up at once if the worker died (e.g. a script
    without the ``if __name__ == "__main__"`` guard that spawn needs)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if conn.poll(0.1):
            return True
        if not proc.is_alive():
            return conn.poll(0)
    return False


def _stats(endpoints: Sequence[HostEndpoint], server: LabServer) -> dict[str, Any]:
    times = os.times()
    return {
        "requests": {ep.name: ep.requests for ep in endpoints},
        "pools_opened": {ep.name: ep.pools_opened for ep in endpoints},
        "total_requests": server.total_requests,
        "cpu_s": times.user + times.system,
    }


@dataclass
class Fleet:
    """Run a lab fleet. Use as a context manager or call :meth:`start` / :meth:`stop`.

    ``workers=0`` serves from a thread of this process (tests, demo: direct access to each
    simulated host through :meth:`sim`); ``workers>=1`` uses that many processes.
    """

    spec: LabSpec
    addressing: Addressing = "port"
    base_address: str = DEFAULT_BASE_ADDRESS
    base_port: int | None = None
    workers: int = 0
    state_dir: Path | None = None
    workdir: Path | None = None
    #: Hosts that accept Kerberos and their keytabs (toolkit.lab.kerberos); None: NTLM only.
    kerberos: KerberosLabConfig | None = None
    #: When an address or port of the plan is taken (another lab, another user), move on to
    #: the next free block (ip: 127.11.0.1, 127.12.0.1, ...; port: the next ports) instead of
    #: failing. ``psfleet lab serve`` sets it unless the user chose the address or port.
    find_free: bool = False
    hosts: list[FleetHost] = field(default_factory=list, init=False)
    tls: LabTLS | None = field(default=None, init=False)
    _plans: list[_Plan] = field(default_factory=list, init=False)
    _server: LabServer | None = field(default=None, init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _procs: list[tuple[Any, multiprocessing.connection.Connection]] = field(default_factory=list, init=False)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)
    _password_files: dict[str, Path] = field(default_factory=dict, init=False)
    #: SMB responder port: None = 445 with per-host addresses when root, else one per host.
    smb_port: int | None = None
    _smb: SmbResponder | None = field(default=None, init=False)
    _smb_ports: list[int] = field(default_factory=list, init=False)

    # -- planning -------------------------------------------------------------------------
    def _plan(self) -> None:
        self._plan_from(self.base_address, self.base_port)
        if not self.find_free:
            taken = next((p for p in self._plans if not _bindable(p.address, p.port)), None)
            if taken is not None:
                raise LabAddressInUse(taken.address, taken.port)
            return
        for attempt in range(1, _FREE_BLOCK_ATTEMPTS + 1):
            if all(_bindable(p.address, p.port) for p in self._plans):
                return
            if self.addressing == "ip":
                shifted = int(ipaddress.IPv4Address(self.base_address)) + attempt * 0x10000
                if not ipaddress.IPv4Address(shifted).is_loopback:
                    break
                self._plan_from(str(ipaddress.IPv4Address(shifted)), self.base_port)
            else:
                if not self.base_port:
                    return  # ports picked by the system are always free
                self._plan_from(self.base_address, self.base_port + attempt * len(self._plans))
        taken = next(p for p in self._plans if not _bindable(p.address, p.port))
        raise OSError(f"no free lab addresses found (last tried {taken.address}:{taken.port})")

    def _plan_from(self, base_address: str, base_port: int | None) -> None:
        base = ipaddress.IPv4Address(base_address)
        if not base.is_loopback:
            raise ValueError(f"lab addresses must be loopback (127.0.0.0/8), not {base}")
        plans: list[_Plan] = []
        offset = 0
        for hs in self.spec.hosts:
            https = (hs.scheme or "http") == "https"
            if self.addressing == "ip":
                addr = base + offset
                while int(addr) & 0xFF in (0, 255):
                    offset += 1
                    addr = base + offset
                if not addr.is_loopback:
                    raise ValueError("too many hosts for the loopback range from the base address")
                port = base_port or (5986 if https else 5985)
                plans.append(_Plan(hs, str(addr), port))
            else:
                port = (base_port + offset) if base_port else 0
                plans.append(_Plan(hs, "127.0.0.1", port))
            offset += 1
        self._plans = plans

    def _workdir(self) -> Path:
        if self.workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="psfleet-lab-")
            self.workdir = Path(self._tempdir.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Fleet:
        self._plan()
        workdir = self._workdir()
        if any((p.spec.scheme or "http") == "https" for p in self._plans):
            self.tls = make_lab_tls(
                workdir / "tls",
                names=[p.spec.name for p in self._plans],
                addresses=[p.address for p in self._plans],
            )
        ports: list[int]
        ports = self._start_in_process() if self.workers <= 0 else self._start_workers()
        admin = _default_user(self.spec)
        self.hosts = [
            FleetHost(
                name=p.spec.name,
                address=p.address,
                port=port,
                scheme=p.spec.scheme or "http",
                auth=_client_auth(p.spec, self.kerberos),
                username=admin.name,
                password="" if _ticket_auth(p.spec, self.kerberos) else admin.password,
                ca_file=str(self.tls.ca_file) if self.tls and (p.spec.scheme or "http") == "https" else None,
                profile=p.spec.profile,
                build=get_profile(p.spec.profile).build,
                fault=p.spec.fault.kind if p.spec.fault else None,
                **self._kerberos_client_fields(p.spec),
                smb_port=smb_port,
            )
            for p, port, smb_port in zip(self._plans, ports, self._smb_ports, strict=True)
        ]
        return self

    def _kerberos_client_fields(self, spec: HostSpec) -> dict[str, str]:
        if self.kerberos is None or not _accepts_kerberos(spec, self.kerberos):
            return {}
        return {
            "negotiate_service": self.kerberos.client_service,
            "negotiate_hostname_override": self.kerberos.hostname_for(spec.name),
        }

    def _start_in_process(self) -> list[int]:
        endpoints = [
            _endpoint(p, self.spec, str(self.state_dir) if self.state_dir else None, self.kerberos)
            for p in self._plans
        ]
        loop = asyncio.new_event_loop()
        server = LabServer(
            endpoints, list(self.spec.users), ssl_context=self.tls.server_context() if self.tls else None
        )
        loop.run_until_complete(server.start())
        self._smb = SmbResponder([(ep.sim, ep.address) for ep in endpoints], port=self._smb_port())
        self._smb_ports = loop.run_until_complete(self._smb.start())
        self._loop, self._server = loop, server
        self._thread = threading.Thread(target=loop.run_forever, name="psfleet-lab", daemon=True)
        self._thread.start()
        return [ep.port for ep in endpoints]

    def _start_workers(self) -> list[int]:
        ctx = multiprocessing.get_context("spawn")
        n = min(self.workers, max(1, len(self._plans)))
        chunks: list[list[int]] = [list(range(i, len(self._plans), n)) for i in range(n)]
        for idx in chunks:
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker_main,
                args=(
                    child,
                    [self._plans[i] for i in idx],
                    self.spec,
                    str(self.state_dir) if self.state_dir else None,
                    self.tls,
                    self.kerberos,
                    self._smb_port(),
                ),
                daemon=True,
            )
            proc.start()
            self._procs.append((proc, parent))
        ports = [0] * len(self._plans)
        self._smb_ports = [0] * len(self._plans)
        for (proc, parent), idx in zip(self._procs, chunks, strict=True):
            # 60 s, plus 20 ms per host: a worker building 5,000 hosts on a busy machine needs more.
            limit = 60.0 + 0.02 * len(idx)
            if not _wait_ready(proc, parent, limit):
                code = proc.exitcode
                self.stop()
                if code is not None:
                    raise RuntimeError(f"a lab worker exited with code {code} before it started serving")
                raise RuntimeError(f"a lab worker did not start within {limit:.0f} s")
            msg = parent.recv()
            for i, port, smb_port in zip(idx, msg["ports"], msg["smb_ports"], strict=True):
                ports[i], self._smb_ports[i] = port, smb_port
        return ports

    def _smb_port(self) -> int:
        return self.smb_port if self.smb_port is not None else default_port(self.addressing)

    def stop(self) -> None:
        if self._loop is not None and self._smb is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._smb.stop(), self._loop).result(timeout=5)
            self._smb = None
        if self._loop is not None and self._server is not None:
            fut = asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._loop.close()
            self._loop = self._server = None
        for _proc, conn in self._procs:
            with contextlib.suppress(OSError, EOFError):
                conn.send("stop")
        for proc, _ in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)
        self._procs.clear()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- introspection --------------------------------------------------------------------
    def sim(self, name: str) -> SimHost:
        """The simulated host (in-process fleets only), e.g. to read its registry in tests."""
        if self._server is None:
            raise RuntimeError("simulated hosts are reachable only in an in-process fleet (workers=0)")
        for ep in self._server.endpoints:
            if ep.name == name:
                return ep.sim
        raise KeyError(name)

    @property
    def server(self) -> LabServer:
        """The in-process server (workers=0), e.g. to set its ``on_exchange`` test hook."""
        if self._server is None:
            raise RuntimeError("the server is reachable only in an in-process fleet (workers=0)")
        return self._server

    def endpoint(self, name: str) -> HostEndpoint:
        if self._server is None:
            raise RuntimeError("endpoints are reachable only in an in-process fleet (workers=0)")
        for ep in self._server.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(name)

    def stats(self) -> dict[str, Any]:
        """Requests per host and lab CPU seconds (all workers)."""
        if self._server is not None:
            return _stats(self._server.endpoints, self._server)
        merged: dict[str, Any] = {"requests": {}, "pools_opened": {}, "total_requests": 0, "cpu_s": 0.0}
        for _, conn in self._procs:
            conn.send("stats")
            if not conn.poll(10):
                continue
            part = conn.recv()
            merged["requests"].update(part["requests"])
            merged["pools_opened"].update(part["pools_opened"])
            merged["total_requests"] += part["total_requests"]
            merged["cpu_s"] += part["cpu_s"]
        return merged

    # -- outputs --------------------------------------------------------------------------
    def password_file(self, user: LabUser) -> Path:
        """A 0600 file holding ``user``'s password, for inventories (``password_file:``)."""
        path = self._password_files.get(user.name)
        if path is None:
            path = self._password_files[user.name] = _write_password_file(self._workdir(), user)
        return path

    def inventory_text(
        self, *, user: LabUser | None = None, secrets_dir: Path | None = None, password_file: bool = True
    ) -> str:
        user = user or _default_user(self.spec)
        # Hosts with Kerberos keys get no username or password at all: the caller's ticket logs on.
        ticket_hosts = {p.spec.name for p in self._plans if _ticket_auth(p.spec, self.kerberos)}
        if ticket_hosts and all(h.name in ticket_hosts for h in self.hosts):
            password_file = False
        if not password_file:
            pw_path = Path()
        elif secrets_dir is not None:
            secrets_dir.mkdir(parents=True, exist_ok=True)
            pw_path = _write_password_file(secrets_dir, user)
        else:
            pw_path = self.password_file(user)
        credentials = [f"username: {json.dumps(user.name)}"]
        if password_file:
            credentials.append(f"password_file: {json.dumps(str(pw_path))}")
        lines = [
            "# psfleet inventory written by `psfleet lab serve` (a lab fleet on loopback).",
            "psfleet: 1",
        ]
        if not ticket_hosts:
            lines += ["defaults:", *(f"  {c}" for c in credentials)]
        lines.append("hosts:")
        for h in self.hosts:
            lines.append(f"  {json.dumps(h.name)}:")
            lines.append(f"    address: {json.dumps(h.address)}")
            lines.append(f"    port: {h.port}")
            lines.append(f"    scheme: {h.scheme}")
            lines.append(f"    auth: {h.auth}")
            if h.smb_port:
                lines.append(f"    smb_port: {h.smb_port}")
            if ticket_hosts and h.name not in ticket_hosts:
                lines += [f"    {c}" for c in credentials]
            if h.negotiate_hostname_override:
                lines.append(f"    negotiate_service: {json.dumps(h.negotiate_service)}")
                lines.append(f"    negotiate_hostname_override: {json.dumps(h.negotiate_hostname_override)}")
            if h.ca_file:
                lines.append(f"    ca_file: {json.dumps(h.ca_file)}")
        return "\n".join(lines) + "\n"

    def write_inventory(self, path: Path, *, user: LabUser | None = None, password_file: bool = True) -> None:
        secrets_dir = path.parent / (path.stem + ".secrets")
        text = self.inventory_text(user=user, secrets_dir=secrets_dir, password_file=password_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text, mode=0o644)

    def write_fleet_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps([h.public_dict() for h in self.hosts], indent=2) + "\n", mode=0o600)
