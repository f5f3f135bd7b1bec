"""What one gateway and its wireless loggers last reported, and how messages change it.

Plain Python, no Home Assistant: the rules (newest ``measured_at`` wins, a repeat
changes nothing, Y/N per logger, when a device counts as silent) read in one place.
Everything here is persisted.

"Logger" is Efento's word for its wireless sensors. One logger's state is a
``LoggerState``, held in variables named ``logger_state``: a bare ``logger``
would read as a Python logger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from ..api.efento import (
    HeartbeatMessage,
    Measurement,
    MeasurementsMessage,
    build_measurements_reply,
)
from ..api.timestamps import MAX_INTERVAL, MAX_UPTIME, clamp_duration, timestamp_or_none

# A logger goes silent this long after the moment it said it would report next;
# the gateway goes disconnected this long after its announced next heartbeat.
MEASUREMENT_GRACE: Final = timedelta(minutes=10)
HEARTBEAT_GRACE: Final = timedelta(minutes=10)
# Documented default heartbeat period, used when a heartbeat does not announce the next one.
HEARTBEAT_PERIOD: Final = timedelta(minutes=15)
# A logger that reported without any schedule is considered silent after this.
UNSCHEDULED_SILENCE: Final = timedelta(hours=1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def type_key(type_name: str) -> str:
    """A measurement type as used in keys: ``open-close`` becomes ``open_close``."""
    return type_name.strip().lower().replace("-", "_")


@dataclass(slots=True)
class ChannelState:
    """The latest reading of one logger channel; value None means unknown."""

    type: str
    status: str | None
    value: float | None = None
    is_on: bool | None = None

    @property
    def ok(self) -> bool:
        """Whether the last reading was valid."""
        return self.status == "ok"


@dataclass(slots=True)
class LoggerState:
    """One logger (by serial): its latest applied measurement and the user's choice."""

    serial: str
    accept: bool = True
    response_handle: int | None = None
    battery: str | None = None
    signal: int | None = None
    measured_at: datetime | None = None
    measurement_interval: int | None = None
    next_measurement_at: datetime | None = None
    received_at: datetime | None = None
    channels: dict[int, ChannelState] = field(default_factory=dict)

    @property
    def battery_low(self) -> bool | None:
        """True for a low battery, None when the logger did not say."""
        return {"low": True, "ok": False}.get(self.battery or "")

    @property
    def deadline(self) -> datetime | None:
        """When the logger counts as silent if nothing newer arrived."""
        if self.next_measurement_at is not None:
            return self.next_measurement_at + MEASUREMENT_GRACE
        # Clamped again: the store may hold an interval from before the parser clamped it.
        interval = clamp_duration(self.measurement_interval, maximum=MAX_INTERVAL)
        if self.measured_at is not None and interval:
            return self.measured_at + interval + MEASUREMENT_GRACE
        if self.received_at is not None:
            return self.received_at + UNSCHEDULED_SILENCE
        return None

    def fresh(self, now: datetime) -> bool:
        """Whether the logger has reported within its own schedule."""
        deadline = self.deadline
        return deadline is not None and now < deadline

    def channel(self, channel: int, type_name: str) -> ChannelState | None:
        """The channel's state if it still measures this type."""
        state = self.channels.get(channel)
        if state is None or type_key(state.type) != type_key(type_name):
            return None
        return state

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the store and diagnostics."""
        return {
            "serial": self.serial,
            "accept": self.accept,
            "response_handle": self.response_handle,
            "battery": self.battery,
            "signal": self.signal,
            "measured_at": _iso(self.measured_at),
            "measurement_interval": self.measurement_interval,
            "next_measurement_at": _iso(self.next_measurement_at),
            "received_at": _iso(self.received_at),
            "channels": {
                str(number): {
                    "type": ch.type,
                    "status": ch.status,
                    "value": ch.value,
                    "is_on": ch.is_on,
                }
                for number, ch in sorted(self.channels.items())
            },
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LoggerState:
        """Rebuild from ``as_dict``; tolerant of fields written by older versions."""
        channels: dict[int, ChannelState] = {}
        for number, ch in (raw.get("channels") or {}).items():
            channels[int(number)] = ChannelState(
                type=str(ch.get("type", "")),
                status=ch.get("status"),
                value=ch.get("value"),
                is_on=ch.get("is_on"),
            )
        return cls(
            serial=str(raw["serial"]),
            accept=bool(raw.get("accept", True)),
            response_handle=raw.get("response_handle"),
            battery=raw.get("battery"),
            signal=raw.get("signal"),
            measured_at=timestamp_or_none(raw.get("measured_at")),
            measurement_interval=raw.get("measurement_interval"),
            next_measurement_at=timestamp_or_none(raw.get("next_measurement_at")),
            received_at=timestamp_or_none(raw.get("received_at")),
            channels=channels,
        )


@dataclass(slots=True)
class GatewayState:
    """The gateway as its latest heartbeat describes it."""

    name: str | None = None
    model: str | None = None
    software_version: str | None = None
    mac: str | None = None
    current_time: datetime | None = None
    uptime: int | None = None
    sensors_number: str | None = None
    loggers_in_range: int | None = None
    next_communication_at: datetime | None = None
    is_usb_connected: bool | None = None
    is_charging: bool | None = None
    battery_level: int | None = None
    received_at: datetime | None = None

    @property
    def heard(self) -> bool:
        """Whether any heartbeat has arrived yet."""
        return self.received_at is not None

    @property
    def last_heartbeat(self) -> datetime | None:
        """When the gateway sent its latest heartbeat (its clock, else ours)."""
        return self.current_time or self.received_at

    @property
    def started_at(self) -> datetime | None:
        """Boot time: steadier than a seconds counter that changes with every heartbeat."""
        uptime = clamp_duration(self.uptime, maximum=MAX_UPTIME)
        if self.current_time is None or uptime is None:
            return None
        return self.current_time - uptime

    @property
    def deadline(self) -> datetime | None:
        """When the gateway counts as disconnected if no newer heartbeat arrived."""
        if self.next_communication_at is not None:
            return self.next_communication_at + HEARTBEAT_GRACE
        if self.last_heartbeat is not None:
            return self.last_heartbeat + HEARTBEAT_PERIOD + HEARTBEAT_GRACE
        return None

    def connected(self, now: datetime) -> bool | None:
        """On while heartbeats come as announced; None before the first one."""
        deadline = self.deadline
        if deadline is None:
            return None
        return now < deadline

    def apply(self, message: HeartbeatMessage, now: datetime) -> bool:
        """Take a heartbeat unless it is older than the one we have; True if it changed us."""
        if (
            message.current_time is not None
            and self.current_time is not None
            and message.current_time <= self.current_time
        ):
            return False
        self.name = message.name or self.name
        self.model = message.model or self.model
        self.software_version = message.software_version or self.software_version
        self.mac = message.mac or self.mac
        self.current_time = message.current_time
        self.uptime = message.uptime
        self.sensors_number = message.sensors_number
        self.loggers_in_range = message.loggers_in_range
        self.next_communication_at = message.next_communication_at
        self.is_usb_connected = message.is_usb_connected
        self.is_charging = message.is_charging
        self.battery_level = message.battery_level
        self.received_at = now
        return True

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the store and diagnostics."""
        return {
            "name": self.name,
            "model": self.model,
            "software_version": self.software_version,
            "mac": self.mac,
            "current_time": _iso(self.current_time),
            "uptime": self.uptime,
            "sensors_number": self.sensors_number,
            "loggers_in_range": self.loggers_in_range,
            "next_communication_at": _iso(self.next_communication_at),
            "is_usb_connected": self.is_usb_connected,
            "is_charging": self.is_charging,
            "battery_level": self.battery_level,
            "received_at": _iso(self.received_at),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GatewayState:
        """Rebuild from ``as_dict``."""
        return cls(
            name=raw.get("name"),
            model=raw.get("model"),
            software_version=raw.get("software_version"),
            mac=raw.get("mac"),
            current_time=timestamp_or_none(raw.get("current_time")),
            uptime=raw.get("uptime"),
            sensors_number=raw.get("sensors_number"),
            loggers_in_range=raw.get("loggers_in_range"),
            next_communication_at=timestamp_or_none(raw.get("next_communication_at")),
            is_usb_connected=raw.get("is_usb_connected"),
            is_charging=raw.get("is_charging"),
            battery_level=raw.get("battery_level"),
            received_at=timestamp_or_none(raw.get("received_at")),
        )


@dataclass(frozen=True, slots=True)
class MeasurementsOutcome:
    """What applying one measurements message did."""

    reply: dict[str, list[int]]
    # Serials of the loggers whose state changed.
    touched: frozenset[str]
    # New loggers, or loggers with new channels or channel types.
    catalog_changed: bool


@dataclass(slots=True)
class EfentoState:
    """Everything one entry knows: the gateway and its loggers by serial."""

    gateway: GatewayState = field(default_factory=GatewayState)
    loggers: dict[str, LoggerState] = field(default_factory=dict)

    def apply_measurements(
        self, message: MeasurementsMessage, now: datetime
    ) -> MeasurementsOutcome:
        """Apply the newest measurement per logger; answer every handle Y or N.

        A message may hold several measurements of one logger in any order (a
        backlog after an outage): only the newest is applied, and only when it is
        newer than what we hold, so an old or repeated message changes nothing.
        """
        newest: dict[str, Measurement] = {}
        for item in message.measurements:
            held = newest.get(item.serial)
            if held is None or item.measured_at > held.measured_at:
                newest[item.serial] = item
        touched: set[str] = set()
        catalog_changed = False
        for serial, item in newest.items():
            logger_state = self.loggers.get(serial)
            if logger_state is None:
                logger_state = self.loggers[serial] = LoggerState(serial)
                catalog_changed = True
            held_at = logger_state.measured_at
            if held_at is not None and item.measured_at <= held_at:
                continue
            catalog_changed |= _apply_measurement(logger_state, item, now)
            touched.add(serial)
        accepted: list[int | None] = []
        refused: list[int | None] = []
        for item in message.measurements:
            wanted = self.loggers[item.serial].accept
            (accepted if wanted else refused).append(item.response_handle)
        for rejected in message.rejected:
            known = self.loggers.get(rejected.serial or "")
            (refused if known is not None and not known.accept else accepted).append(
                rejected.response_handle
            )
        return MeasurementsOutcome(
            reply=build_measurements_reply(accepted, refused),
            touched=frozenset(touched),
            catalog_changed=catalog_changed,
        )

    def set_accept(self, serial: str, accept: bool) -> None:
        """Answer this logger's measurements Y (keep syncing) or N from now on."""
        self.loggers[serial].accept = accept

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the store."""
        return {
            "gateway": self.gateway.as_dict(),
            "loggers": [logger_state.as_dict() for logger_state in self.loggers.values()],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> EfentoState:
        """Rebuild from the store; an empty store starts afresh, an unreadable logger is skipped."""
        if not raw:
            return cls()
        loggers: dict[str, LoggerState] = {}
        for item in raw.get("loggers") or ():
            try:
                logger_state = LoggerState.from_dict(item)
            except (AttributeError, KeyError, TypeError, ValueError):
                continue  # one unreadable logger reappears with its next measurement
            loggers[logger_state.serial] = logger_state
        return cls(gateway=GatewayState.from_dict(raw.get("gateway") or {}), loggers=loggers)


def _apply_measurement(logger_state: LoggerState, item: Measurement, now: datetime) -> bool:
    """Copy a newer measurement into the logger; True if it has new channels or types."""
    logger_state.response_handle = item.response_handle
    logger_state.battery = item.battery
    logger_state.signal = item.signal
    logger_state.measured_at = item.measured_at
    logger_state.measurement_interval = item.measurement_interval
    logger_state.next_measurement_at = item.next_measurement_at
    logger_state.received_at = now
    channels = logger_state.channels
    catalog_changed = False
    for param in item.params:
        held = channels.get(param.channel)
        if held is None or type_key(held.type) != type_key(param.type):
            catalog_changed = True
        channels[param.channel] = ChannelState(
            type=param.type, status=param.status, value=param.value, is_on=param.is_on
        )
    for invalid in item.invalid_params:
        # A newer reading we cannot use: the old value must not pose as current.
        if invalid.channel is not None and (held := channels.get(invalid.channel)):
            channels[invalid.channel] = ChannelState(type=held.type, status=None)
    return catalog_changed
