"""Efento gateway HTTP API: parse what the gateway POSTs to us, build our reply.

Home Assistant is the server here; the gateway is the client. It POSTs two kinds
of JSON body, measurements and heartbeat, to two configurable paths that may be
the same, so ``parse_message`` tells them apart by shape. Field names follow
Efento's "API documentation" page exactly.

Tolerance rules (why a body is refused, or only part of it):

* The whole body is refused (``EfentoMessageError``, answered 400) only when it
  is not JSON, not a JSON object, of neither documented shape, when
  ``measurements`` is not a list, when an item of it is not an object, or when
  an item carries a ``response_handle`` that is not an integer. The handle is
  the only way to answer for a logger in the ``{"Y": [...], "N": [...]}``
  reply; acknowledging a message with 201 while unable to name one of its
  loggers would make the gateway forget data we never looked at.
* ``response_handle`` itself is documented as optional: when it is absent the
  measurement is still applied, it just cannot appear in the reply.
* A measurement without a usable ``serial`` or ``measured_at`` cannot be
  applied (no device, no ordering against newer states): it is kept in
  ``MeasurementsMessage.rejected`` with its handle, so the server can still
  answer for it. A ``measured_at`` that cannot be real (before 2000, more than a
  day ahead, out of datetime's range; see ``timestamps``) is unusable too: it
  would outrank every genuine reading, or overflow the first deadline computed
  from it. The other measurements of the message are unaffected.
* Optional times (``next_measurement_at``, the heartbeat's times) that cannot be
  real read as None, like any optional field of the wrong type; intervals and
  uptime are clamped (``MAX_INTERVAL``, ``MAX_UPTIME``) so that no deadline or
  boot time computed from them can overflow.
* A param with a missing channel, type or status, a duplicate channel, or an
  ``ok`` status with an unreadable value is recorded in
  ``Measurement.invalid_params``; the other params of that measurement stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .errors import ApiPayloadError
from .fields import as_bool, as_float, as_int, as_list, as_mapping, as_str
from .http import decode_json
from .timestamps import (
    MAX_INTERVAL,
    MAX_UPTIME,
    InvalidTimestampError,
    clamp_seconds,
    parse_timestamp,
    timestamp_or_none,
)

DEFAULT_MEASUREMENTS_PATH = "/api/v4/measurements"
DEFAULT_HEARTBEAT_PATH = "/api/v4/gateways/heartbeat"
TOKEN_HEADER = "X-Api-Token"  # noqa: S105 - a header name, not a secret

STATUS_OK = "ok"
STATUS_ERROR = "error"

# Every key the heartbeat documents; one of them is enough to recognise the shape.
_HEARTBEAT_KEYS = frozenset(
    {
        "name",
        "model",
        "software_version",
        "current_time",
        "uptime",
        "mac",
        "sensors_number",
        "next_communication_at",
        "power_monitor",
    }
)


class EfentoMessageError(ApiPayloadError):
    """The gateway's body is not a documented message; ``reason`` is short and user-readable."""

    def __init__(self, reason: str) -> None:
        """Keep the reason apart so the server can echo it in a 400 body."""
        super().__init__(f"Efento message: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParamKind:
    """What a vendor measurement type means, in neutral words for the HA side."""

    kind: str
    unit: str | None
    binary: bool = False


# The types the documentation lists. Units are not on that page: they are
# Efento's fixed units (resolution 0.1 °C, 1 %RH, 0.1 hPa, 1 Pa in their protocol).
PARAM_KINDS: Mapping[str, ParamKind] = MappingProxyType(
    {
        "temperature": ParamKind("temperature", "°C"),
        "humidity": ParamKind("humidity", "%"),
        "pressure": ParamKind("pressure", "hPa"),
        "pressure_diff": ParamKind("differential_pressure", "Pa"),
        # Binary: True means open (contact apart), as for an HA "opening" sensor.
        "open-close": ParamKind("opening", None, binary=True),
    }
)

# The documented values of an open-close channel.
OPEN_CLOSE_VALUES: Mapping[str, bool] = MappingProxyType({"open": True, "closed": False})


def _type_key(name: str) -> str:
    # The page itself mixes "pressure_diff" and "open-close": accept either separator.
    return name.strip().lower().replace("-", "_")


_KINDS_BY_KEY = {_type_key(name): kind for name, kind in PARAM_KINDS.items()}


def kind_for(type_name: str) -> ParamKind | None:
    """Return the neutral kind of a measurement type, or None for a type we do not know."""
    return _KINDS_BY_KEY.get(_type_key(type_name))


@dataclass(frozen=True, slots=True)
class Param:
    """One channel reading of a measurement.

    ``value`` is the number for numeric kinds and ``is_on`` the state for binary
    ones (open = True); both are None unless ``status`` is ``"ok"``, since the
    logger itself says the reading is not good. ``kind`` is None for a type
    missing from ``PARAM_KINDS``; its value is still read as a number.
    """

    channel: int
    type: str
    status: str
    kind: ParamKind | None
    value: float | None
    is_on: bool | None

    @property
    def ok(self) -> bool:
        """Whether the logger reported this reading as valid."""
        return self.status == STATUS_OK


@dataclass(frozen=True, slots=True)
class InvalidParam:
    """A param that could not be used, with why (index None: the params list itself)."""

    index: int | None
    channel: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Measurement:
    """One logger's report: who, when, health, and its channel readings."""

    serial: str
    response_handle: int | None
    battery: str | None
    signal: int | None
    measured_at: datetime
    measurement_interval: int | None
    next_measurement_at: datetime | None
    params: tuple[Param, ...]
    invalid_params: tuple[InvalidParam, ...]

    @property
    def battery_low(self) -> bool | None:
        """True for "low", False for "ok", None when the gateway sent something else."""
        if self.battery == "low":
            return True
        if self.battery == "ok":
            return False
        return None


@dataclass(frozen=True, slots=True)
class RejectedMeasurement:
    """A measurement that cannot be applied; its handle still deserves an answer."""

    index: int
    response_handle: int | None
    serial: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class MeasurementsMessage:
    """A measurements body: usable measurements in sent order, and the rejected ones."""

    measurements: tuple[Measurement, ...]
    rejected: tuple[RejectedMeasurement, ...]


@dataclass(frozen=True, slots=True)
class HeartbeatMessage:
    """A heartbeat body; every field is None when missing or of the wrong type."""

    name: str | None
    model: str | None
    software_version: str | None
    current_time: datetime | None
    uptime: int | None
    mac: str | None
    sensors_number: str | None
    loggers_in_range: int | None
    next_communication_at: datetime | None
    is_usb_connected: bool | None
    is_charging: bool | None
    battery_level: int | None


def parse_message(body: bytes | str) -> MeasurementsMessage | HeartbeatMessage:
    """Parse one POSTed body, telling measurements from heartbeat by shape.

    Raises EfentoMessageError when the body is not a documented message.
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise EfentoMessageError("not UTF-8 text") from err
    else:
        text = body
    try:
        data = decode_json(text, "Efento message")
    except (ApiPayloadError, RecursionError) as err:
        raise EfentoMessageError("not JSON") from err
    root = as_mapping(data)
    if root is None:
        raise EfentoMessageError("not a JSON object")
    if "measurements" in root:
        return _parse_measurements(root["measurements"])
    if _HEARTBEAT_KEYS.intersection(root):
        return _parse_heartbeat(root)
    raise EfentoMessageError("neither a measurements nor a heartbeat message")


def build_measurements_reply(
    accepted: Iterable[int | None], rejected: Iterable[int | None]
) -> dict[str, list[int]]:
    """Build the documented reply body ``{"Y": [...], "N": [...]}``.

    Handles keep their first-seen order and appear once; None (a measurement
    sent without a handle) is skipped. A handle in both lists is answered "Y":
    one logger may send several measurements, and "N" would tell the gateway to
    stop keeping data of a logger we do want.
    """
    yes = list(dict.fromkeys(h for h in accepted if h is not None))
    taken = set(yes)
    no = [h for h in dict.fromkeys(rejected) if h is not None and h not in taken]
    return {"Y": yes, "N": no}


def _parse_measurements(raw: Any) -> MeasurementsMessage:
    items = as_list(raw)
    if items is None:
        raise EfentoMessageError("measurements: not a list")
    measurements: list[Measurement] = []
    rejected: list[RejectedMeasurement] = []
    for index, item in enumerate(items):
        parsed = _parse_measurement(index, item)
        if isinstance(parsed, Measurement):
            measurements.append(parsed)
        else:
            rejected.append(parsed)
    return MeasurementsMessage(tuple(measurements), tuple(rejected))


def _parse_measurement(index: int, raw: Any) -> Measurement | RejectedMeasurement:
    where = f"measurements[{index}]"
    item = as_mapping(raw)
    if item is None:
        raise EfentoMessageError(f"{where}: not an object")
    raw_handle = item.get("response_handle")
    handle = as_int(raw_handle)
    if raw_handle is not None and handle is None:
        raise EfentoMessageError(f"{where}: response_handle is not an integer")
    serial = (as_str(item.get("serial")) or "").strip()
    if not serial:
        return RejectedMeasurement(index, handle, None, f"{where}: serial missing")
    try:
        # Measurements send "2024-10-12 15:28:21 UTC"; Unix seconds are read too.
        measured_at = parse_timestamp(item.get("measured_at"), epoch="s")
    except InvalidTimestampError as err:
        return RejectedMeasurement(index, handle, serial, f"{where}: measured_at {err.reason}")
    params, invalid = _parse_params(item.get("params"), where)
    battery = as_str(item.get("battery"))
    return Measurement(
        serial=serial,
        response_handle=handle,
        battery=battery.strip().lower() if battery is not None else None,
        signal=as_int(item.get("signal")),
        measured_at=measured_at,
        measurement_interval=clamp_seconds(
            as_int(item.get("measurement_interval")), maximum=MAX_INTERVAL
        ),
        next_measurement_at=timestamp_or_none(item.get("next_measurement_at"), epoch="s"),
        params=params,
        invalid_params=invalid,
    )


def _parse_params(raw: Any, where: str) -> tuple[tuple[Param, ...], tuple[InvalidParam, ...]]:
    items = as_list(raw)
    if items is None:
        reason = f"{where}: params missing" if raw is None else f"{where}: params not a list"
        return (), (InvalidParam(None, None, reason),)
    params: list[Param] = []
    invalid: list[InvalidParam] = []
    seen: set[int] = set()
    for index, item in enumerate(items):
        parsed = _parse_param(item, f"{where}.params[{index}]")
        if isinstance(parsed, str):
            channel = as_int(item.get("channel")) if isinstance(item, Mapping) else None
            invalid.append(InvalidParam(index, channel, parsed))
        elif parsed.channel in seen:
            # Two readings for one channel would fight over one entity: keep the first.
            reason = f"{where}.params[{index}]: duplicate channel {parsed.channel}"
            invalid.append(InvalidParam(index, parsed.channel, reason))
        else:
            seen.add(parsed.channel)
            params.append(parsed)
    return tuple(params), tuple(invalid)


def _parse_param(raw: Any, where: str) -> Param | str:
    """Return the param, or the reason it cannot be used."""
    item = as_mapping(raw)
    if item is None:
        return f"{where}: not an object"
    channel = as_int(item.get("channel"))
    if channel is None:
        return f"{where}: channel missing"
    type_name = (as_str(item.get("type")) or "").strip().lower()
    if not type_name:
        return f"{where}: type missing"
    status = (as_str(item.get("status")) or "").strip().lower()
    if not status:
        return f"{where}: status missing"
    kind = kind_for(type_name)
    value: float | None = None
    is_on: bool | None = None
    if status == STATUS_OK:
        raw_value = item.get("value")
        if kind is not None and kind.binary:
            word = as_str(raw_value)
            is_on = OPEN_CLOSE_VALUES.get(word.strip().lower()) if word is not None else None
            if is_on is None:
                return f"{where}: value is not open or closed"
        else:
            value = as_float(raw_value)
            if value is None:
                return f"{where}: value is not a number"
    return Param(channel, type_name, status, kind, value, is_on)


def _parse_heartbeat(root: Mapping[str, Any]) -> HeartbeatMessage:
    power = as_mapping(root.get("power_monitor")) or {}
    # Documented as a string ("128/128"); a bare number is read the same way.
    count = as_int(root.get("sensors_number"))
    sensors = str(count) if count is not None else as_str(root.get("sensors_number"))
    return HeartbeatMessage(
        name=as_str(root.get("name")),
        model=as_str(root.get("model")),
        software_version=as_str(root.get("software_version")),
        # The heartbeat sends Unix seconds.
        current_time=timestamp_or_none(root.get("current_time"), epoch="s"),
        uptime=clamp_seconds(as_int(root.get("uptime")), maximum=MAX_UPTIME),
        mac=as_str(root.get("mac")),
        sensors_number=sensors,
        loggers_in_range=as_int(sensors.partition("/")[0]) if sensors is not None else None,
        next_communication_at=timestamp_or_none(root.get("next_communication_at"), epoch="s"),
        is_usb_connected=as_bool(power.get("is_usb_connected")),
        is_charging=as_bool(power.get("is_charging")),
        battery_level=as_int(power.get("battery_level")),
    )
