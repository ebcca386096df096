"""The lab's WinRM endpoint: HTTP/1.1 with keep-alive at /wsman, one listener per host.

Everything runs on one asyncio event loop per process: waiting (latency, pool-open delay,
long-polls, hung connections) costs no CPU, so a single process holds a thousand hosts.
Faults are injected here, at the transport, where they happen on real networks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import socket
import ssl
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psrpcore

from toolkit.lab import wsman
from toolkit.lab.auth import BOUNDARY, Authenticator, ConnAuth
from toolkit.lab.host import LabUser, SimHost
from toolkit.lab.shell import LabShell
from toolkit.lab.wsman import WSManFault

if TYPE_CHECKING:
    from toolkit.lab.kerberos import KerberosAcceptor

log = logging.getLogger(__name__)

MAX_HEADER = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
POWERSHELL_RESOURCE = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
#: pypsrp's ``is_alive`` reads shell state through the generic shell resource URI.
GENERIC_SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


@dataclass
class FaultConfig:
    kind: str | None = None  # one of toolkit.lab.spec.FAULT_KINDS
    ms: int = 0
    count: int = 0


@dataclass
class HostEndpoint:
    """One simulated host bound to an address and port."""

    name: str
    sim: SimHost
    address: str
    port: int
    build: int = 17763
    #: The build's revision (UBR) PowerShell reports in PSVersionTable; None: 0.
    revision: int | None = None
    scheme: str = "http"
    auth_methods: tuple[str, ...] = ("negotiate", "ntlm")
    latency_ms: float = 0.0
    pool_open_ms: float = 0.0
    fault: FaultConfig = field(default_factory=FaultConfig)
    shells: dict[str, LabShell] = field(default_factory=dict)
    requests: int = 0
    connections: int = 0
    pools_opened: int = 0
    #: Accepts Kerberos (keytab-backed, see toolkit.lab.kerberos) when set; NTLM otherwise.
    kerberos: KerberosAcceptor | None = None
    #: Client addresses accepted (empty: any); others are reset, as by a firewall.
    allow_from: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}/wsman"


class _HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    """Read one HTTP request; None on a clean EOF between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _HttpError(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise _HttpError(431, "request head too large") from None
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ", 2)
    except ValueError:
        raise _HttpError(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise _HttpError(400, "unsupported HTTP version")
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _HttpError(400, "malformed header")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _HttpError(411, "chunked requests are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _HttpError(400, "bad Content-Length") from None
    if length < 0:
        raise _HttpError(400, "bad Content-Length")
    if length > MAX_BODY:
        raise _HttpError(413, "request body too large")
    try:
        body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise _HttpError(400, "body shorter than Content-Length") from None
    return method, target, headers, body


def _response(status: int, headers: list[tuple[str, str]], body: bytes, *, close: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "Server: Microsoft-HTTPAPI/2.0"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _host_part(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _encrypted(headers: dict[str, str]) -> bool:
    return (
        headers.get("content-type", "")
        .lower()
        .startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
    )


#: A legal MIME boundary other than the "Encrypted Boundary" Windows always sends.
ODD_BOUNDARY = "psfleet-lab-0dd-b0undary"


def _rebound(headers: list[tuple[str, str]], body: bytes) -> tuple[list[tuple[str, str]], bytes]:
    """An encrypted answer re-framed with :data:`ODD_BOUNDARY` (the content is unchanged)."""
    if not any(k.lower() == "content-type" and v.startswith("multipart/") for k, v in headers):
        return headers, body
    old = b"--" + BOUNDARY.encode()
    new_headers = [(k, v.replace(BOUNDARY, ODD_BOUNDARY)) for k, v in headers]
    return new_headers, body.replace(old, b"--" + ODD_BOUNDARY.encode())


#: Where an endless body stops by itself (a client without a cap fails its test, not the box).
ENDLESS_LIMIT = 512 * 1024 * 1024


async def _endless_body(writer: asyncio.StreamWriter, *, delay: float) -> None:
    """A 200 whose chunked body never ends (``delay`` seconds between 64 kB chunks)."""
    writer.write(
        b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\n"
        b"Content-Type: application/soap+xml;charset=UTF-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b" " * 65536
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    while sent < ENDLESS_LIMIT:
        writer.write(frame)
        await writer.drain()
        sent += len(piece)
        if delay:
            await asyncio.sleep(delay)


def _rst(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP reset, as a middlebox or crashed service does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class LabServer:
    """Serves a set of :class:`HostEndpoint` on one event loop."""

    def __init__(
        self,
        endpoints: list[HostEndpoint],
        users: list[LabUser],
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoints = endpoints
        self.authenticator = Authenticator(users)
        self.ssl_context = ssl_context
        self._servers: list[asyncio.base_events.Server] = []
        self._reserved: list[socket.socket] = []
        #: Hosts with the reauth fault: how many 401s each has sent on an encrypted message.
        self._reauths: dict[str, int] = {}
        self._conns: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.total_requests = 0
        self.on_request: Callable[[HostEndpoint], None] | None = None
        #: Test hook: called with each decrypted SOAP request and the SOAP reply (or fault)
        #: before encryption, to compare the lab's traffic with recorded Windows traffic.
        self.on_exchange: Callable[[bytes, bytes], None] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        for ep in self.endpoints:
            family = socket.AF_INET6 if ":" in ep.address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((ep.address, ep.port))
            ep.port = sock.getsockname()[1]
            if ep.fault.kind == "refuse":
                # Hold the port without listening: connections are refused, as by a host
                # whose WinRM service is stopped.
                self._reserved.append(sock)
                continue
            sock.listen(512)
            sock.setblocking(False)
            ctx = self.ssl_context if ep.scheme == "https" else None
            server = await asyncio.start_server(
                functools.partial(self._serve, ep), sock=sock, ssl=ctx, limit=MAX_HEADER
            )
            self._servers.append(server)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for w in list(self._conns):
            w.transport.abort()
        # Connections parked in a hang fault or a long-poll wait on no socket: cancel them so
        # no task outlives the loop ("Task was destroyed but it is pending").
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        for sock in self._reserved:
            sock.close()
        self._servers.clear()
        self._reserved.clear()

    # -- one connection -------------------------------------------------------------------
    async def _serve(
        self, ep: HostEndpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._conns.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        ep.connections += 1
        try:
            if ep.allow_from:
                peer_ip = (writer.get_extra_info("peername") or ("",))[0]
                if peer_ip not in ep.allow_from:
                    _rst(writer)  # a firewall that rejects: the client sees a reset
                    return
            if ep.fault.kind == "flaky" and ep.connections <= ep.fault.count:
                _rst(writer)
                return
            https = ep.scheme == "https"

            def new_conn() -> ConnAuth:
                return ConnAuth(
                    self.authenticator,
                    https=https,
                    methods=ep.auth_methods,
                    fail_all=ep.fault.kind == "auth_fail",
                    kerberos=ep.kerberos,
                )

            conn = new_conn()
            peer = writer.get_extra_info("peername")
            client_ip = str(peer[0]) if peer else "127.0.0.1"
            while True:
                try:
                    request = await _read_request(reader)
                except _HttpError as exc:
                    writer.write(
                        _response(
                            exc.status, [("Content-Type", "text/plain")], exc.reason.encode(), close=True
                        )
                    )
                    await writer.drain()
                    return
                if request is None:
                    return
                ep.requests += 1
                self.total_requests += 1
                if self.on_request is not None:
                    self.on_request(ep)
                if ep.fault.kind == "hang":
                    await asyncio.Event().wait()  # until the lab stops
                if ep.fault.kind == "reset":
                    # Reset before any byte of a response, as a middlebox or a crashed service
                    # does: the client sees ConnectionResetError ("Connection aborted").
                    _rst(writer)
                    return
                if ep.fault.kind == "redirect":
                    # A 307 to plain HTTP elsewhere (a hostile host or a misconfigured proxy):
                    # a client that follows it sends the body and its token in clear.
                    location = f"http://{_host_part(ep.address)}:{ep.port}/wsman-redirected"
                    writer.write(_response(307, [("Location", location)], b""))
                    await writer.drain()
                    continue
                if ep.fault.kind == "endless_body":
                    await _endless_body(writer, delay=ep.fault.ms / 1000.0)
                    return
                if (
                    ep.fault.kind == "reauth"
                    and _encrypted(request[2])
                    and self._reauths.get(ep.name, 0) < max(1, ep.fault.count)
                ):
                    # Windows drops a security context now and then: a 401 on the first
                    # encrypted message (the first ``count`` on this host); the client must
                    # authenticate afresh.
                    self._reauths[ep.name] = self._reauths.get(ep.name, 0) + 1
                    conn = new_conn()
                    writer.write(_response(401, conn.challenge_headers(), b""))
                    await writer.drain()
                    continue
                status, headers, body, close = await self._handle(ep, conn, client_ip, *request)
                if ep.fault.kind == "conn_close" and _encrypted(request[2]):
                    close = True  # one answered message per connection, then Connection: close
                if ep.fault.kind == "odd_boundary":
                    headers, body = _rebound(headers, body)
                delay = ep.latency_ms + (ep.fault.ms if ep.fault.kind == "slow" else 0)
                if delay:
                    await asyncio.sleep(delay / 1000.0)
                writer.write(_response(status, headers, body, close=close))
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            return
        except asyncio.CancelledError:
            # Only stop() cancels a connection; ending quietly keeps asyncio's stream callback
            # from logging the cancellation as an error.
            return
        finally:
            self._conns.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(
        self,
        ep: HostEndpoint,
        conn: ConnAuth,
        client_ip: str,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> tuple[int, list[tuple[str, str]], bytes, bool]:
        if target.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            return 404, [("Content-Type", "text/plain")], b"Not Found", False
        if method != "POST":
            return 405, [("Allow", "POST")], b"", False
        auth = conn.handle(headers.get("authorization"))
        if auth.status != 200:
            return 401, auth.headers, b"", False
        assert auth.user is not None
        ctype = headers.get("content-type", "")
        if not body:
            # The empty POST pypsrp sends to set up the security context.
            return 200, auth.headers, b"", False
        encrypted = ctype.lower().startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
        if conn.encrypt and not encrypted:
            # Windows with AllowUnencrypted=false refuses plain SOAP over HTTP.
            return 401, conn.challenge_headers(), b"", False
        try:
            soap = conn.unwrap(body, ctype) if encrypted else body
        except Exception as exc:  # a message that does not decrypt is dropped, as by HTTP.sys
            log.debug("undecryptable message from %s: %s", client_ip, exc)
            return 400, [("Content-Type", "text/plain")], b"message could not be decrypted", True
        relates_to = None
        try:
            req = wsman.parse_request(soap)
            relates_to = req.message_id
            if ep.fault.kind == "http500":
                raise WSManFault(
                    code=wsman.INTERNAL_ERROR,
                    subcode="w:InternalError",
                    reason="The WS-Management service cannot process the request. The service is configured to "
                    "reject this request (psfleet lab fault http500).",
                    sender=False,
                )
            status, reply = 200, await self._dispatch(ep, req, auth.user, client_ip)
        except WSManFault as fault:
            status, reply = fault.http_status, wsman.fault_envelope(fault, relates_to, ep.address)
        except Exception as exc:
            # A bug in the lab must not drop the connection (and with it the NTLM context):
            # answer as Windows does for an internal failure and keep serving.
            log.exception("%s: internal error handling a request", ep.name)
            internal = WSManFault(
                code=wsman.INTERNAL_ERROR,
                subcode="w:InternalError",
                reason=f"The WS-Management service cannot process the request. Internal error: {exc}",
                sender=False,
            )
            status, reply = internal.http_status, wsman.fault_envelope(internal, relates_to, ep.address)
        if self.on_exchange is not None:
            self.on_exchange(soap, reply)
        out_headers = list(auth.headers)
        if conn.encrypt:
            wrapped_type, reply = conn.wrap(reply)
            out_headers.append(("Content-Type", wrapped_type))
        else:
            out_headers.append(("Content-Type", "application/soap+xml;charset=UTF-8"))
        return status, out_headers, reply, False

    # -- WS-Man actions -------------------------------------------------------------------
    async def _dispatch(self, ep: HostEndpoint, req: wsman.Request, user: LabUser, client_ip: str) -> bytes:
        action = req.action
        is_shell_uri = (
            req.resource_uri.startswith(wsman.POWERSHELL_URI_PREFIX) or req.resource_uri == GENERIC_SHELL_URI
        )
        if action == wsman.ACTION_PREFIX_TRANSFER + "Create":
            if req.resource_uri != POWERSHELL_RESOURCE:
                raise _resource_not_found(req.resource_uri)
            return await self._create(ep, req, user, client_ip)
        if not is_shell_uri:
            raise _resource_not_found(req.resource_uri)
        if req.shell_id is None:
            raise WSManFault(
                code=wsman.INVALID_SELECTORS,
                subcode="w:InvalidSelectors",
                reason="The WS-Management service cannot process the request because the request did not "
                "contain the ShellId selector.",
            )
        shell = ep.shells.get(req.shell_id.upper())
        if shell is None:
            if action == wsman.ACTION_PREFIX_TRANSFER + "Get":
                raise wsman.shell_gone_fault()
            raise wsman.shell_not_found_fault(req.shell_id)
        shell.max_envelope_size = req.max_envelope_size
        if action == wsman.ACTION_PREFIX_TRANSFER + "Get":
            return wsman.get_response(req, shell.shell_id, str(user.name), client_ip, shell.idle_timeout)
        if action == wsman.ACTION_PREFIX_TRANSFER + "Delete":
            shell.close()
            del ep.shells[shell.shell_id]
            return wsman.delete_response(req)
        if action == wsman.ACTION_PREFIX_SHELL + "Command":
            return self._command(shell, req)
        if action == wsman.ACTION_PREFIX_SHELL + "Send":
            return self._send(shell, req)
        if action == wsman.ACTION_PREFIX_SHELL + "Receive":
            return await self._receive(shell, req)
        if action == wsman.ACTION_PREFIX_SHELL + "Signal":
            return self._signal(shell, req)
        raise WSManFault(
            code=wsman.ACTION_NOT_SUPPORTED,
            subcode="a:ActionNotSupported",
            reason=f"The WS-Management service cannot process the request. The action {req.short_action!r} is not supported "
            "for this resource.",
        )

    async def _create(self, ep: HostEndpoint, req: wsman.Request, user: LabUser, client_ip: str) -> bytes:
        shell_el = req.body.find("rsp:Shell", wsman.NS)
        creation = shell_el.find("pwsh:creationXml", wsman.NS) if shell_el is not None else None
        if shell_el is None or creation is None or not creation.text:
            raise wsman.bad_request_fault("The Create request has no rsp:Shell with creationXml.")
        shell_id = (shell_el.get("ShellId") or str(uuid.uuid4())).upper()
        if shell_id in ep.shells:
            raise WSManFault(
                code=wsman.INVALID_SELECTORS,
                subcode="w:AlreadyExists",
                reason=f"The shell {shell_id} already exists.",
            )
        if not user.remoting:
            # The logon succeeded, but the account may not use the PowerShell endpoint.
            raise wsman.access_denied_fault()
        effective_user = user
        if ep.fault.kind == "non_admin" and user.admin:
            effective_user = LabUser(name=user.name, password=user.password, admin=False)
        shell = LabShell(
            shell_id, ep.sim, effective_user, ep.build, req.max_envelope_size, revision=ep.revision
        )
        try:
            shell.feed(_b64(creation.text))
        except (psrpcore.PSRPCoreError, ValueError, KeyError, TypeError) as exc:
            raise wsman.bad_request_fault(f"The creationXml is not a valid PSRP message ({exc}).") from None
        if ep.pool_open_ms:
            # Real Windows starts a wsmprovhost.exe per pool: hundreds of milliseconds.
            await asyncio.sleep(ep.pool_open_ms / 1000.0)
        idle = shell_el.find("rsp:IdleTimeOut", wsman.NS)
        if idle is not None and idle.text:
            # Windows keeps the IdleTimeOut the client asks for (and shows it with milliseconds).
            shell.idle_timeout = wsman.idle_timeout_text(wsman.parse_duration(idle.text, 7200.0))
        ep.shells[shell_id] = shell
        ep.pools_opened += 1
        address = ep.url
        return wsman.create_response(req, shell_id, address, str(user.name), client_ip, shell.idle_timeout)

    def _command(self, shell: LabShell, req: wsman.Request) -> bytes:
        cmd = req.body.find("rsp:CommandLine", wsman.NS)
        args = cmd.find("rsp:Arguments", wsman.NS) if cmd is not None else None
        if cmd is None or args is None or not args.text:
            raise wsman.bad_request_fault("The Command request has no rsp:CommandLine/rsp:Arguments.")
        raw_id = cmd.get("CommandId") or str(uuid.uuid4())
        try:
            command_id = uuid.UUID(raw_id)
            shell.create_pipeline(command_id, _b64(args.text))
        except (psrpcore.PSRPCoreError, ValueError, KeyError, TypeError) as exc:
            raise wsman.bad_request_fault(
                f"The command is not a valid PSRP CreatePipeline ({exc})."
            ) from None
        return wsman.command_response(req, str(command_id).upper())

    def _send(self, shell: LabShell, req: wsman.Request) -> bytes:
        send = req.body.find("rsp:Send", wsman.NS)
        if send is None:
            raise wsman.bad_request_fault("The Send request has no rsp:Send.")
        for stream in send.findall("rsp:Stream", wsman.NS):
            cid = stream.get("CommandId")
            try:
                pid = uuid.UUID(cid) if cid else None
                shell.feed(_b64(stream.text or ""), pid)
            except (psrpcore.PSRPCoreError, ValueError, KeyError, TypeError) as exc:
                raise wsman.bad_request_fault(f"The stream is not valid PSRP data ({exc}).") from None
        return wsman.send_response(req)

    async def _receive(self, shell: LabShell, req: wsman.Request) -> bytes:
        desired = req.body.find("rsp:Receive/rsp:DesiredStream", wsman.NS)
        cid = desired.get("CommandId") if desired is not None else None
        try:
            command_id = uuid.UUID(cid) if cid else None
        except ValueError:
            raise wsman.bad_request_fault("CommandId is not a GUID.") from None
        if command_id is not None and not shell.has_pipeline(command_id):
            raise wsman.unknown_command_fault()
        budget = req.max_envelope_size - wsman.RECEIVE_OVERHEAD
        deadline = time.monotonic() + max(req.operation_timeout, 0.5)
        while True:
            shell.tick()
            streams, more = shell.take_output(command_id, budget)
            running = command_id is not None and shell.pipeline_running(command_id)
            if streams or (command_id is not None and not running):
                done = command_id is not None and not running and not more
                return wsman.receive_response(
                    req, streams, str(command_id).upper() if command_id else None, done
                )
            if time.monotonic() >= deadline:
                raise wsman.timed_out_fault()
            await asyncio.sleep(0.02)

    def _signal(self, shell: LabShell, req: wsman.Request) -> bytes:
        sig = req.body.find("rsp:Signal", wsman.NS)
        code_el = sig.find("rsp:Code", wsman.NS) if sig is not None else None
        if sig is None or code_el is None or not code_el.text:
            raise wsman.bad_request_fault("The Signal request has no rsp:Signal/rsp:Code.")
        cid = sig.get("CommandId")
        try:
            command_id = uuid.UUID(cid) if cid else None
        except ValueError:
            raise wsman.bad_request_fault("CommandId is not a GUID.") from None
        code = code_el.text.strip()
        if command_id is not None:
            if not shell.has_pipeline(command_id):
                raise wsman.unknown_command_fault()
            if code.endswith("crtl_c") or code.endswith("ctrl_c"):
                shell.stop_pipeline(command_id)
            elif code == wsman.SIGNAL_TERMINATE:
                shell.close_pipeline(command_id)
        return wsman.signal_response(req)


def _resource_not_found(uri: str) -> WSManFault:
    return WSManFault(
        code=wsman.RESOURCE_NOT_FOUND,
        subcode="w:DestinationUnreachable",
        reason=f"The WS-Management service cannot process the request. The resource URI ({uri}) was not found "
        "in the WS-Management catalog.",
    )


def _b64(text: str) -> bytes:
    return base64.b64decode(text.strip(), validate=True)
