"""psrpcore's server side as the lab uses it, private pieces included (psrpcore is bounded <0.4
in pyproject.toml): a caching runspace pool, and two calls psrpcore keeps private.

- :class:`CachingServerRunspacePool` overrides psrpcore's private message dispatch
  (``_process_message``) and queues prebuilt XML on its private send buffer;
- :func:`drop_received`: forget a bad payload's unparsed bytes (psrpcore has no public reset);
- :func:`set_pipeline_state`: a server pipeline's state without psrpcore's message
  (Windows sends no PipelineState(Running)) or with a terminating error record.

The caching pool parses and builds repeated messages once per process.

A thousand clients send the lab the same SessionCapability, InitRunspacePool and (for an
audit) the same CreatePipeline XML, and the lab answers each with the same
SessionCapability, ApplicationPrivateData (per OS build) and state messages. psrpcore
deserializes and serializes every one of them again; profiling the lab under a 1,000-host
audit put a third of its CPU there. This pool keeps the parsed objects and the serialized
XML keyed by their bytes, and otherwise behaves exactly as psrpcore's ServerRunspacePool.

Cached objects are shared between pools and treated as read-only (psrpcore and the lab only
read pipeline metadata, capabilities and init data). Not thread-safe, like psrpcore: the lab
touches pools from its event loop only.
"""

from __future__ import annotations

import typing
import uuid
from xml.etree import ElementTree

import psrpcore
from psrpcore._payload import PSRPMessage, create_message
from psrpcore._pipeline import PowerShell
from psrpcore.types import (
    ApplicationPrivateData,
    ErrorRecord,
    PipelineState,
    PSInvocationState,
    PSRPMessageType,
    RunspacePoolStateMsg,
    SessionCapability,
    deserialize,
    serialize,
)

_MAX_ENTRIES = 1024
#: Incoming messages whose parsed form is reused: (type, XML bytes) -> PSObject.
_parsed: dict[tuple[int, bytes], typing.Any] = {}
#: CreatePipeline XML -> the PowerShell metadata psrpcore builds from it.
_pipelines: dict[bytes, PowerShell] = {}
#: Outgoing messages whose XML is reused: key -> bytes.
_built: dict[tuple[typing.Any, ...], bytes] = {}
#: Shared output objects (see share_output): id -> [the object, its XML once built]. Holding
#: the object keeps its id from being reused while the entry lives.
_shared: dict[int, list[typing.Any]] = {}
_T = typing.TypeVar("_T")

_PARSED_TYPES = frozenset(
    {PSRPMessageType.SessionCapability, PSRPMessageType.InitRunspacePool, PSRPMessageType.CreatePipeline}
)


_CALL_ID_TYPES = frozenset({PSRPMessageType.SetMaxRunspaces, PSRPMessageType.SetMinRunspaces})


def _remember(cache: dict[typing.Any, typing.Any], key: typing.Any, value: typing.Any) -> None:
    if len(cache) >= _MAX_ENTRIES:
        cache.clear()
    cache[key] = value


class CachingServerRunspacePool(psrpcore.ServerRunspacePool):
    """psrpcore's ServerRunspacePool with the message caches described above. ``cache_tag``
    names what makes this pool's ApplicationPrivateData differ from others' (the OS build)."""

    def __init__(self, *, cache_tag: typing.Hashable, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        self._cache_tag = cache_tag

    # -- incoming -----------------------------------------------------------------------
    def _process_message(self, message: PSRPMessage) -> psrpcore.PSRPEvent[typing.Any, typing.Any]:
        if message.message_type in _CALL_ID_TYPES:
            # MS-PSRP names the call id "ci"; pypsrp writes "CI" in these two messages, which
            # Windows accepts and psrpcore's server does not find.
            message = PSRPMessage(
                message.message_type,
                bytearray(message.data.replace(b'N="CI"', b'N="ci"')),
                message.runspace_pool_id,
                message.pipeline_id,
                message.object_id,
                message.stream_type,
            )
        if message.message_type not in _PARSED_TYPES:
            return super()._process_message(message)
        key = (int(message.message_type), bytes(message.data))
        ps_object = _parsed.get(key)
        if ps_object is None:
            ps_object = deserialize(
                ElementTree.fromstring(message.data),
                cipher=self._cipher,
                our_capability=self.our_capability,
                their_capability=self.their_capability,
            )
            _remember(_parsed, key, ps_object)
        event = psrpcore.PSRPEvent.create(
            message.message_type, ps_object, message.runspace_pool_id, message.pipeline_id
        )
        if message.message_type == PSRPMessageType.CreatePipeline:
            self._create_pipeline(event, key[1])
        else:
            getattr(self, f"_process_{message.message_type.name}")(event)
        return event

    def _create_pipeline(self, event: psrpcore.PSRPEvent[typing.Any, typing.Any], data: bytes) -> None:
        pipeline_id = typing.cast(uuid.UUID, event.pipeline_id)
        if pipeline_id not in self.pipeline_table:
            raise psrpcore.PSRPCoreError(f"Failed to find pipeline for incoming event {pipeline_id!s}")
        metadata = _pipelines.get(data)
        if metadata is None:
            metadata = typing.cast(psrpcore.CreatePipelineEvent, event).pipeline
            _remember(_pipelines, data, metadata)
        self.pipeline_table[pipeline_id].metadata = metadata

    # -- outgoing -----------------------------------------------------------------------
    def _build_key(self, message: typing.Any) -> tuple[typing.Any, ...] | None:
        if isinstance(message, SessionCapability):
            return (
                "cap",
                str(message.PSVersion),
                str(message.protocolversion),
                str(message.SerializationVersion),
            )
        if isinstance(message, ApplicationPrivateData):
            return ("apd", self._cache_tag)
        if isinstance(message, RunspacePoolStateMsg) and message.ExceptionAsErrorRecord is None:
            return ("pool", int(message.RunspaceState))
        if isinstance(message, PipelineState) and message.ExceptionAsErrorRecord is None:
            return ("pipeline", int(message.PipelineState))
        return None

    def prepare_message(
        self,
        message: typing.Any,
        message_type: PSRPMessageType | None = None,
        pipeline_id: uuid.UUID | None = None,
        stream_type: psrpcore.StreamType = psrpcore.StreamType.default,
    ) -> None:
        if message_type == PSRPMessageType.PipelineOutput:
            shared = _shared.get(id(message))
            if shared is not None and shared[0] is message:
                if shared[1] is None:
                    element = serialize(
                        message,
                        self._cipher,
                        our_capability=self.our_capability,
                        their_capability=self.their_capability,
                    )
                    shared[1] = ElementTree.tostring(element, encoding="utf-8", method="xml")
                self._queue(PSRPMessageType.PipelineOutput, shared[1], pipeline_id, stream_type)
                return
        key = self._build_key(message) if message_type is None else None
        if key is None:
            super().prepare_message(message, message_type, pipeline_id, stream_type)
            return
        data = _built.get(key)
        if data is None:
            element = serialize(
                message,
                self._cipher,
                our_capability=self.our_capability,
                their_capability=self.their_capability,
            )
            if key[0] == "cap":
                _windows_member_order(element, ("protocolversion", "PSVersion", "SerializationVersion"))
            data = ElementTree.tostring(element, encoding="utf-8", method="xml")
            _remember(_built, key, data)
        self._queue(PSRPMessageType.get_message_id(type(message)), data, pipeline_id, stream_type)

    def _queue(
        self,
        mtype: PSRPMessageType,
        data: bytes,
        pipeline_id: uuid.UUID | None,
        stream_type: psrpcore.StreamType,
    ) -> None:
        raw = create_message(self._is_client, mtype, data, self.runspace_pool_id, pipeline_id)
        self._send_buffer.append(
            PSRPMessage(
                mtype, bytearray(raw), self.runspace_pool_id, pipeline_id, self._fragment_counter, stream_type
            )
        )


def share_output(obj: _T) -> _T:
    """Mark ``obj`` as a read-only output object that many pipelines write (the lab's registry
    property objects, one per distinct key content): its PipelineOutput XML is built once.
    The caller must not change ``obj`` afterwards."""
    if id(obj) not in _shared:
        _remember(_shared, id(obj), [obj, None])
    return obj


def _windows_member_order(element: ElementTree.Element, order: tuple[str, ...]) -> None:
    """Put an object's <MS> members in the order Windows writes them (SessionCapability:
    protocolversion first, recorded Server 2016 traffic)."""
    bag = element.find("MS")
    if bag is None:
        return
    children = list(bag)
    rank = {name: i for i, name in enumerate(order)}
    children.sort(key=lambda child: rank.get(child.get("N", ""), len(order)))
    for child in list(bag):
        bag.remove(child)
    bag.extend(children)


def drop_received(pool: psrpcore.ServerRunspacePool) -> None:
    """Forget the bytes ``pool`` received and has not parsed, so the next request starts clean."""
    pool._receive_buffer = bytearray()


def set_pipeline_state(
    pipeline: psrpcore.ServerPipeline,
    state: PSInvocationState,
    error_record: ErrorRecord | None = None,
    *,
    emit: bool = True,
) -> None:
    """Put ``pipeline`` in ``state``; ``emit=False`` sends no PipelineState message, an
    ``error_record`` goes in the message as the pipeline's terminating error."""
    pipeline._change_state(state, error_record, emit=emit)
