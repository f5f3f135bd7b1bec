"""What IoT Bridge knows about a Netemera application and its end-devices.

Pure data and rules, no Home Assistant: which packet counts (duplicates,
late packets, frame counter resets), where history must start so nothing is
missed, what a device's entities read, and how it all is written to and read
back from Home Assistant's Store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

    @property
    def recv_time(self) -> datetime | None:
        """When the latest uplink was received."""
        return None if self.uplink is None else self.uplink.recv_time

    @property
    def best_gateway(self) -> GatewayInfo | None:
        """The gateway that heard the latest uplink best."""
        return None if self.uplink is None else self.uplink.best_gateway

    def accept(self, uplink: Uplink) -> Outcome:
        """Decide whether an uplink is new, and apply it when it is the newest.

        The stream keeps order per device but repeats frames (replays after a
        reconnect, history overlapping the stream, network resends): a frame
        counter seen recently is a repeat. A lower counter with a newer receive
        time means the device rejoined and restarted counting, so it is new.
        A packet older than the one shown is remembered but never shown.
        """
        f_cnt, recv_time = uplink.f_cnt_up, uplink.recv_time
        current = self.uplink
        newer = (
            current is None
            or current.recv_time is None
            or (recv_time is not None and recv_time > current.recv_time)
        )
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
            added = added or key not in self.values
            self.values[key] = value
        return added

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
    def from_dict(cls, dev_eui: str, data: Any) -> EndDevice:
        """Restore from the Store, skipping anything malformed."""
        device = cls(dev_eui)
        if not isinstance(data, dict):
            return device
        try:
            if data.get("uplink") is not None:
                device.uplink = parse_uplink(data["uplink"])
        except ApiPayloadError:
            device.uplink = None
        if device.uplink is not None and device.uplink.f_cnt_up is not None:
            device.recent[device.uplink.f_cnt_up] = device.uplink.recv_time
        for item in data.get("values") or ():
            value = _value_from_list(item)
            if value is not None:
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

    def apply(self, uplink: Uplink) -> Outcome:
        """Take one uplink in; a device heard of for the first time is added."""
        device = self.devices.get(uplink.dev_eui)
        is_new = device is None
        if device is None:
            device = EndDevice(uplink.dev_eui)
        outcome = device.accept(uplink)
        if outcome is Outcome.DUPLICATE:
            return outcome
        if uplink.recv_time is not None and (
            self.last_recv_time is None or uplink.recv_time > self.last_recv_time
        ):
            self.last_recv_time = uplink.recv_time
        if outcome is Outcome.APPLIED and is_new:
            self.devices[uplink.dev_eui] = device
            return Outcome.NEW_DEVICE
        return outcome

    def catch_up_start(self, now: datetime) -> datetime:
        """Where history must start so nothing since the last packet seen is missing."""
        known = [moment for moment in (self.last_recv_time, self.covered_until) if moment]
        if not known:
            return now - FIRST_CATCH_UP
        return max(max(known) - CATCH_UP_MARGIN, now - MAX_CATCH_UP)

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
    def from_dict(cls, stored: Any) -> ApplicationState:
        """Restore from the Store, skipping anything malformed (nothing stored: empty)."""
        state = cls()
        if not isinstance(stored, dict):
            return state
        devices = stored.get("devices")
        if isinstance(devices, dict):
            for dev_eui, item in devices.items():
                device = EndDevice.from_dict(str(dev_eui), item)
                if device.uplink is not None:
                    state.devices[device.dev_eui] = device
        event_id = stored.get("last_event_id")
        state.last_event_id = event_id if isinstance(event_id, str) and event_id else None
        state.last_recv_time = timestamp_or_none(stored.get("last_recv_time"))
        state.covered_until = timestamp_or_none(stored.get("covered_until"))
        return state


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
    if not isinstance(channel, int) or not isinstance(type_id, int):
        return None
    lpp_type = LPP_TYPES.get(type_id)
    if lpp_type is None:
        return None
    value: Any = tuple(raw) if isinstance(raw, list) else raw
    width = len(lpp_type.fields)
    if width == 1 and not isinstance(value, (int, float)):
        return None
    if width > 1 and (
        not isinstance(value, tuple)
        or len(value) != width
        or not all(isinstance(part, (int, float)) for part in value)
    ):
        return None
    return LppValue(channel, type_id, lpp_type.name, value, lpp_type.unit)
