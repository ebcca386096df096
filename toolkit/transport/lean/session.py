"""A lean WinRM/PSRP session: the same contract as :class:`toolkit.transport.pypsrp_session.HostSession`
in six HTTP requests for open + one pipeline + close, with little client CPU.

    NEGOTIATE (empty POST, 401 + challenge)
    Create + AUTHENTICATE (creationXml: SessionCapability + InitRunspacePool)
    Receive (pool opened)
    Command (CreatePipeline) ; Receive ... until the command is Done
    Delete (the pool, and with it the pipeline: no Signal needed)

Messages that are the same on every host are built once (:mod:`.psrp`); errors are raised as
pypsrp's exception types and classified by :func:`toolkit.transport.classify.classify`, so a
host fails the same way on either path. The caveats of HostSession hold here too: not
thread-safe, socket timeouts capped by the host deadline, a pool discarded after any
timeout, a pipeline never re-sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from pypsrp.exceptions import WinRMTransportError, WSManFaultError

from toolkit.inventory.model import Host
from toolkit.transport.clients import lean_speaks
from toolkit.transport.lean import psrp, soap
from toolkit.transport.lean.http import Target, WinRMConnection
from toolkit.transport.model import InvocationResult, Statement
from toolkit.transport.protocol import CredentialLike, SessionBase, max_response

log = logging.getLogger(__name__)


def supports(host: Host, credential: CredentialLike | None) -> bool:
    """Whether :class:`LeanSession` can talk to ``host`` (else use HostSession): its auth and
    scheme (:data:`toolkit.transport.clients.LEAN_AUTH`), and the credential. Kerberos and
    Negotiate may run from the ticket cache without a password; NTLM and Basic need both."""
    t = host.transport
    if not lean_speaks(host):
        return False
    username = credential.username if credential is not None else None
    password = credential.password if credential is not None else None
    if t.auth in ("ntlm", "basic"):
        return bool(username) and password is not None
    return True


def target_of(host: Host) -> Target:
    t = host.transport
    return Target(
        scheme=t.scheme,
        address=host.address,
        port=t.effective_port,
        path=t.path,
        auth=t.auth,
        service=t.negotiate_service,
        hostname=t.negotiate_hostname_override,
        cert_validation=t.cert_validation,
        ca_file=t.ca_file,
        max_response=max_response(host),
        source_address=t.source_address,
    )


class LeanSession(SessionBase):
    """A runspace pool on one host, see the module docstring. Use as a context manager."""

    #: The Session protocol's names: which client serves the host, and no fallback here
    #: (toolkit.transport.select falls back to pypsrp around this session).
    transport = "lean"
    fallback = None

    def __init__(
        self, host: Host, credential: CredentialLike | None, *, deadline: float | None = None
    ) -> None:
        if not supports(host, credential):
            raise ValueError(
                f"the lean path does not support auth {host.transport.auth!r} over {host.transport.scheme}"
            )
        super().__init__(host, deadline=deadline)
        self.credential = credential
        self._conn: WinRMConnection | None = None
        self._shell_id: str | None = None
        self._rpid = soap.new_uuid()
        self._objects = 1
        self._ep: soap.Endpoint | None = None

    def _read_timeout(self) -> float:
        to = self.timeouts()
        return max(0.05, min(to.read, self.remaining()))

    def _call(self, message_id: str, envelope: bytes) -> ET.Element:
        """One request; a SOAP fault is raised as WSManFaultError, like pypsrp does."""
        assert self._conn is not None
        if self.remaining() <= 0:
            raise TimeoutError("the host deadline passed")
        status, reply = self._conn.post(envelope, deadline=self.deadline, read_timeout=self._read_timeout())
        if status != 200:
            try:
                raise soap.fault(reply.decode("utf-8", "replace"))
            except ET.ParseError:
                raise WinRMTransportError("http", status, reply.decode("utf-8", "replace")) from None
        return soap.parse_response(reply, message_id)

    def _receive(self, command_id: str | None) -> soap.ReceiveData:
        assert self._ep is not None and self._shell_id is not None
        while True:
            try:
                return soap.parse_receive(
                    self._call(*soap.receive(self._ep, self._shell_id, command_id)), command_id
                )
            except WSManFaultError as exc:
                if exc.code != soap.OPERATION_TIMED_OUT:  # nothing yet: poll again, as pypsrp does
                    raise

    def open(self) -> None:
        t = self.host.transport
        to = self.timeouts()
        self._ep = soap.Endpoint(
            url=f"{t.scheme}://{self.endpoint}/{t.path.lstrip('/')}",
            session_id=str(soap.new_uuid()).upper(),
            operation_timeout=to.operation,
        )
        username = self.credential.username if self.credential is not None else None
        password = self.credential.password if self.credential is not None else None
        self._conn = WinRMConnection(target_of(self.host), username=username, password=password)
        try:
            self._conn.connect(to.connection)
            shell_id = str(self._rpid).upper()
            creation = psrp.frame(psrp.open_messages(), self._rpid, None)
            self._objects += 2
            root = self._call(*soap.create(self._ep, shell_id, creation))
            selector = root.find(".//{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}Selector")
            self._shell_id = (selector.text or shell_id) if selector is not None else shell_id
            partial: dict[int, bytearray] = {}
            while True:
                state = psrp.pool_state(self._receive(None).streams, partial)
                if state == psrp.POOL_OPENED:
                    return
                if state in psrp.POOL_BROKEN_STATES:
                    raise psrp.PSRPProtocolError(f"the runspace pool did not open (state {state})")
        except Exception as exc:
            self._discard()
            raise self._fail(exc) from None

    def run(self, statements: Sequence[Statement]) -> InvocationResult:
        """Run statements as one pipeline (one Command, usually one Receive). Errors in the
        error stream are data (``InvocationResult.errors``), not exceptions."""
        return self._invoke(psrp.pipeline_message(statements))

    def run_script(self, text: str) -> InvocationResult:
        """Run ``text`` as PowerShell script, one pipeline. The one deliberate place where text
        becomes PowerShell: ``psfleet run``'s typed command line, never inventory data."""
        return self._invoke(psrp.pipeline_message((), script=text))

    def _invoke(self, create_pipeline: bytes) -> InvocationResult:
        if self._conn is None or self._ep is None or self._shell_id is None:
            raise RuntimeError("session is not open")
        pid = soap.new_uuid()
        command_id = str(pid).upper()
        arguments = psrp.frame(
            [(psrp.CREATE_PIPELINE, create_pipeline)],
            self._rpid,
            pid,
            first_object_id=self._objects,
        )
        self._objects += 1
        answer = psrp.PipelineAnswer()
        try:
            self.sent = True
            self._call(*soap.command(self._ep, self._shell_id, command_id, arguments))
            while True:
                data = self._receive(command_id)
                answer.feed(data.streams)
                if data.done:
                    break
        except Exception as exc:
            self._discard()
            raise self._fail(exc) from None
        return answer.result()

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._shell_id = None

    def close(self) -> None:
        """Delete the pool (ends its pipelines on the host) and close the connection."""
        if (
            self._conn is not None
            and self._ep is not None
            and self._shell_id is not None
            and self.remaining() > 0
        ):
            try:
                self._call(*soap.delete(self._ep, self._shell_id))
            except Exception as exc:  # the audit is read; a failed close is not worth failing the host
                log.debug("%s: deleting the pool failed: %s", self.host.name, exc)
        self._discard()
