"""What Home Assistant knows about one gateway and its loggers, and how messages change it.

Kept free of entity code so the rules (newest ``measured_at`` wins, a repeat changes
nothing, Y/N per logger) can be read in one place. Everything here is persisted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..api.efento import (
    HeartbeatMessage,
    Measurement,
    MeasurementsMessage,
    build_measurements_reply,
)
from .const import GATEWAY_GRACE, HEARTBEAT_PERIOD, LOGGER_FALLBACK_PERIOD, LOGGER_GRACE


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


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
        """When the logger counts as gone if nothing newer arrived."""
        if self.next_measurement_at is not None:
            return self.next_measurement_at + LOGGER_GRACE
        if self.measured_at is not None and self.measurement_interval:
            interval = timedelta(seconds=self.measurement_interval)
            return self.measured_at + interval + LOGGER_GRACE
        if self.received_at is not None:
            return self.received_at + LOGGER_FALLBACK_PERIOD
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
            measured_at=_time(raw.get("measured_at")),
            measurement_interval=raw.get("measurement_interval"),
            next_measurement_at=_time(raw.get("next_measurement_at")),
            received_at=_time(raw.get("received_at")),
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
        if self.current_time is None or self.uptime is None:
            return None
        return self.current_time - timedelta(seconds=self.uptime)

    @property
    def deadline(self) -> datetime | None:
        """When the gateway counts as disconnected if no newer heartbeat arrived."""
        if self.next_communication_at is not None:
            return self.next_communication_at + GATEWAY_GRACE
        if self.last_heartbeat is not None:
            return self.last_heartbeat + HEARTBEAT_PERIOD + GATEWAY_GRACE
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
            current_time=_time(raw.get("current_time")),
            uptime=raw.get("uptime"),
            sensors_number=raw.get("sensors_number"),
            loggers_in_range=raw.get("loggers_in_range"),
            next_communication_at=_time(raw.get("next_communication_at")),
            is_usb_connected=raw.get("is_usb_connected"),
            is_charging=raw.get("is_charging"),
            battery_level=raw.get("battery_level"),
            received_at=_time(raw.get("received_at")),
        )


@dataclass(frozen=True, slots=True)
class MeasurementsOutcome:
    """What applying one measurements message did."""

    reply: dict[str, list[int]]
    touched: frozenset[str]
    new_loggers: frozenset[str]
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
        new_loggers: set[str] = set()
        catalog_changed = False
        for serial, item in newest.items():
            logger = self.loggers.get(serial)
            if logger is None:
                logger = self.loggers[serial] = LoggerState(serial)
                new_loggers.add(serial)
                catalog_changed = True
            if logger.measured_at is not None and item.measured_at <= logger.measured_at:
                continue
            catalog_changed |= _apply_measurement(logger, item, now)
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
            new_loggers=frozenset(new_loggers),
            catalog_changed=catalog_changed,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the store."""
        return {
            "gateway": self.gateway.as_dict(),
            "loggers": [logger.as_dict() for logger in self.loggers.values()],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> EfentoState:
        """Rebuild from the store; an empty or unreadable store starts afresh."""
        if not raw:
            return cls()
        loggers = [LoggerState.from_dict(item) for item in raw.get("loggers") or ()]
        return cls(
            gateway=GatewayState.from_dict(raw.get("gateway") or {}),
            loggers={logger.serial: logger for logger in loggers},
        )


def _apply_measurement(logger: LoggerState, item: Measurement, now: datetime) -> bool:
    """Copy a newer measurement into the logger; True if it has new channels or types."""
    logger.response_handle = item.response_handle
    logger.battery = item.battery
    logger.signal = item.signal
    logger.measured_at = item.measured_at
    logger.measurement_interval = item.measurement_interval
    logger.next_measurement_at = item.next_measurement_at
    logger.received_at = now
    catalog_changed = False
    for param in item.params:
        held = logger.channels.get(param.channel)
        if held is None or type_key(held.type) != type_key(param.type):
            catalog_changed = True
        logger.channels[param.channel] = ChannelState(
            type=param.type, status=param.status, value=param.value, is_on=param.is_on
        )
    for invalid in item.invalid_params:
        # A newer reading we cannot use: the old value must not pose as current.
        if invalid.channel is not None and (held := logger.channels.get(invalid.channel)):
            logger.channels[invalid.channel] = ChannelState(type=held.type, status=None)
    return catalog_changed
