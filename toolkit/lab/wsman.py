"""WS-Management envelopes for the lab: parse requests, build responses and faults.

Shapes follow recorded Windows Server 2016 traffic (pypsrp's test responses, see
tests/integration/lab/test_golden.py): the same namespaces, header fields and body elements.
Responses are built from string templates rather than ElementTree because the lab answers
thousands of requests per second and the shapes never vary.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "pwsh": "http://schemas.microsoft.com/powershell",
}

ACTION_PREFIX_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
ACTION_PREFIX_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
POWERSHELL_URI_PREFIX = "http://schemas.microsoft.com/powershell/"
SIGNAL_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
SIGNAL_CTRL_C = "powershell/signal/crtl_c"  # sic: the spelling PowerShell uses

_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


class WSManFault(Exception):
    """A fault to send back. ``http_status`` is 500 as on Windows unless said otherwise."""

    def __init__(
        self,
        *,
        code: int,
        subcode: str,
        reason: str,
        sender: bool = True,
        http_status: int = 500,
        action: str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
        message: str | None = None,
        detail: str | None = None,
        provider: str = "",
        provider_path: str = "",
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason
        self.sender = sender
        self.http_status = http_status
        self.action = action
        #: ``f:Message`` of the WSManFault; Windows often says more there than in the Reason.
        self.message = reason if message is None else message
        #: ``w:FaultDetail`` URI (DSP0226 fault detail), sent before the WSManFault when set.
        self.detail = detail
        #: A plug-in's fault (``f:ProviderFault``) that Windows nests in the WSManFault message.
        self.provider = provider
        self.provider_path = provider_path


# Fault codes as Windows sends them (WSManFault Code attribute, decimal).
TIMED_OUT = 2150858793  # 0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT
INVALID_SELECTORS = 2150858843  # 0x8033805B ERROR_WSMAN_UNEXPECTED_SELECTORS / shell not found
ACTION_NOT_SUPPORTED = 2150858757  # 0x80338005 ERROR_WSMAN_INVALID_ACTIONURI
INVALID_XML = 2150858817  # 0x80338041; the lab's text for malformed requests is its own wording
RESOURCE_NOT_FOUND = 2150858770  # 0x80338012 ERROR_WSMAN_DESTINATION_UNREACHABLE
INTERNAL_ERROR = 2150858752  # 0x80338000 generic WS-Man internal error
ACCESS_DENIED = 5  # ERROR_ACCESS_DENIED: the account may not use the endpoint

_INVALID_SELECTORS_REASON = (
    "The WS-Management service cannot process the request because the request contained invalid selectors "
    "for the resource. "
)
_UNEXPECTED_SELECTORS = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors"


def timed_out_fault() -> WSManFault:
    text = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "
    return WSManFault(code=TIMED_OUT, subcode="w:TimedOut", reason=text, sender=False)


def shell_not_found_fault(shell_id: str) -> WSManFault:
    """A request for a shell the service does not have: Windows' text word for word, as
    Microsoft Learn quotes it ("Connect to Exchange Online PowerShell", the note on SNAT pools;
    the same text appears in about_Remote_Troubleshooting reports)."""
    return WSManFault(
        code=INVALID_SELECTORS,
        subcode="w:InvalidSelectors",
        reason=(
            f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not "
            "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer "
            "exists on the server. Provide the correct ShellId or create a new shell and retry the operation. "
        ),
    )


def unknown_command_fault() -> WSManFault:
    """A Receive or Signal naming a CommandId the shell does not have: Windows' fault, word for
    word (recorded Server 2016 traffic, pypsrp's test_psrp_receive_failure and
    test_winrs_bad_cmd_id; compared in tests/integration/lab/test_golden.py)."""
    return WSManFault(
        code=INVALID_SELECTORS,
        subcode="w:InvalidSelectors",
        reason=_INVALID_SELECTORS_REASON,
        message=(
            "The Windows Remote Shell received a request to perform an operation on a command identifier that "
            "does not exist. Either the command has completed execution or the client specified an invalid "
            "command identifier. "
        ),
        detail=_UNEXPECTED_SELECTORS,
    )


def access_denied_fault() -> WSManFault:
    """Create by an account that may not use the PowerShell endpoint (neither an administrator
    nor in Remote Management Users): HTTP 500, ``w:AccessDenied`` (DMTF DSP0226's fault for an
    unauthorized sender) with the Win32 code 5 and its system text "Access is denied."."""
    return WSManFault(code=ACCESS_DENIED, subcode="w:AccessDenied", reason="Access is denied. ")


def bad_request_fault(detail: str) -> WSManFault:
    return WSManFault(
        code=INVALID_XML,
        subcode="w:SchemaValidationError",
        reason=f"The WS-Management service cannot process the request because the XML is invalid. {detail}",
        http_status=400,
    )


@dataclass
class Request:
    action: str
    resource_uri: str
    message_id: str
    operation_timeout: float
    max_envelope_size: int
    shell_id: str | None
    body: ET.Element
    #: ``wsman:OptionSet`` options by name (``WINRS_NOPROFILE``...).
    options: dict[str, str] = field(default_factory=dict)

    @property
    def short_action(self) -> str:
        return self.action.rsplit("/", 1)[-1]


def parse_duration(text: str | None, default: float) -> float:
    if not text:
        return default
    m = _DURATION.match(text.strip())
    if not m:
        return default
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def parse_request(data: bytes) -> Request:
    """Parse a SOAP envelope; anything malformed raises a WSManFault (never another error)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise bad_request_fault(f"({exc})") from None
    if root.tag != f"{{{NS['s']}}}Envelope":
        raise bad_request_fault("The root element is not a SOAP 1.2 Envelope.")
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise bad_request_fault("The envelope has no Header or Body.")

    def text(path: str) -> str | None:
        el = header.find(path, NS)
        return el.text.strip() if el is not None and el.text else None

    action = text("wsa:Action")
    message_id = text("wsa:MessageID")
    if not action or not message_id:
        raise bad_request_fault("The Action or MessageID header is missing.")
    resource_uri = text("wsman:ResourceURI") or ""
    try:
        max_env = int(text("wsman:MaxEnvelopeSize") or "153600")
    except ValueError:
        raise bad_request_fault("MaxEnvelopeSize is not a number.") from None
    shell_id = None
    for sel in header.findall("wsman:SelectorSet/wsman:Selector", NS):
        if sel.get("Name") == "ShellId" and sel.text:
            shell_id = sel.text.strip()
    options = {
        opt.get("Name", ""): (opt.text or "").strip()
        for opt in header.findall("wsman:OptionSet/wsman:Option", NS)
    }
    return Request(
        options=options,
        action=action,
        resource_uri=resource_uri,
        message_id=message_id,
        operation_timeout=parse_duration(text("wsman:OperationTimeout"), 60.0),
        max_envelope_size=max(max_env, 8192),
        shell_id=shell_id,
        body=body,
    )


_ENVELOPE = (
    '<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
    "<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{mid}</a:MessageID>"
    "<p:ActivityId>{activity}</p:ActivityId>"
    "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
    "<a:RelatesTo>{relates}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>"
)


def envelope(action: str, relates_to: str, body: str) -> bytes:
    return _ENVELOPE.format(
        action=action,
        mid=str(uuid.uuid4()).upper(),
        activity=str(uuid.uuid4()).upper(),
        relates=escape(relates_to),
        body=body,
    ).encode("utf-8")


def fault_envelope(fault: WSManFault, relates_to: str | None, machine: str) -> bytes:
    value = "s:Sender" if fault.sender else "s:Receiver"
    detail = f"<w:FaultDetail>{fault.detail}</w:FaultDetail>" if fault.detail else ""
    message = escape(fault.message)
    if fault.provider:
        message = (
            f'<f:ProviderFault provider="{fault.provider}" path="{escape(fault.provider_path)}">'
            f'<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{fault.code}" '
            f'Machine="{escape(machine)}"><f:Message>{message}</f:Message></f:WSManFault></f:ProviderFault>'
        )
    body = (
        f"<s:Fault><s:Code><s:Value>{value}</s:Value><s:Subcode><s:Value>{fault.subcode}</s:Value>"
        f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f'<s:Detail>{detail}<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
        f'Code="{fault.code}" Machine="{escape(machine)}"><f:Message>{message}</f:Message>'
        f"</f:WSManFault></s:Detail></s:Fault>"
    )
    return envelope(fault.action, relates_to or "uuid:00000000-0000-0000-0000-000000000000", body)


def idle_timeout_text(seconds: float) -> str:
    """``PT7200.000S``: how Windows writes a shell's IdleTimeOut (milliseconds always shown)."""
    return f"PT{seconds:.3f}S"


def shell_xml(
    shell_id: str,
    resource_uri: str,
    owner: str,
    client_ip: str,
    *,
    with_ns: bool,
    idle_timeout: str = "PT7200.000S",
    usage: bool = False,
    profile_loaded: bool = True,
) -> str:
    """The ``rsp:Shell`` element; a Get (``usage``) adds MemoryUsed and ChildProcesses as
    Windows does (recorded Server 2016 traffic, test_psrp_is_alive_state_disconnected)."""
    ns = ' xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"'
    extra = "<rsp:MemoryUsed>58MB</rsp:MemoryUsed><rsp:ChildProcesses>0</rsp:ChildProcesses>" if usage else ""
    return (
        f"<rsp:Shell{ns}><rsp:ShellId>{shell_id}</rsp:ShellId>"
        f"<rsp:ResourceUri>{escape(resource_uri)}</rsp:ResourceUri><rsp:Owner>{escape(owner)}</rsp:Owner>"
        f"<rsp:ClientIP>{escape(client_ip)}</rsp:ClientIP><rsp:ProcessId>4242</rsp:ProcessId>"
        f"<rsp:IdleTimeOut>{idle_timeout}</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams>"
        "<rsp:OutputStreams>stdout</rsp:OutputStreams><rsp:MaxIdleTimeOut>PT2147483.647S</rsp:MaxIdleTimeOut>"
        "<rsp:Locale>en-US</rsp:Locale><rsp:DataLocale>en-US</rsp:DataLocale>"
        "<rsp:CompressionMode>NoCompression</rsp:CompressionMode>"
        f"<rsp:ProfileLoaded>{'Yes' if profile_loaded else 'No'}</rsp:ProfileLoaded>"
        "<rsp:Encoding>UTF8</rsp:Encoding><rsp:BufferMode>Block</rsp:BufferMode><rsp:State>Connected</rsp:State>"
        "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
        f"{extra}</rsp:Shell>"
    )


def create_response(
    req: Request, shell_id: str, address: str, owner: str, client_ip: str, idle_timeout: str = "PT7200.000S"
) -> bytes:
    body = (
        f"<x:ResourceCreated><a:Address>{escape(address)}</a:Address><a:ReferenceParameters>"
        f"<w:ResourceURI>{escape(req.resource_uri)}</w:ResourceURI><w:SelectorSet>"
        f'<w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet></a:ReferenceParameters>'
        f"</x:ResourceCreated>"
        + shell_xml(
            shell_id,
            req.resource_uri,
            owner,
            client_ip,
            with_ns=True,
            idle_timeout=idle_timeout,
            profile_loaded=req.options.get("WINRS_NOPROFILE", "").upper() != "TRUE",
        )
    )
    return envelope(ACTION_PREFIX_TRANSFER + "CreateResponse", req.message_id, body)


def get_response(
    req: Request,
    shell_id: str,
    owner: str,
    client_ip: str,
    idle_timeout: str = "PT7200.000S",
    resource_uri: str = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
) -> bytes:
    """The shell as a Get shows it: with the resource URI it was created with, whichever URI
    the Get was sent to (pypsrp's is_alive uses the generic shell URI)."""
    return envelope(
        ACTION_PREFIX_TRANSFER + "GetResponse",
        req.message_id,
        shell_xml(
            shell_id, resource_uri, owner, client_ip, with_ns=True, idle_timeout=idle_timeout, usage=True
        ),
    )


def shell_gone_fault() -> WSManFault:
    """A Get on a shell the service no longer has (closed, or reaped after its idle timeout):
    the Shell provider's invalid-selectors fault, nested in a ProviderFault as Windows sends
    it (recorded Server 2016 traffic, test_psrp_is_alive_invalid_selectors)."""
    return WSManFault(
        code=INVALID_SELECTORS,
        subcode="w:InvalidSelectors",
        reason=_INVALID_SELECTORS_REASON,
        detail=_UNEXPECTED_SELECTORS,
        provider="Shell provider",
        provider_path="%systemroot%\\system32\\WsmSvc.dll",
    )


def command_response(req: Request, command_id: str) -> bytes:
    body = f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>"
    return envelope(ACTION_PREFIX_SHELL + "CommandResponse", req.message_id, body)


def send_response(req: Request) -> bytes:
    return envelope(ACTION_PREFIX_SHELL + "SendResponse", req.message_id, "<rsp:SendResponse/>")


def signal_response(req: Request) -> bytes:
    return envelope(ACTION_PREFIX_SHELL + "SignalResponse", req.message_id, "<rsp:SignalResponse/>")


def delete_response(req: Request) -> bytes:
    return envelope(ACTION_PREFIX_TRANSFER + "DeleteResponse", req.message_id, "")


def receive_response(req: Request, streams: list[str], command_id: str | None, done: bool) -> bytes:
    """``streams`` are base64 PSRP fragments already encoded."""
    cid = f' CommandId="{command_id}"' if command_id else ""
    parts = [f'<rsp:Stream Name="stdout"{cid}>{s}</rsp:Stream>' for s in streams]
    if command_id is not None and done:
        # Windows reports a CommandState only when the command is Done (or Pending on a host
        # call, which the lab never makes): a Receive that carries part of the output of a
        # running pipeline has none (recorded Server 2016 traffic, test_psrp_disconnected_commands).
        parts.append(
            f'<rsp:CommandState CommandId="{command_id}" '
            'State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done">'
            "<rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>"
        )
    body = "<rsp:ReceiveResponse>" + "".join(parts) + "</rsp:ReceiveResponse>"
    return envelope(ACTION_PREFIX_SHELL + "ReceiveResponse", req.message_id, body)


#: Bytes of a Receive response other than the stream payloads; used to respect MaxEnvelopeSize.
RECEIVE_OVERHEAD = 2048
#: Bytes of the ``<rsp:Stream ...>`` element around each base64 payload.
STREAM_OVERHEAD = 120
