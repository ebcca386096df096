"""WS-Management envelopes for the lean client (MS-WSMV), as pypsrp 0.9 writes them.

Envelopes are string templates: the shapes never vary and building them with ElementTree
costs more than the rest of a request. Responses are parsed with ElementTree (small).
Faults become pypsrp's own exception types, so :mod:`toolkit.transport.classify` treats
both clients alike.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from pypsrp.exceptions import WinRMError, WSManFaultError

RESOURCE_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
COMMAND_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
#: WS-Man fault code of an OperationTimeout that passed without output: poll again.
OPERATION_TIMED_OUT = 2150858793

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}

_HEADER = (
    '<s:Envelope xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:wsmv="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
    '<s:Header><wsa:Action s:mustUnderstand="true">{action}</wsa:Action>'
    '<wsmv:DataLocale s:mustUnderstand="false" xml:lang="en-US" />'
    '<wsman:Locale s:mustUnderstand="false" xml:lang="en-US" />'
    '<wsman:MaxEnvelopeSize s:mustUnderstand="true">{max_envelope}</wsman:MaxEnvelopeSize>'
    "<wsa:MessageID>uuid:{message_id}</wsa:MessageID>"
    "<wsman:OperationTimeout>PT{timeout}S</wsman:OperationTimeout>"
    '<wsa:ReplyTo><wsa:Address s:mustUnderstand="true">'
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>"
    f'<wsman:ResourceURI s:mustUnderstand="true">{RESOURCE_URI}</wsman:ResourceURI>'
    '<wsmv:SessionId s:mustUnderstand="false">uuid:{session_id}</wsmv:SessionId>'
    "<wsa:To>{to}</wsa:To>{options}{selectors}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
)


_random_lock = threading.Lock()
_random = bytearray()


def _forget_random() -> None:
    _random.clear()  # a forked child must not repeat its parent's ids


os.register_at_fork(after_in_child=_forget_random)


def new_uuid() -> uuid.UUID:
    """A random (version 4) UUID, as ``uuid.uuid4()`` makes, from ``os.urandom`` bytes drawn
    256 ids at a time: a host takes about ten ids (message ids, shell, pool and pipeline), and
    each ``os.urandom`` call gives up the GIL, which with a hundred hosts in flight per process
    is a thread switch each time."""
    with _random_lock:
        if len(_random) < 16:
            _random[:] = os.urandom(16 * 256)
        raw = bytes(_random[:16])
        del _random[:16]
    return uuid.UUID(bytes=raw, version=4)


@dataclass(frozen=True)
class Endpoint:
    """Where envelopes go and the limits they carry."""

    url: str
    session_id: str
    operation_timeout: int
    max_envelope_size: int = 153600


def envelope(
    ep: Endpoint,
    action: str,
    body: str,
    *,
    shell_id: str | None = None,
    options: str = "",
) -> tuple[str, bytes]:
    """(message id, envelope bytes)."""
    message_id = str(new_uuid()).upper()
    selectors = (
        f'<wsman:SelectorSet><wsman:Selector Name="ShellId">{shell_id}</wsman:Selector></wsman:SelectorSet>'
        if shell_id
        else ""
    )
    text = _HEADER.format(
        action=action,
        max_envelope=ep.max_envelope_size,
        message_id=message_id,
        timeout=ep.operation_timeout,
        session_id=ep.session_id,
        to=escape(ep.url),
        options=f'<wsman:OptionSet s:mustUnderstand="true">{options}</wsman:OptionSet>' if options else "",
        selectors=selectors,
        body=body,
    )
    return f"uuid:{message_id}", text.encode("utf-8")


def create(ep: Endpoint, shell_id: str, creation: bytes) -> tuple[str, bytes]:
    body = (
        f'<rsp:Shell ShellId="{shell_id}"><rsp:InputStreams>stdin pr</rsp:InputStreams>'
        "<rsp:OutputStreams>stdout</rsp:OutputStreams>"
        '<creationXml xmlns="http://schemas.microsoft.com/powershell">'
        f"{base64.b64encode(creation).decode()}</creationXml></rsp:Shell>"
    )
    option = '<wsman:Option MustComply="true" Name="protocolversion">2.3</wsman:Option>'
    return envelope(ep, TRANSFER + "Create", body, options=option)


def receive(ep: Endpoint, shell_id: str, command_id: str | None = None) -> tuple[str, bytes]:
    attr = f' CommandId="{command_id}"' if command_id else ""
    body = f"<rsp:Receive><rsp:DesiredStream{attr}>stdout</rsp:DesiredStream></rsp:Receive>"
    option = '<wsman:Option Name="WSMAN_CMDSHELL_OPTION_KEEPALIVE">True</wsman:Option>'
    return envelope(ep, SHELL + "Receive", body, shell_id=shell_id, options=option)


def command(ep: Endpoint, shell_id: str, command_id: str, arguments: bytes) -> tuple[str, bytes]:
    body = (
        f'<rsp:CommandLine CommandId="{command_id}"><rsp:Command />'
        f"<rsp:Arguments>{base64.b64encode(arguments).decode()}</rsp:Arguments></rsp:CommandLine>"
    )
    option = '<wsman:Option Name="WINRS_SKIP_CMD_SHELL">False</wsman:Option>'
    return envelope(ep, SHELL + "Command", body, shell_id=shell_id, options=option)


def delete(ep: Endpoint, shell_id: str) -> tuple[str, bytes]:
    return envelope(ep, TRANSFER + "Delete", "", shell_id=shell_id)


def parse_response(data: bytes, message_id: str) -> ET.Element:
    """The response envelope; raises WinRMError when it answers another message (as pypsrp)."""
    root = ET.fromstring(data)
    relates = root.find("s:Header/wsa:RelatesTo", NS)
    relates_to = relates.text if relates is not None else ""
    if relates_to != message_id:
        raise WinRMError(
            "Received related id does not match related expected message id: "
            f"Sent: {message_id}, Received: {relates_to}"
        )
    return root


def fault(text: str) -> WSManFaultError:
    """A SOAP fault body -> pypsrp's WSManFaultError with the same code, machine, reason and
    provider fields pypsrp's own parser gives (MS-WSMV 2.2.4.43 WSManFault detail). Raises
    ``ET.ParseError`` when the text is not XML."""
    root = ET.fromstring(text)
    code: str | int | None = None
    reason = machine = provider = provider_path = provider_fault = None
    found = root.find("s:Body/s:Fault", NS)
    if found is not None:
        value = found.find("s:Code/s:Subcode/s:Value", NS)
        if value is None:
            value = found.find("s:Code/s:Value", NS)
        code = value.text if value is not None else None
        text_el = found.find("s:Reason/s:Text", NS)
        reason = text_el.text if text_el is not None else None
        detail = found.find("s:Detail/wsmanfault:WSManFault", NS)
        if detail is not None:
            code = detail.attrib.get("Code", code)
            machine = detail.attrib.get("Machine")
            message = detail.find("wsmanfault:Message", NS)
            if message is not None:
                reason = message.text or reason
            provider_info = detail.find("wsmanfault:Message/wsmanfault:ProviderFault", NS)
            if provider_info is not None:
                provider = provider_info.attrib.get("provider")
                provider_path = provider_info.attrib.get("path")
                provider_fault = provider_info.text
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        code = int(code)
    reason = reason.strip() if reason else None
    provider_fault = provider_fault.strip() if provider_fault else None
    return WSManFaultError(code, machine, reason, provider, provider_path, provider_fault)


@dataclass
class ReceiveData:
    streams: list[bytes]
    done: bool


def parse_receive(root: ET.Element, command_id: str | None) -> ReceiveData:
    streams: list[bytes] = []
    done = False
    for el in root.iterfind("s:Body/rsp:ReceiveResponse/rsp:Stream", NS):
        if el.text:
            streams.append(base64.b64decode(el.text))
    if command_id is not None:
        for state in root.iterfind("s:Body/rsp:ReceiveResponse/rsp:CommandState", NS):
            if (state.get("CommandId") or "").upper() == command_id and state.get("State") == COMMAND_DONE:
                done = True
    return ReceiveData(streams, done)
