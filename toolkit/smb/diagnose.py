"""Why "TCP connection is aborted during Validate Negotiate" happens on a given path.

:func:`diagnose_validate_negotiate` does what a Windows 8.x client does on SMB 3.0.2 / 3.0
(docs/windows-facts.md#validate-negotiate-dialects): NEGOTIATE, authenticate, tree-connect ``IPC$``, then send
FSCTL_VALIDATE_NEGOTIATE_INFO. It compares the NEGOTIATE response the client saw with what
the server states in its signed validate-negotiate response, field by field, and explains a
mismatch (docs/windows-facts.md#validate-negotiate-abort) with the two workarounds and which one the
client's build allows (docs/windows-facts.md#rsn-enforced-since-10240).

smbprotocol's own check (``TreeConnect.connect(require_secure_negotiate=True)``) stops at the
first differing field and raises; the FSCTL is sent here with smbprotocol's ioctl structures
instead, so every differing field is reported.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from toolkit.checks.rules import RSN_WORKAROUND, SIGNING_SAFER_WORKAROUND
from toolkit.results import ErrorKind, HostError
from toolkit.smb.frames import FrameError, NegotiateRefused, negotiate_request, parse_negotiate_response
from toolkit.smb.probe import NegotiateInfo
from toolkit.smb.stream import SmbStream, StreamError
from toolkit.smb.wire import (
    Deadline,
    classify_error,
    describe_capabilities,
    describe_security_mode,
    dialect_name,
    dialect_value,
    disconnect_quietly,
    exception_text,
)

WORKSTATION_PARAMETERS = r"HKLM:\SYSTEM\CurrentControlSet\Services\LanmanWorkstation\Parameters"
NEW_CONNECTIONS_NOTE = "takes effect for new SMB connections; existing mappings may need reconnecting"


class DiagnosisStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    #: The server speaks none of the dialects that use validate negotiate.
    NOT_APPLICABLE = "not_applicable"
    #: The diagnosis could not get far enough (see ``error``).
    ERROR = "error"


class Stage(StrEnum):
    NEGOTIATE = "negotiate"
    SESSION_SETUP = "session_setup"
    TREE_CONNECT = "tree_connect"
    VALIDATE_NEGOTIATE = "validate_negotiate"


@dataclass(frozen=True)
class Difference:
    """One field the client saw in the NEGOTIATE response that the server does not confirm."""

    field: str
    client_saw: str
    server_says: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "client_saw": self.client_saw, "server_says": self.server_says}


@dataclass(frozen=True)
class Workaround:
    id: str
    title: str
    #: PowerShell for display (the remediation code sends it as a structured command).
    command: str
    risk: str
    #: True/False for the client build given; None when the build is unknown.
    applies: bool | None
    reason: str
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "command": self.command,
            "risk": self.risk,
            "applies": self.applies,
            "reason": self.reason,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class DialectAttempt:
    dialect: str
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return {"dialect": self.dialect, "outcome": self.outcome}


@dataclass(frozen=True)
class DiagnosisResult:
    server: str
    port: int
    status: DiagnosisStatus
    message: str
    #: The dialect the client saw in the NEGOTIATE response (what it then validates).
    dialect: str | None = None
    #: The dialect psfleet offered (alone) in that NEGOTIATE; differs from ``dialect`` only
    #: when something answered with another one.
    dialect_requested: str | None = None
    attempts: tuple[DialectAttempt, ...] = ()
    #: Where the run stopped (the last stage reached).
    stage: Stage | None = None
    #: What the client saw in the NEGOTIATE response.
    client_view: NegotiateInfo | None = None
    #: What the server said in the FSCTL_VALIDATE_NEGOTIATE_INFO response (None if none came).
    server_view: NegotiateInfo | None = None
    differences: tuple[Difference, ...] = ()
    connection_dropped: bool = False
    likely_cause: str = ""
    workarounds: tuple[Workaround, ...] = ()
    client_build: int | None = None
    error: HostError | None = None
    duration_s: float = 0.0

    @property
    def recommended(self) -> Workaround | None:
        """The safest workaround that applies (signing first: docs/windows-facts.md#signing-safer-workaround)."""
        for w in self.workarounds:
            if w.applies:
                return w
        return None

    def to_dict(self) -> dict[str, Any]:
        recommended = self.recommended
        return {
            "server": self.server,
            "port": self.port,
            "status": self.status.value,
            "message": self.message,
            "dialect": self.dialect,
            "dialect_requested": self.dialect_requested,
            "attempts": [a.to_dict() for a in self.attempts],
            "stage": self.stage.value if self.stage else None,
            "client_view": self.client_view.to_dict() if self.client_view else None,
            "server_view": self.server_view.to_dict() if self.server_view else None,
            "differences": [d.to_dict() for d in self.differences],
            "connection_dropped": self.connection_dropped,
            "likely_cause": self.likely_cause,
            "workarounds": [w.to_dict() for w in self.workarounds],
            "recommended": recommended.id if recommended else None,
            "client_build": self.client_build,
            "error": self.error.to_dict() if self.error else None,
            "duration_s": round(self.duration_s, 3),
        }


def negotiate_info(connection: Any) -> NegotiateInfo:
    """Read what the client saw in the NEGOTIATE response from a connected smbprotocol
    ``Connection``."""
    capabilities = connection.server_capabilities
    return NegotiateInfo(
        dialect=dialect_name(connection.dialect),
        capabilities=int(capabilities.get_value()) if capabilities is not None else 0,
        security_mode=int(connection.server_security_mode or 0),
        server_guid=str(connection.server_guid),
    )


def open_negotiated(
    address: str, port: int, *, dialect: str | None, deadline: Deadline, require_signing: bool
) -> Any:
    """A connected smbprotocol ``Connection`` after NEGOTIATE (caller disconnects it).

    ``dialect`` None offers every dialect smbprotocol knows (2.0.2 to 3.1.1) and lets the
    server choose; a name offers only that one.
    """
    from smbprotocol.connection import Connection

    connection = Connection(uuid.uuid4(), address, port, require_signing=require_signing)
    deadline.watch(connection)
    # connect()'s timeout bounds the TCP connect; smbprotocol truncates the elapsed-adjusted
    # value to whole seconds for the negotiate receive (2 -> 1), so add a second and let the
    # deadline, which closes the socket on time, be the exact bound.
    timeout = deadline.remaining() + 1
    try:
        connection.connect(dialect=dialect_value(dialect) if dialect else None, timeout=timeout)
    except BaseException:
        disconnect_quietly(connection)
        raise
    return connection


def workarounds_for(client_build: int | None) -> tuple[Workaround, ...]:
    """The two workarounds for a validate-negotiate failure, safest first, judged for a client
    of ``client_build`` (docs/windows-facts.md#rsn-workaround, signing-safer-workaround). Pure."""
    if client_build is None:
        rsn_applies: bool | None = None
        rsn_reason = "depends on the client's build: honoured only on 9200/9600"
        sign_reason = "applies to any client build"
    elif client_build < 9200:
        rsn_applies = False
        rsn_reason = f"build {client_build} has no validate negotiate at all (max SMB 2.1)"
        sign_reason = f"build {client_build}: signing still protects the traffic"
    elif client_build in (9200, 9600):
        rsn_applies = True
        rsn_reason = f"build {client_build} (Windows 8/8.1, Server 2012/2012 R2) honours the value"
        sign_reason = f"build {client_build}: applies, and is the safer choice"
    else:
        rsn_applies = False
        rsn_reason = (
            f"build {client_build} enforces validate negotiate (or pre-auth integrity) whatever the "
            "value says: it cannot be disabled on Windows 10 / Server 2016 or later"
        )
        sign_reason = f"build {client_build}: the only workaround available"
    signing = Workaround(
        id="require_signing",
        title="Require SMB signing",
        command=(
            f"Set-ItemProperty -Path '{WORKSTATION_PARAMETERS}' -Name RequireSecuritySignature "
            "-Value 1 -Type DWord -Force"
        ),
        risk=(
            "Safer: keeps negotiate validation on; WAN accelerators generally stop "
            "optimizing, and so rewriting, signed SMB sessions (psfleet's assumption). Costs some "
            "throughput and blocks guest access. Client side shown; LanmanServer "
            "RequireSecuritySignature=1 on the server works too; "
            f"{NEW_CONNECTIONS_NOTE}."
        ),
        applies=True,
        reason=sign_reason,
        rule=SIGNING_SAFER_WORKAROUND,
    )
    require_secure_negotiate_off = Workaround(
        id="require_secure_negotiate_off",
        title="Disable RequireSecureNegotiate",
        command=(
            f"Set-ItemProperty -Path '{WORKSTATION_PARAMETERS}' -Name RequireSecureNegotiate "
            "-Value 0 -Type DWord -Force"
        ),
        risk=(
            "Security risk: removes the client's protection against dialect downgrade; use only "
            "temporarily while the device in the path is fixed, then remove the value. "
            f"Honoured only on builds 9200/9600; {NEW_CONNECTIONS_NOTE}."
        ),
        applies=rsn_applies,
        reason=rsn_reason,
        rule=RSN_WORKAROUND,
    )
    return (signing, require_secure_negotiate_off)


def compare_negotiate(client_view: NegotiateInfo, server_view: NegotiateInfo) -> tuple[Difference, ...]:
    """The fields of the NEGOTIATE response the server does not confirm. Pure."""
    out: list[Difference] = []
    if client_view.dialect != server_view.dialect:
        out.append(Difference("dialect", str(client_view.dialect), str(server_view.dialect)))
    if client_view.capabilities != server_view.capabilities:
        out.append(
            Difference(
                "capabilities",
                describe_capabilities(client_view.capabilities),
                describe_capabilities(server_view.capabilities),
            )
        )
    if client_view.security_mode != server_view.security_mode:
        out.append(
            Difference(
                "security_mode",
                describe_security_mode(client_view.security_mode),
                describe_security_mode(server_view.security_mode),
            )
        )
    if client_view.server_guid.lower() != server_view.server_guid.lower():
        out.append(Difference("server_guid", client_view.server_guid, server_view.server_guid))
    return tuple(out)


def likely_cause(differences: Sequence[Difference], *, dropped: bool, unsigned: bool = False) -> str:
    """Plain words for what most likely happened in the path
    (docs/windows-facts.md#validate-negotiate-abort). Pure."""
    if dropped:
        return (
            "The server dropped the connection when asked to validate the NEGOTIATE: the NEGOTIATE "
            "request it received differed from what this client sent. A device in the path "
            "rewrote the NEGOTIATE, e.g. a WAN accelerator."
        )
    if unsigned:
        return (
            "The validate-negotiate reply was not signed: something in the path answered for the "
            "server, e.g. a WAN accelerator terminating SMB."
        )
    fields = {d.field for d in differences}
    if fields == {"server_guid"}:
        return (
            "Only the server GUID differs: the NEGOTIATE may have been answered by another server "
            "than the one that validated it (load balancer or SMB proxy in the path)."
        )
    if fields:
        return (
            "The server's signed statement differs from the NEGOTIATE response the client saw "
            f"({', '.join(sorted(fields))}): a device in the path rewrote the NEGOTIATE, e.g. a "
            "WAN accelerator."
        )
    return ""


def diagnose_validate_negotiate(
    server: str,
    port: int = 445,
    *,
    username: str,
    password: str,
    dialects: Sequence[str] = ("3.0.2", "3.0"),
    client_build: int | None = None,
    timeout: float = 30.0,
) -> DiagnosisResult:
    """Run validate negotiate against ``server:port`` the way a Windows 8.x client does.

    Tries each of ``dialects`` in order and diagnoses with the first one the server accepts.
    ``pass``: the server's signed FSCTL_VALIDATE_NEGOTIATE_INFO response confirms the NEGOTIATE
    response (or the server does not implement the FSCTL and says so in a signed error, which
    Windows accepts). ``fail``: a field differs, the reply is unsigned, or the connection is
    dropped during the FSCTL; ``differences``, ``likely_cause`` and ``workarounds`` explain,
    judged for ``client_build`` (docs/windows-facts.md#rsn-enforced-since-10240). ``not_applicable``: the server speaks none of
    ``dialects``. ``error``: unreachable, timeout, auth_failed, access_denied or
    protocol_error before the FSCTL (see ``error``).

    ``timeout`` bounds the whole run; every message is read through a header check and a size
    cap (a bounded NEGOTIATE first, then smbprotocol with :mod:`toolkit.compat.smbprotocol`). Signing is required on the connection: smbprotocol 1.17
    fails every 2.1/3.0/3.0.2 tree connect to a signing-required server otherwise
    (docs/windows-facts.md#smbprotocol-client).
    Never raises for network, auth or protocol trouble (ValueError for a bad ``dialects``).
    Thread-safe: it shares nothing between calls.
    """
    for name in dialects:
        if dialect_value(name) >= dialect_value("3.1.1"):
            raise ValueError(f"dialect {name} uses pre-auth integrity, not validate negotiate")
    from toolkit.compat.smbprotocol import install as bound_smbprotocol

    bound_smbprotocol()
    return _Run(server, port, client_build, timeout).run(username, password, dialects)


class _Run:
    """One diagnosis: the bookkeeping shared by its stages."""

    def __init__(self, server: str, port: int, client_build: int | None, timeout: float) -> None:
        self.server = server
        self.port = port
        self.client_build = client_build
        self.timeout = timeout
        self.target = f"{server}:{port}"
        self.started = time.monotonic()
        self.attempts: list[DialectAttempt] = []
        self.dialect: str | None = None
        self.client_view: NegotiateInfo | None = None

    def result(self, status: DiagnosisStatus, message: str, stage: Stage, **kw: Any) -> DiagnosisResult:
        return DiagnosisResult(
            self.server,
            self.port,
            status,
            message,
            dialect=self.client_view.dialect if self.client_view else None,
            dialect_requested=self.dialect,
            attempts=tuple(self.attempts),
            stage=stage,
            client_view=self.client_view,
            client_build=self.client_build,
            duration_s=time.monotonic() - self.started,
            **kw,
        )

    def error(self, exc: BaseException, stage: Stage, deadline: Deadline | None) -> DiagnosisResult:
        error = classify_error(exc, deadline=deadline, target=self.target, timeout=self.timeout)
        return self.error_result(error, stage)

    def error_result(self, error: HostError, stage: Stage) -> DiagnosisResult:
        return self.result(DiagnosisStatus.ERROR, error.message, stage, error=error)

    def failed(
        self,
        message: str,
        *,
        differences: tuple[Difference, ...] = (),
        dropped: bool = False,
        unsigned: bool = False,
        server_view: NegotiateInfo | None = None,
    ) -> DiagnosisResult:
        return self.result(
            DiagnosisStatus.FAIL,
            message,
            Stage.VALIDATE_NEGOTIATE,
            server_view=server_view,
            differences=differences,
            connection_dropped=dropped,
            likely_cause=likely_cause(differences, dropped=dropped, unsigned=unsigned),
            workarounds=workarounds_for(self.client_build),
        )

    def run(self, username: str, password: str, dialects: Sequence[str]) -> DiagnosisResult:
        from smbprotocol.exceptions import NotSupported

        for name in dialects:
            remaining = self.timeout - (time.monotonic() - self.started)
            if remaining <= 0:
                timed_out = HostError(ErrorKind.TIMEOUT, f"{self.target}: no answer within {self.timeout:g}s")
                return self.error_result(timed_out, Stage.NEGOTIATE)
            refused = self.preflight(name, remaining)
            if isinstance(refused, DiagnosisResult):
                return refused
            if refused:
                self.attempts.append(DialectAttempt(name, "not supported by the server"))
                continue
            remaining = self.timeout - (time.monotonic() - self.started)
            connection: Any = None
            with Deadline(remaining) as deadline:
                try:
                    connection = open_negotiated(
                        self.server, self.port, dialect=name, deadline=deadline, require_signing=True
                    )
                except NotSupported:
                    self.attempts.append(DialectAttempt(name, "not supported by the server"))
                    continue
                except Exception as exc:
                    failure = self.error(exc, Stage.NEGOTIATE, deadline)
                    self.attempts.append(DialectAttempt(name, f"{failure.status.value}: {failure.message}"))
                    return failure
                try:
                    self.attempts.append(DialectAttempt(name, "negotiated"))
                    self.dialect = name
                    self.client_view = negotiate_info(connection)
                    return self.connected(connection, username, password, deadline)
                finally:
                    disconnect_quietly(connection)

        return self.result(
            DiagnosisStatus.NOT_APPLICABLE,
            f"{self.target} speaks none of {', '.join(dialects)}: validate negotiate is not used on "
            "this path",
            Stage.NEGOTIATE,
        )

    def preflight(self, name: str, remaining: float) -> DiagnosisResult | bool:
        """One bounded NEGOTIATE (header checked, size capped) before smbprotocol, which reads
        a peer's first 4 bytes as a length and allocates it, touches the port: a listener that
        is not SMB ends the diagnosis here. True when the server refuses the dialect."""
        try:
            with SmbStream(self.server, self.port, deadline=time.monotonic() + remaining) as stream:
                parse_negotiate_response(stream.exchange(negotiate_request((dialect_value(name),))))
        except NegotiateRefused:
            return True
        except StreamError as exc:
            if "closed the connection" in exc.error.message:
                return True
            self.attempts.append(DialectAttempt(name, f"error: {exc.error.message}"))
            return self.error_result(exc.error, Stage.NEGOTIATE)
        except FrameError as exc:
            error = HostError(ErrorKind.PROTOCOL_ERROR, f"{self.target}: {exc}")
            self.attempts.append(DialectAttempt(name, f"error: {error.message}"))
            return self.error_result(error, Stage.NEGOTIATE)
        return False

    def connected(self, connection: Any, username: str, password: str, deadline: Deadline) -> DiagnosisResult:
        from smbprotocol.exceptions import SMBAuthenticationError, SMBResponseException
        from smbprotocol.header import NtStatus
        from smbprotocol.session import Session
        from smbprotocol.tree import TreeConnect

        # Encryption off: the FSCTL then travels signed, as it does for most Windows 8.x
        # clients, which is what a device in the path can (fail to) tamper with.
        session = Session(connection, username, password, require_encryption=False)
        try:
            session.connect()
        except (SMBAuthenticationError, SMBResponseException) as exc:
            if deadline.expired:
                return self.error(exc, Stage.SESSION_SETUP, deadline)
            auth = HostError(ErrorKind.AUTH_FAILED, f"{self.target}: {exception_text(exc)}")
            return self.error_result(auth, Stage.SESSION_SETUP)
        except Exception as exc:
            return self.error(exc, Stage.SESSION_SETUP, deadline)

        tree = TreeConnect(session, rf"\\{connection.server_name}\IPC$")
        try:
            # Validate negotiate is sent by validate() below, to see every field.
            tree.connect(require_secure_negotiate=False)
        except SMBResponseException as exc:
            if exc.status == NtStatus.STATUS_ACCESS_DENIED and not deadline.expired:
                denied = HostError(ErrorKind.ACCESS_DENIED, f"{self.target}: tree connect to IPC$ denied")
                return self.error_result(denied, Stage.TREE_CONNECT)
            return self.error(exc, Stage.TREE_CONNECT, deadline)
        except Exception as exc:
            return self.error(exc, Stage.TREE_CONNECT, deadline)
        return self.validate(connection, session, tree, deadline)

    def validate(self, connection: Any, session: Any, tree: Any, deadline: Deadline) -> DiagnosisResult:
        from smbprotocol.exceptions import (
            FileClosed,
            InvalidDeviceRequest,
            NotSupported,
            SMBConnectionClosed,
            SMBException,
        )
        from smbprotocol.header import Smb2Flags

        stage = Stage.VALIDATE_NEGOTIATE
        try:
            response = connection.receive(
                connection.send(
                    _validate_request(connection),
                    sid=session.session_id,
                    tid=tree.tree_connect_id,
                    force_signature=True,
                )
            )
        except (FileClosed, InvalidDeviceRequest, NotSupported) as exc:
            # Servers without the FSCTL answer with one of these; Windows accepts that only
            # when the error is signed (smbprotocol verified the signature on receipt).
            if exc.header["signature"].get_value() == b"\x00" * 16:
                return self.failed(
                    f"{self.target}: unsigned {exc.status_name} reply to validate negotiate", unsigned=True
                )
            return self.result(
                DiagnosisStatus.PASS,
                f"{self.target}: the server does not implement validate negotiate and said so in a signed reply",
                stage,
            )
        except SMBConnectionClosed as exc:
            if deadline.expired:
                return self.error(exc, stage, deadline)
            return self.failed(f"{self.target}: connection dropped during validate negotiate", dropped=True)
        except SMBException as exc:
            if deadline.expired:
                return self.error(exc, stage, deadline)
            if "signature could not be verified" in str(exc):
                return self.failed(
                    f"{self.target}: validate-negotiate reply failed its signature check", unsigned=True
                )
            return self.failed(f"{self.target}: validate negotiate failed: {exception_text(exc)}")

        # smbprotocol verifies only messages flagged as signed, so an unsigned success reply
        # would pass unnoticed: check the flag (an encrypted session has no signature).
        if not session.encrypt_data and not response["flags"].has_flag(Smb2Flags.SMB2_FLAGS_SIGNED):
            return self.failed(f"{self.target}: unsigned reply to validate negotiate", unsigned=True)

        server_view = _validate_response(response)
        assert self.client_view is not None
        differences = compare_negotiate(self.client_view, server_view)
        if differences:
            fields = ", ".join(d.field for d in differences)
            return self.failed(
                f"{self.target}: validate negotiate mismatch in {fields}",
                differences=differences,
                server_view=server_view,
            )
        return self.result(
            DiagnosisStatus.PASS,
            f"{self.target}: validate negotiate on {self.client_view.dialect} confirmed dialect, capabilities, "
            "security mode and server GUID",
            stage,
            server_view=server_view,
        )


def _validate_request(connection: Any) -> Any:
    """FSCTL_VALIDATE_NEGOTIATE_INFO with what the client sent in its NEGOTIATE request
    (MS-SMB2 3.2.5.14.5), built from smbprotocol's ioctl structures."""
    from smbprotocol.ioctl import CtlCode, IOCTLFlags, SMB2IOCTLRequest, SMB2ValidateNegotiateInfoRequest

    request = SMB2ValidateNegotiateInfoRequest()
    request["capabilities"] = connection.client_capabilities
    request["guid"] = connection.client_guid
    request["security_mode"] = connection.client_security_mode
    request["dialects"] = connection.negotiated_dialects
    ioctl = SMB2IOCTLRequest()
    ioctl["ctl_code"] = CtlCode.FSCTL_VALIDATE_NEGOTIATE_INFO
    ioctl["file_id"] = b"\xff" * 16
    ioctl["buffer"] = request
    ioctl["max_output_response"] = len(request)
    ioctl["flags"] = IOCTLFlags.SMB2_0_IOCTL_IS_FSCTL
    return ioctl


def _validate_response(response: Any) -> NegotiateInfo:
    """What the server states in its FSCTL_VALIDATE_NEGOTIATE_INFO response."""
    from smbprotocol.ioctl import SMB2IOCTLResponse, SMB2ValidateNegotiateInfoResponse

    ioctl_response = SMB2IOCTLResponse()
    ioctl_response.unpack(response["data"].get_value())
    validated = SMB2ValidateNegotiateInfoResponse()
    validated.unpack(ioctl_response["buffer"].get_value())
    return NegotiateInfo(
        dialect=dialect_name(int(validated["dialect"].get_value())),
        capabilities=int(validated["capabilities"].get_value()),
        security_mode=int(validated["security_mode"].get_value()),
        server_guid=str(validated["guid"].get_value()),
    )
