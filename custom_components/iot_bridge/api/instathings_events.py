"""Instathings shapes and pure parsers: devices, data records and websocket events.

Kept apart from the HTTP client so the websocket message parser can be tested
(and reused) without a network. Field names follow vendor-docs/instathings-api.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import json
from typing import Any

from .fields import as_bool, as_float, as_list, as_mapping, as_str
from .timestamps import InvalidTimestampError, check_epoch, epoch_ms, parse_iso

EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class InstathingsDevice:
    """One device document (``GET /device/v1/devices`` or an event payload).

    ``type_id`` is the id of a device type (see ``InstathingsType``), not a model
    name. ``versions`` is the document's ``version`` object (container name to
    image, e.g. ``{"gate": "instathings/gate:1.7.1"}``); ``software_version`` is
    its ``gate`` entry. ``connected`` comes from ``status.eventType`` and is None
    when the document does not say.
    """

    id: str
    name: str | None
    is_gateway: bool
    parent_id: str | None
    sub_device_ids: tuple[str, ...]
    type_id: str | None
    software_version: str | None
    versions: dict[str, str]
    connected: bool | None
    is_virtual: bool | None
    env: str | None
    project_id: str | None
    protocols: tuple[str, ...]
    created_ms: int | None


@dataclass(frozen=True, slots=True)
class InstathingsType:
    """One device type from ``GET /device/v1/types`` (``kind`` is the doc's ``type``)."""

    id: str
    manufacturer: str | None
    model: str | None
    description: str | None
    kind: str | None


@dataclass(frozen=True, slots=True)
class DataRecord:
    """One ingested data record. ``ts`` is milliseconds since the epoch.

    ``record_id`` is the record's ``id`` when the server sent one; history pages and
    live events of the same record share it, so it is the key to drop duplicates.
    """

    device_id: str
    ts: int
    data: dict[str, Any]
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class DataEvent:
    """``action: data``: a device sent new data."""

    record: DataRecord


@dataclass(frozen=True, slots=True)
class ConnectivityEvent:
    """``action: connected`` / ``disconnected``: a gateway (dis)connected from the cloud.

    ``reason`` is ``status.disconnectReason`` (e.g. ``CONNECTION_LOST``) when given.
    """

    gateway_id: str
    connected: bool
    device: InstathingsDevice
    reason: str | None


@dataclass(frozen=True, slots=True)
class PairingEvent:
    """``action: paired`` (``paired=True``) or ``not_paired`` (failed pairing or unpaired)."""

    device: InstathingsDevice
    paired: bool


@dataclass(frozen=True, slots=True)
class SoftwareVersionEvent:
    """``action: software_version``: sent each time a gateway connects."""

    device: InstathingsDevice
    version: str | None


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A well-formed message whose action we do not interpret; ``raw`` is the whole message."""

    action: str
    raw: Any


@dataclass(frozen=True, slots=True)
class BadMessage:
    """A message that is not JSON or lacks what its action needs; the stream goes on."""

    reason: str
    excerpt: str


type InstathingsEvent = (
    DataEvent | ConnectivityEvent | PairingEvent | SoftwareVersionEvent | UnknownEvent | BadMessage
)


def _ids(value: Any) -> tuple[str, ...]:
    """Read ``subDevices``/``protocols``: a list of ids, or of objects carrying ``id``."""
    result: list[str] = []
    for item in as_list(value) or []:
        mapping = as_mapping(item)
        ident = as_str(mapping.get("id")) if mapping is not None else as_str(item)
        if ident:
            result.append(ident)
    return tuple(result)


def parse_timestamp_ms(value: Any) -> int | None:
    """Read a millisecond timestamp (number or numeric text; ISO text on premise).

    None when missing or not believable (see ``timestamps``): a record at such a
    time cannot be ordered against the others.
    """
    try:
        number = as_float(value)
        if number is not None:
            return int(check_epoch(number, "ms"))
        text = as_str(value)
        return epoch_ms(parse_iso(text)) if text else None
    except InvalidTimestampError:
        return None


def parse_device(raw: Any) -> InstathingsDevice | None:
    """Read one device document; None when it is not an object or has no id."""
    doc = as_mapping(raw)
    if doc is None:
        return None
    device_id = as_str(doc.get("id"))
    if not device_id:
        return None
    versions = {
        str(key): value
        for key, value in (as_mapping(doc.get("version")) or {}).items()
        if isinstance(value, str)
    }
    status = as_mapping(doc.get("status")) or {}
    event_type = as_str(status.get("eventType"))
    connected = {"connected": True, "disconnected": False}.get(event_type or "")
    return InstathingsDevice(
        id=device_id,
        name=as_str(doc.get("name")),
        is_gateway=doc.get("isGateway") is True,
        parent_id=as_str(doc.get("parentDevice")) or None,
        sub_device_ids=_ids(doc.get("subDevices")),
        type_id=as_str(doc.get("type")) or None,
        software_version=versions.get("gate"),
        versions=versions,
        connected=connected,
        is_virtual=as_bool(doc.get("isVirtual")),
        env=as_str(doc.get("env")),
        project_id=as_str(doc.get("projectId")),
        protocols=_ids(doc.get("protocols")),
        created_ms=parse_timestamp_ms(doc.get("ts")),
    )


def parse_type(raw: Any) -> InstathingsType | None:
    """Read one device type; None when it is not an object or has no id."""
    doc = as_mapping(raw)
    type_id = as_str(doc.get("id")) if doc is not None else None
    if doc is None or not type_id:
        return None
    return InstathingsType(
        id=type_id,
        manufacturer=as_str(doc.get("manufacturer")),
        model=as_str(doc.get("model")),
        description=as_str(doc.get("description")),
        kind=as_str(doc.get("type")),
    )


def _unwrap_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the device's values.

    Records of HTTP devices may carry the gateway's envelope
    ``{"type": "data", "message": {"data": {...}}}`` (see the doc's on-premise data
    and the ``status`` event); the values are the inner object.
    """
    message = as_mapping(data.get("message"))
    inner = as_mapping(message.get("data")) if message is not None else None
    if data.get("type") == "data" and inner is not None and set(data) <= {"type", "message"}:
        return dict(inner)
    return dict(data)


def parse_record(raw: Any, device_id: str | None = None) -> DataRecord | None:
    """Read one data record; None without a device id, a timestamp or a data object.

    ``device_id`` stands in when the record itself names none (history of one device).
    """
    doc = as_mapping(raw)
    if doc is None:
        return None
    device_id = as_str(doc.get("deviceId")) or device_id
    ts = parse_timestamp_ms(doc.get("ts"))
    data = as_mapping(doc.get("data"))
    if not device_id or ts is None or data is None:
        return None
    return DataRecord(device_id, ts, _unwrap_data(data), as_str(doc.get("id")))


def _excerpt(text: str) -> str:
    return text[:EXCERPT_CHARS]


def parse_event(text: str) -> InstathingsEvent:
    """Turn one websocket text message into an event; never raises."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting must not escape as RecursionError
        return BadMessage("message is not JSON", _excerpt(text))
    body = as_mapping(message)
    action = as_str(body.get("action")) if body is not None else None
    if body is None or not action:
        return BadMessage("message has no action", _excerpt(text))
    payload = body.get("payload")
    if action == "data":
        record = parse_record(payload)
        if record is None:
            return BadMessage("data event lacks deviceId, ts or data", _excerpt(text))
        return DataEvent(record)
    if action not in ("connected", "disconnected", "paired", "not_paired", "software_version"):
        return UnknownEvent(action, message)
    device = parse_device(payload)
    if device is None:
        return BadMessage(f"{action} event has no device id", _excerpt(text))
    if action in ("connected", "disconnected"):
        status = as_mapping((as_mapping(payload) or {}).get("status")) or {}
        return ConnectivityEvent(
            gateway_id=device.id,
            connected=action == "connected",
            device=device,
            reason=as_str(status.get("disconnectReason")),
        )
    if action == "software_version":
        return SoftwareVersionEvent(device, device.software_version)
    return PairingEvent(device, action == "paired")
