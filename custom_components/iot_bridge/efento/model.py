"""What one gateway and its wireless loggers last reported, and how messages change it.

Plain Python, no Home Assistant: the rules (newest ``measured_at`` wins, a repeat
changes nothing, Y/N per logger, when a device counts as silent) read in one place.
Everything here is persisted.

"Logger" is Efento's word for its wireless sensors. One logger's state is a
``LoggerState``, held in variables named ``logger_state``: a bare ``logger``
would read as a Python logger.

Whatever a gateway sends, or a store holds, is bounded here before it is kept:
how many loggers and channels it may create (the caps below), what a serial or a
type name may look like (they become device identifiers and entity ids), the
length and encoding of texts and the size of numbers (everything kept must stay
writable to Home Assistant's JSON store), and every time a deadline is computed
from (``api.timestamps``). Applying a message or restoring a store never raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import re
from typing import Any, Final

from ..api.efento import (
    HeartbeatMessage,
    Measurement,
    MeasurementsMessage,
    build_measurements_reply,
)
from ..api.fields import as_bool, as_float, as_int, as_list, as_mapping, as_str
from ..api.timestamps import (
    MAX_INTERVAL,
    MAX_UPTIME,
    clamp_duration,
    clamp_seconds,
    timestamp_or_none,
)

# A logger goes silent this long after the moment it said it would report next;
# the gateway goes disconnected this long after its announced next heartbeat.
MEASUREMENT_GRACE: Final = timedelta(minutes=10)
HEARTBEAT_GRACE: Final = timedelta(minutes=10)
# Documented default heartbeat period, used when a heartbeat does not announce the next one.
HEARTBEAT_PERIOD: Final = timedelta(minutes=15)
# A logger that reported without any schedule is considered silent after this.
UNSCHEDULED_SILENCE: Final = timedelta(hours=1)

# --- what a gateway may create ---------------------------------------------------
# Each new logger brings five to a dozen entities. Past a cap the extra loggers or
# channels are not created and their loggers are answered "N"; nothing that exists
# is touched.
#
# The documentation's heartbeat shows "128/128" loggers in range: the first message
# after set-up may name that many new loggers at once, a genuine one never more.
# The cap keeps one hostile message (4,000 invented serials) from creating tens of
# thousands of entities and stalling Home Assistant while it does.
MAX_NEW_LOGGERS_PER_MESSAGE: Final = 128
# Twice what one gateway has in range, for loggers replaced or moved over the years;
# deleting silent loggers from the entry makes room again.
MAX_LOGGERS: Final = 256
# Efento loggers have at most three channels ("up to three slots", their manual;
# the documentation's channel numbers are 1/2/3); eight leaves room for models we
# have not seen.
MAX_CHANNELS: Final = 8
# A channel number is a slot number; anything larger is not a slot.
MAX_CHANNEL_NUMBER: Final = 255

# Serials are 12 hex digits ("282C024FFFB1"); base64 forms are allowed. They and
# type names end up in device identifiers, unique ids and entity ids.
_SERIAL = re.compile(r"[A-Za-z0-9+/=_.:-]{1,32}")
_TYPE_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}")
# Names, models and versions are a few dozen characters at most.
MAX_KEPT_TEXT: Final = 64
# Home Assistant's JSON store writes 64-bit integers; a bigger one would fail every
# later write. JavaScript's safe range keeps the numbers exact in the frontend too.
_MAX_INT: Final = 2**53

# The logger's radio signal: a sensor of every logger, in dBm.
SIGNAL_KEY: Final = "signal"
SIGNAL_UNIT: Final = "dBm"

_FIRST: Final = datetime.min.replace(tzinfo=UTC)
_LAST: Final = datetime.max.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _text(value: Any) -> str | None:
    """A short, storable text: truncated, lone surrogates (invalid UTF-8) replaced."""
    text = as_str(value)
    if text is None:
        return None
    return text[:MAX_KEPT_TEXT].encode("utf-8", "replace").decode("utf-8")


def _int(value: Any) -> int | None:
    """An integer the store can write, else None."""
    number = as_int(value)
    return number if number is not None and -_MAX_INT <= number <= _MAX_INT else None


def _seconds(value: Any, maximum: timedelta) -> int | None:
    return clamp_seconds(as_int(value), maximum=maximum)


def _after(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, saturating instead of overflowing at the end of time."""
    try:
        return moment + delta
    except OverflowError:
        return _LAST if delta > timedelta(0) else _FIRST


def _deadline(
    next_at: datetime | None,
    measured_at: datetime | None,
    interval: int | None,
    received_at: datetime | None,
) -> datetime | None:
    """When a logger that reported this counts as silent if nothing newer arrived."""
    if next_at is not None:
        return _after(next_at, MEASUREMENT_GRACE)
    # Clamped again: the state may have been built from an unclamped number.
    seconds = clamp_duration(interval, maximum=MAX_INTERVAL)
    if measured_at is not None and seconds:
        return _after(_after(measured_at, seconds), MEASUREMENT_GRACE)
    if received_at is not None:
        return _after(received_at, UNSCHEDULED_SILENCE)
    return None


def overdue(item: Measurement, now: datetime) -> bool:
    """Whether a measurement's own schedule was over before it arrived (a resent buffer).

    Such a reading tells what happened, not what is: shown as the state, it would be
    a moment of the past replayed (and the logger silent already).
    """
    deadline = _deadline(item.next_measurement_at, item.measured_at, item.measurement_interval, now)
    return deadline is not None and deadline <= now


def usable_serial(serial: str) -> bool:
    """Whether a serial may name a device."""
    return _SERIAL.fullmatch(serial) is not None


def usable_mac(mac: str | None) -> str | None:
    """The MAC address if it is one (six bytes, one separator or none), else None."""
    return mac if mac is not None and _MAC.fullmatch(mac) else None


def type_key(type_name: str) -> str:
    """A measurement type as used in keys: ``open-close`` becomes ``open_close``."""
    return type_name.strip().lower().replace("-", "_")


def channel_key(channel: int, type_name: str) -> str:
    """The key of a channel's entity: channel number and the type it measures."""
    return f"ch{channel}_{type_key(type_name)}"


def late_values(item: Measurement) -> Iterator[tuple[str, str | None, float]]:
    """A measurement's numbers as (entity key, unit, value): what a late one still tells.

    Only readings the logger called good, on channels that could have an entity.
    """
    if (signal := _int(item.signal)) is not None:
        yield SIGNAL_KEY, SIGNAL_UNIT, float(signal)
    for param in item.params:
        if (
            param.ok
            and param.value is not None
            and _channel_number(param.channel) is not None
            and _TYPE_NAME.fullmatch(param.type)
        ):
            unit = param.kind.unit if param.kind is not None else None
            yield channel_key(param.channel, param.type), unit, param.value


def _reason_kind(reason: str) -> str:
    """A rejection reason without the item's index: one kind of fault, warned about once."""
    where, sep, what = reason.partition(": ")
    return what if sep and where.startswith("measurements[") else reason


def _channel_number(value: Any) -> int | None:
    number = as_int(value)
    return number if number is not None and 0 <= number <= MAX_CHANNEL_NUMBER else None


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

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the store and diagnostics."""
        return {"type": self.type, "status": self.status, "value": self.value, "is_on": self.is_on}

    @classmethod
    def from_dict(cls, raw: Any) -> ChannelState | None:
        """Rebuild from ``as_dict``; None when the channel cannot be used."""
        item = as_mapping(raw)
        type_name = as_str(item.get("type")) if item is not None else None
        if item is None or type_name is None or not _TYPE_NAME.fullmatch(type_name):
            return None
        return cls(
            type=type_name,
            status=_text(item.get("status")),
            value=as_float(item.get("value")),
            is_on=as_bool(item.get("is_on")),
        )


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
        return _deadline(
            self.next_measurement_at, self.measured_at, self.measurement_interval, self.received_at
        )

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
            "channels": {str(number): ch.as_dict() for number, ch in sorted(self.channels.items())},
        }

    @classmethod
    def from_dict(cls, raw: Any, dropped: list[str]) -> LoggerState | None:
        """Rebuild from ``as_dict``; None without a usable serial.

        Every field is checked as if the gateway had just sent it: the store may
        come from an older version that kept what it should not have (a time in
        2100, an interval of 10**15 seconds), or from a hand edit.
        """
        item = as_mapping(raw)
        serial = as_str(item.get("serial")) if item is not None else None
        if item is None or serial is None or not usable_serial(serial):
            dropped.append("logger")
            return None
        channels: dict[int, ChannelState] = {}
        for number, ch in (as_mapping(item.get("channels")) or {}).items():
            channel = _channel_number(number)
            state = ChannelState.from_dict(ch)
            if channel is None or state is None:
                dropped.append("channel")
                continue
            channels[channel] = state
        accept = as_bool(item.get("accept"))
        return cls(
            serial=serial,
            accept=True if accept is None else accept,
            response_handle=_int(item.get("response_handle")),
            battery=_text(item.get("battery")),
            signal=_int(item.get("signal")),
            measured_at=timestamp_or_none(item.get("measured_at")),
            measurement_interval=_seconds(item.get("measurement_interval"), MAX_INTERVAL),
            next_measurement_at=timestamp_or_none(item.get("next_measurement_at")),
            received_at=timestamp_or_none(item.get("received_at")),
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
        return _after(self.current_time, -uptime)

    @property
    def deadline(self) -> datetime | None:
        """When the gateway counts as disconnected if no newer heartbeat arrived."""
        if self.next_communication_at is not None:
            return _after(self.next_communication_at, HEARTBEAT_GRACE)
        if self.last_heartbeat is not None:
            return _after(self.last_heartbeat, HEARTBEAT_PERIOD + HEARTBEAT_GRACE)
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
        self.name = _text(message.name) or self.name
        self.model = _text(message.model) or self.model
        self.software_version = _text(message.software_version) or self.software_version
        self.mac = usable_mac(message.mac) or self.mac
        self.current_time = message.current_time
        self.uptime = clamp_seconds(message.uptime, maximum=MAX_UPTIME)
        self.sensors_number = _text(message.sensors_number)
        self.loggers_in_range = _int(message.loggers_in_range)
        self.next_communication_at = message.next_communication_at
        self.is_usb_connected = message.is_usb_connected
        self.is_charging = message.is_charging
        self.battery_level = _int(message.battery_level)
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
    def from_dict(cls, raw: Mapping[str, Any]) -> GatewayState:
        """Rebuild from ``as_dict``, checking every field as ``apply`` would."""
        return cls(
            name=_text(raw.get("name")),
            model=_text(raw.get("model")),
            software_version=_text(raw.get("software_version")),
            mac=usable_mac(as_str(raw.get("mac"))),
            current_time=timestamp_or_none(raw.get("current_time")),
            uptime=_seconds(raw.get("uptime"), MAX_UPTIME),
            sensors_number=_text(raw.get("sensors_number")),
            loggers_in_range=_int(raw.get("loggers_in_range")),
            next_communication_at=timestamp_or_none(raw.get("next_communication_at")),
            is_usb_connected=as_bool(raw.get("is_usb_connected")),
            is_charging=as_bool(raw.get("is_charging")),
            battery_level=_int(raw.get("battery_level")),
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
    # New loggers not created because the entry holds MAX_LOGGERS already.
    refused_by_entry: int = 0
    # New loggers not created because this message brought MAX_NEW_LOGGERS_PER_MESSAGE.
    refused_by_message: int = 0
    # New channels not created because their logger has MAX_CHANNELS already, and
    # the serials of those loggers.
    refused_channels: int = 0
    crowded: frozenset[str] = frozenset()
    # Why some measurements or params were not used, without indexes or values: a
    # fault to be warned about once per kind.
    ignored: frozenset[str] = frozenset()
    # Measurements of kept loggers older than what their logger shows now (a resent
    # buffer, a whole message older than the state): not applied, history only.
    late: tuple[Measurement, ...] = ()


@dataclass(slots=True)
class _Tally:
    created: int = 0
    catalog_changed: bool = False
    refused_channels: int = 0
    crowded: set[str] = field(default_factory=set)
    ignored: set[str] = field(default_factory=set)


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
        A newest one that was ``overdue`` on arrival is not applied either when the
        logger shows a measurement already: a resent buffer, message after message,
        must not replay the past as states. What was not applied comes back in
        ``late`` (history, for the statistics); a repeat of the shown reading does not.

        Y and N name loggers, not readings ("IDs of loggers, which should [not] be
        synchronised with the server"), and the 201 already tells the gateway that
        this message arrived. So a measurement we cannot use (a time in 2100, no
        serial) is answered Y when its logger is wanted: N would make the gateway
        stop keeping that logger's genuine readings for us. N is for loggers the
        user switched off, and for new loggers refused by a cap.
        """
        tally = _Tally()
        tally.ignored.update(_reason_kind(rejected.reason) for rejected in message.rejected)
        newest: dict[str, Measurement] = {}
        usable: list[Measurement] = []
        for item in message.measurements:
            if not usable_serial(item.serial):
                tally.ignored.add("serial not usable")
                continue
            usable.append(item)
            held = newest.get(item.serial)
            if held is None or item.measured_at > held.measured_at:
                newest[item.serial] = item
        touched: set[str] = set()
        # New serials not created: the entry is full, or this message brought enough.
        full: set[str] = set()
        throttled: set[str] = set()
        for serial, item in newest.items():
            logger_state = self.loggers.get(serial)
            if logger_state is None:
                if len(self.loggers) >= MAX_LOGGERS:
                    full.add(serial)
                    continue
                if tally.created >= MAX_NEW_LOGGERS_PER_MESSAGE:
                    throttled.add(serial)
                    continue
                logger_state = self.loggers[serial] = LoggerState(serial)
                tally.created += 1
                tally.catalog_changed = True
            held_at = logger_state.measured_at
            if held_at is not None and (item.measured_at <= held_at or overdue(item, now)):
                continue
            _apply_measurement(logger_state, item, now, tally)
            touched.add(serial)
        late = tuple(item for item in usable if self._is_late(item))
        return MeasurementsOutcome(
            reply=self._reply(message, full | throttled),
            touched=frozenset(touched),
            catalog_changed=tally.catalog_changed,
            refused_by_entry=len(full),
            refused_by_message=len(throttled),
            refused_channels=tally.refused_channels,
            crowded=frozenset(tally.crowded),
            ignored=frozenset(tally.ignored),
            late=late,
        )

    def _is_late(self, item: Measurement) -> bool:
        """Whether a usable measurement belongs to a kept logger and is not the one shown.

        Every measurement applied is the shown one afterwards; so this is what was not
        applied, less repeats of the shown reading.
        """
        logger_state = self.loggers.get(item.serial)
        return logger_state is not None and logger_state.measured_at != item.measured_at

    def _reply(self, message: MeasurementsMessage, refused: set[str]) -> dict[str, list[int]]:
        accepted: list[int | None] = []
        declined: list[int | None] = []
        for serial, handle in _handles(message):
            logger_state = self.loggers.get(serial or "")
            if serial in refused or (logger_state is not None and not logger_state.accept):
                declined.append(handle)
            else:
                accepted.append(handle)
        return build_measurements_reply(accepted, declined)

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
    def from_dict(cls, raw: Any, dropped: list[str] | None = None) -> EfentoState:
        """Rebuild from the store; never raises.

        An empty store starts afresh; a logger or channel that cannot be used is
        left out (and named in ``dropped``): it reappears with its next
        measurement. Loggers are not capped here: they exist already.
        """
        dropped = [] if dropped is None else dropped
        root = as_mapping(raw)
        if root is None:
            if raw is not None:
                dropped.append("state")
            return cls()
        loggers: dict[str, LoggerState] = {}
        for item in as_list(root.get("loggers")) or ():
            if (logger_state := LoggerState.from_dict(item, dropped)) is not None:
                loggers[logger_state.serial] = logger_state
        gateway = as_mapping(root.get("gateway"))
        if gateway is None and root.get("gateway") is not None:
            dropped.append("gateway")
        return cls(gateway=GatewayState.from_dict(gateway or {}), loggers=loggers)


def _handles(message: MeasurementsMessage) -> Iterable[tuple[str | None, int | None]]:
    for item in message.measurements:
        yield item.serial, item.response_handle
    for rejected in message.rejected:
        yield rejected.serial, rejected.response_handle


def _apply_measurement(
    logger_state: LoggerState, item: Measurement, now: datetime, tally: _Tally
) -> None:
    """Copy a newer measurement into the logger, within MAX_CHANNELS."""
    logger_state.response_handle = _int(item.response_handle)
    logger_state.battery = _text(item.battery)
    logger_state.signal = _int(item.signal)
    logger_state.measured_at = item.measured_at
    logger_state.measurement_interval = clamp_seconds(
        item.measurement_interval, maximum=MAX_INTERVAL
    )
    logger_state.next_measurement_at = item.next_measurement_at
    logger_state.received_at = now
    channels = logger_state.channels
    for param in item.params:
        if _channel_number(param.channel) is None:
            tally.ignored.add("channel number out of range")
            continue
        held = channels.get(param.channel)
        if not _TYPE_NAME.fullmatch(param.type):
            tally.ignored.add("type name not usable")
            if held is not None:
                channels[param.channel] = ChannelState(type=held.type, status=None)
            continue
        if held is None and len(channels) >= MAX_CHANNELS:
            tally.refused_channels += 1
            tally.crowded.add(logger_state.serial)
            continue
        if held is None or type_key(held.type) != type_key(param.type):
            tally.catalog_changed = True
        channels[param.channel] = ChannelState(
            type=param.type,
            status=_text(param.status),
            value=as_float(param.value),
            is_on=param.is_on,
        )
    for invalid in item.invalid_params:
        # A newer reading we cannot use: the old value must not pose as current.
        if invalid.channel is not None and (held := channels.get(invalid.channel)):
            channels[invalid.channel] = ChannelState(type=held.type, status=None)
