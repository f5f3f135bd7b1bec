"""What IoT Bridge knows about a Netemera application and its end-devices.

Pure data and rules, no Home Assistant: which packet counts (duplicates,
late packets, frame counter resets), where history must start so nothing is
missed, what a device's entities read, how much a server or device may create,
and how it all is written to and read back from Home Assistant's Store.

Everything here is fed by the server (or by a stored file), so no input may
raise: a time from a wrong clock never becomes the history cursor or hides
later packets, and new devices and decoded values stop at named caps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from ..api.cayenne_lpp import TYPES as LPP_TYPES, LppDecodeError, LppValue, decode
from ..api.errors import ApiPayloadError
from ..api.netemera import GatewayInfo, Uplink, parse_uplink
from ..api.timestamps import timestamp_or_none

# Frame counters remembered per device to recognise repeats; a network re-sends
# recent frames, never ones from hundreds of frames ago.
RECENT_FRAMES = 32
# The first start has nothing to resume from: show what the last hour brought.
FIRST_CATCH_UP = timedelta(hours=1)
# Uplinks of different devices arrive in no total order: look back a little
# before the newest packet seen (repeats are dropped anyway).
CATCH_UP_MARGIN = timedelta(minutes=5)
# After a long downtime only the recent past matters (and the answer stays small).
MAX_CATCH_UP = timedelta(days=7)
# A device that sent nothing for this long may be deleted by the user.
STALE_AFTER = timedelta(days=1)
# Clocks of NTP-synchronised servers agree within seconds; this allows for a drifting
# Home Assistant host. A packet stamped later than now + this cannot prove it is newer.
CLOCK_SKEW = timedelta(minutes=15)

# Caps on what the server's input may create (see limits.py). Every new DevEUI becomes
# a device with eight entities (more with a decoder). A LoRaWAN application in a home or
# a building has tens of end-devices, a large site a few hundred (the benchmark's large
# case: 500 devices, about 4,000 entities); past this many, a network server or a hostile
# network inventing DevEUIs would fill Home Assistant.
MAX_DEVICES = 500
# Each new (channel, type) a Cayenne LPP payload brings becomes one to three entities.
# Real LPP devices report a handful of channels; a payload that keeps bringing new ones
# is junk decoded as LPP (one 242-byte frame can hold 80 three-byte items).
MAX_LPP_VALUES = 32
# How many refused DevEUIs are remembered to count them (the count stops there).
MAX_REFUSED_TRACKED = 1000
# The server's event ids are 12 characters of base64; one that is longer or not
# printable ASCII cannot go back in a Last-Event-ID header (control characters make
# the HTTP client refuse the request, long ones make servers answer 400 or 431).
MAX_EVENT_ID = 256


# LoRaWAN's own ranges. A value outside cannot be real and reads as missing (a
# counter of 10**30 would also make the Store's JSON writer fail on every save).
MAX_F_CNT = 2**32 - 1  # frame counters are 32 bits
MAX_F_PORT = 255
MAX_DATA_RATE = 15
MAX_PAYLOAD = 242  # the largest FRMPayload any region allows, in bytes
# A DevEUI is 8 bytes: 16 hex digits, 23 with separators. Anything much longer or
# unprintable is garbage that would become a device name and unique ids.
MAX_DEV_EUI = 64
# Radio metadata kept per uplink: more gateways than this hear no end-device, and a
# gateway id is an EUI too. Past these the list is cut (the server sorts it by RSSI).
MAX_GATEWAYS = 16
MAX_GATEWAY_ID = 64
# Decoded LPP numbers are at most 4 bytes wide; a stored value beyond is a hand edit.
MAX_LPP_NUMBER = 2**32


# Keys of the entities whose numbers a late uplink still tells (entities.py uses them).
RSSI_KEY = "rssi"
SNR_KEY = "snr"
RSSI_UNIT = "dBm"
SNR_UNIT = "dB"
# The parts of multi-value LPP types, in the decoder's order: each is an entity of its own.
LPP_AXES: dict[int, tuple[str, ...]] = {
    113: ("x", "y", "z"),
    134: ("x", "y", "z"),
    135: ("red", "green", "blue"),
    136: ("latitude", "longitude", "altitude"),
}


def lpp_key(channel: int, type_id: int, axis: str | None = None) -> str:
    """The key of the entity showing one LPP channel's type (and axis)."""
    return f"lpp_{channel}_{type_id}" if axis is None else f"lpp_{channel}_{type_id}_{axis}"


def uplink_readings(uplink: Uplink, decoder: Decoder) -> Iterator[tuple[str, str | None, float]]:
    """An uplink's numbers as (entity key, unit, value): what a late one still tells.

    The best gateway's RSSI and SNR, and with the Cayenne LPP decoder every decoded
    number (a payload that does not decode tells nothing).
    """
    uplink = plausible(uplink)
    best = uplink.best_gateway
    if best is not None and best.rssi is not None:
        yield RSSI_KEY, RSSI_UNIT, best.rssi
    if best is not None and best.snr is not None:
        yield SNR_KEY, SNR_UNIT, best.snr
    if decoder is not Decoder.CAYENNE_LPP or not uplink.payload:
        return
    try:
        decoded = decode(uplink.payload)
    except LppDecodeError:
        return
    for value in decoded:
        unit = LPP_TYPES[value.type_id].unit
        if isinstance(value.value, tuple):
            axes = LPP_AXES.get(value.type_id, ())
            for axis, number in zip(axes, value.value, strict=False):
                yield lpp_key(value.channel, value.type_id, axis), unit, float(number)
        else:
            yield lpp_key(value.channel, value.type_id), unit, float(value.value)


def plausible_dev_eui(dev_eui: str) -> bool:
    """Whether a DevEUI can name a device (not kilobytes, no control characters)."""
    return 0 < len(dev_eui) <= MAX_DEV_EUI and dev_eui.isprintable()


def plausible(uplink: Uplink) -> Uplink:
    """The uplink with every field outside LoRaWAN's ranges read as missing."""
    changes: dict[str, Any] = {}
    for name, value, top in (
        ("f_cnt_up", uplink.f_cnt_up, MAX_F_CNT),
        ("f_port", uplink.f_port, MAX_F_PORT),
        ("data_rate", uplink.data_rate, MAX_DATA_RATE),
    ):
        if value is not None and not 0 <= value <= top:
            changes[name] = None
    hex_text = uplink.payload_hex
    if (hex_text is not None and len(hex_text) > 2 * MAX_PAYLOAD) or (
        uplink.payload is not None and len(uplink.payload) > MAX_PAYLOAD
    ):
        changes["payload"] = changes["payload_hex"] = None
    gateways = uplink.gateways[:MAX_GATEWAYS]
    if len(gateways) < len(uplink.gateways) or any(
        gateway.id is not None and len(gateway.id) > MAX_GATEWAY_ID for gateway in gateways
    ):
        changes["gateways"] = tuple(
            replace(gateway, id=None)
            if gateway.id is not None and len(gateway.id) > MAX_GATEWAY_ID
            else gateway
            for gateway in gateways
        )
    return replace(uplink, **changes) if changes else uplink


def usable_event_id(event_id: object) -> bool:
    """Whether an SSE id can be sent back in a ``Last-Event-ID`` header."""
    return (
        isinstance(event_id, str)
        and 0 < len(event_id) <= MAX_EVENT_ID
        and event_id.isascii()
        and event_id.isprintable()
    )


class Decoder(StrEnum):
    """How a device's payload is turned into values."""

    NONE = "none"
    CAYENNE_LPP = "cayenne_lpp"


class Outcome(StrEnum):
    """What became of one uplink."""

    APPLIED = "applied"  # the device's state now reflects it
    NEW_DEVICE = "new_device"  # applied, and the device is new
    DUPLICATE = "duplicate"  # same device and frame counter seen already: dropped
    LATE = "late"  # older than what the device already shows: remembered, not shown
    REFUSED = "refused"  # a new device past MAX_DEVICES: ignored
    INVALID = "invalid"  # a DevEUI that cannot name a device: ignored


@dataclass(slots=True)
class EndDevice:
    """One end-device: its latest uplink and the decoded values it has reported."""

    dev_eui: str
    uplink: Uplink | None = None
    # (channel, LPP type id) -> latest value; channels persist between packets,
    # as devices often report different channels in different frames.
    values: dict[tuple[int, int], LppValue] = field(default_factory=dict)
    decode_error: str | None = None
    # The downlink switch's assumed state (None until first switched).
    switch_on: bool | None = None
    # f_cnt_up -> recv_time of recently seen frames.
    recent: dict[int, datetime | None] = field(default_factory=dict)
    # (channel, LPP type id) the decoder brought past MAX_LPP_VALUES: not shown.
    refused_values: set[tuple[int, int]] = field(default_factory=set, compare=False)

    @property
    def recv_time(self) -> datetime | None:
        """When the latest uplink was received."""
        return None if self.uplink is None else self.uplink.recv_time

    @property
    def best_gateway(self) -> GatewayInfo | None:
        """The gateway that heard the latest uplink best."""
        return None if self.uplink is None else self.uplink.best_gateway

    def accept(self, uplink: Uplink, now: datetime) -> Outcome:
        """Decide whether an uplink is new, and apply it when it is the newest.

        The stream keeps order per device but repeats frames (replays after a
        reconnect, history overlapping the stream, network resends): a frame
        counter seen recently is a repeat. A lower counter with a newer receive
        time means the device rejoined and restarted counting, so it is new.
        A packet older than the one shown is remembered but never shown.

        A shown packet stamped later than ``now`` + CLOCK_SKEW came from a wrong
        clock: its time ranks like a missing one, so it cannot hide the packets
        that follow it (they are taken in the order they arrive).
        """
        uplink = plausible(uplink)
        f_cnt, recv_time = uplink.f_cnt_up, uplink.recv_time
        current = self.uplink
        shown = None if current is None else _trusted(current.recv_time, now)
        newer = current is None or shown is None or (recv_time is not None and recv_time > shown)
        if current is not None and f_cnt is not None and current.f_cnt_up is not None:
            if newer and f_cnt < current.f_cnt_up and recv_time is not None:
                self.recent.clear()  # rejoined: the counter started again
            elif f_cnt in self.recent:
                return Outcome.DUPLICATE
        elif current is not None and f_cnt is None and recv_time == current.recv_time:
            return Outcome.DUPLICATE
        if f_cnt is not None:
            self.recent[f_cnt] = recv_time
            while len(self.recent) > RECENT_FRAMES:
                del self.recent[next(iter(self.recent))]
        if not newer:
            return Outcome.LATE
        self.uplink = uplink
        return Outcome.APPLIED

    def decode(self, decoder: Decoder) -> bool:
        """Decode the latest payload; return True when a new (channel, type) appeared."""
        uplink = self.uplink
        if decoder is not Decoder.CAYENNE_LPP or uplink is None or not uplink.payload:
            return False
        try:
            decoded = decode(uplink.payload)
        except LppDecodeError as err:
            self.decode_error = str(err)
            return False
        self.decode_error = None
        added = False
        for value in decoded:
            key = (value.channel, value.type_id)
            if key not in self.values:
                if len(self.values) >= MAX_LPP_VALUES:
                    self.refused_values.add(key)
                    continue
                added = True
            self.values[key] = value
        return added

    def clear_values(self) -> None:
        """Forget every decoded value (the decoder was turned off): room for new ones."""
        self.values.clear()
        self.refused_values.clear()

    # --- persistence ------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """Serialise for the Store (the uplink in the API's own JSON shape)."""
        return {
            "uplink": None if self.uplink is None else uplink_as_dict(self.uplink),
            "values": [
                [value.channel, value.type_id, _jsonable(value.value)]
                for value in self.values.values()
            ],
            "switch_on": self.switch_on,
        }

    @classmethod
    def from_dict(cls, dev_eui: str, data: Any, problems: list[str] | None = None) -> EndDevice:
        """Restore from the Store, skipping anything malformed (noted in ``problems``)."""
        noted = [] if problems is None else problems
        device = cls(dev_eui)
        if not isinstance(data, dict):
            noted.append(f"device {dev_eui[:40]}: not an object")
            return device
        try:
            # A stored time is checked like a received one: a clock that went back,
            # or a hand edit, cannot bring an impossible time back in.
            if data.get("uplink") is not None:
                device.uplink = plausible(parse_uplink(data["uplink"]))
        except ApiPayloadError as err:
            noted.append(f"device {dev_eui[:40]}: {err}")
            device.uplink = None
        if device.uplink is not None and device.uplink.f_cnt_up is not None:
            device.recent[device.uplink.f_cnt_up] = device.uplink.recv_time
        values = data.get("values")
        if values is not None and not isinstance(values, list):
            noted.append(f"device {dev_eui[:40]}: values are not a list")
            values = None
        for item in values or ():
            value = _value_from_list(item)
            if value is None:
                noted.append(f"device {dev_eui[:40]}: unreadable value {str(item)[:40]}")
            else:
                device.values[(value.channel, value.type_id)] = value
        switch_on = data.get("switch_on")
        device.switch_on = switch_on if isinstance(switch_on, bool) else None
        return device


@dataclass(slots=True)
class ApplicationState:
    """Every end-device of the application, by DevEUI, and how far the uplinks are known."""

    devices: dict[str, EndDevice] = field(default_factory=dict)
    # The stream's position: a reconnect with it replays what was missed.
    last_event_id: str | None = None
    # The newest receive time of any uplink taken in.
    last_recv_time: datetime | None = None
    # Everything the server had before this moment has been received.
    covered_until: datetime | None = None
    # New DevEUIs refused past MAX_DEVICES (at most MAX_REFUSED_TRACKED remembered).
    refused: set[str] = field(default_factory=set, compare=False)

    def apply(self, uplink: Uplink, now: datetime) -> Outcome:
        """Take one uplink in; a device heard of for the first time is added.

        ``now`` bounds the history cursor: a packet stamped in the future moves it
        no further than now, so the next catch-up cannot start after real packets.
        A new device past MAX_DEVICES is refused (and counted in ``refused``).
        """
        device = self.devices.get(uplink.dev_eui)
        is_new = device is None
        if device is None:
            if not plausible_dev_eui(uplink.dev_eui):
                return Outcome.INVALID
            if len(self.devices) >= MAX_DEVICES:
                if len(self.refused) < MAX_REFUSED_TRACKED:
                    self.refused.add(uplink.dev_eui)
                return Outcome.REFUSED
            device = EndDevice(uplink.dev_eui)
        outcome = device.accept(uplink, now)
        if outcome is Outcome.DUPLICATE:
            return outcome
        if uplink.recv_time is not None:
            moment = min(uplink.recv_time, now)
            if self.last_recv_time is None or moment > self.last_recv_time:
                self.last_recv_time = moment
        if outcome is Outcome.APPLIED and is_new:
            self.devices[uplink.dev_eui] = device
            return Outcome.NEW_DEVICE
        return outcome

    def catch_up_start(self, now: datetime) -> datetime:
        """Where history must start so nothing since the last packet seen is missing.

        Never later than ``now`` - CATCH_UP_MARGIN (a stored moment from a clock
        that has since gone back), never earlier than ``now`` - MAX_CATCH_UP.
        """
        known = [moment for moment in (self.last_recv_time, self.covered_until) if moment]
        if not known:
            return now - FIRST_CATCH_UP
        # max(m - margin, floor) written so that no operand can leave datetime's range.
        floor = now - MAX_CATCH_UP + CATCH_UP_MARGIN
        return max(min(max(known), now), floor) - CATCH_UP_MARGIN

    def forget(self, dev_eui: str) -> bool:
        """Drop a device (the user deleted it); True if it was known.

        When that leaves room, the DevEUIs refused so far are no longer counted:
        they are taken in when they send again.
        """
        found = self.devices.pop(dev_eui, None) is not None
        if len(self.devices) < MAX_DEVICES:
            self.refused.clear()
        return found

    def cover(self, moment: datetime) -> None:
        """Note that everything the server had before ``moment`` has been received."""
        if self.covered_until is None or moment > self.covered_until:
            self.covered_until = moment

    def may_forget(self, dev_eui: str, now: datetime) -> bool:
        """Whether a device is silent for long enough (or unknown) to be deleted."""
        device = self.devices.get(dev_eui)
        return device is None or (
            device.recv_time is not None and device.recv_time <= now - STALE_AFTER
        )

    # --- persistence ------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """Serialise for the Store."""
        return {
            "last_event_id": self.last_event_id,
            "last_recv_time": _format_time(self.last_recv_time),
            "covered_until": _format_time(self.covered_until),
            "devices": {dev_eui: device.as_dict() for dev_eui, device in self.devices.items()},
        }

    @classmethod
    def from_dict(cls, stored: Any, problems: list[str] | None = None) -> ApplicationState:
        """Restore from the Store, skipping anything malformed (nothing stored: empty).

        What is skipped is described in ``problems``, for one warning. Devices
        stored before a cap existed are all kept: nothing already created is harmed.
        """
        noted = [] if problems is None else problems
        state = cls()
        if stored is None:
            return state
        if not isinstance(stored, dict):
            noted.append("the stored state is not an object")
            return state
        devices = stored.get("devices")
        if isinstance(devices, dict):
            for dev_eui, item in devices.items():
                device = EndDevice.from_dict(str(dev_eui), item, noted)
                if device.uplink is not None:
                    state.devices[device.dev_eui] = device
        elif devices is not None:
            noted.append("devices are not an object")
        event_id = stored.get("last_event_id")
        if usable_event_id(event_id):
            state.last_event_id = event_id
        elif event_id not in (None, ""):
            noted.append(f"unusable last_event_id {str(event_id)[:40]!r}")
        state.last_recv_time = _stored_time(stored, "last_recv_time", noted)
        state.covered_until = _stored_time(stored, "covered_until", noted)
        return state


def _trusted(moment: datetime | None, now: datetime) -> datetime | None:
    """A receive time, unless it lies beyond now + CLOCK_SKEW (then it ranks as unknown)."""
    return moment if moment is not None and moment <= now + CLOCK_SKEW else None


def _stored_time(stored: dict[str, Any], key: str, problems: list[str]) -> datetime | None:
    """A stored cursor time, checked like one from the server (None when refused)."""
    raw = stored.get(key)
    moment = timestamp_or_none(raw)
    if moment is None and raw is not None:
        problems.append(f"{key} {str(raw)[:40]!r} is not a believable time")
    return moment


def _format_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def uplink_as_dict(uplink: Uplink) -> dict[str, Any]:
    """An Uplink back in the documented Uplink Packet shape (parse_uplink reads it)."""
    return {
        "dev_eui": uplink.dev_eui,
        "recv_time": None if uplink.recv_time is None else uplink.recv_time.isoformat(),
        "f_port": uplink.f_port,
        "f_cnt_up": uplink.f_cnt_up,
        "ack": uplink.ack,
        "adr": uplink.adr,
        "data_rate": uplink.data_rate,
        "ul_freq": uplink.frequency,
        "gw_info": [{"id": gw.id, "rssi": gw.rssi, "snr": gw.snr} for gw in uplink.gateways],
        "frm_payload": uplink.payload_hex,
    }


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _value_from_list(item: Any) -> LppValue | None:
    if not isinstance(item, list) or len(item) != 3:
        return None
    channel, type_id, raw = item
    if not _byte(channel) or not _byte(type_id):
        return None
    lpp_type = LPP_TYPES.get(type_id)
    if lpp_type is None:
        return None
    value: Any = tuple(raw) if isinstance(raw, list) else raw
    width = len(lpp_type.fields)
    parts = value if isinstance(value, tuple) else (value,)
    if (width > 1) is not isinstance(value, tuple) or len(parts) != width:
        return None
    if not all(_lpp_number(part) for part in parts):
        return None
    return LppValue(channel, type_id, lpp_type.name, value, lpp_type.unit)


def _byte(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255


def _lpp_number(value: Any) -> bool:
    """Whether a stored value is a number a 4-byte LPP field could have held."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # False for NaN and infinities too.
    return abs(value) <= MAX_LPP_NUMBER
