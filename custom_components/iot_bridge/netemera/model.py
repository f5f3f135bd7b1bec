"""What IoT Bridge knows about a Netemera application's end-devices.

Pure data and rules, no Home Assistant: which packet counts (duplicates,
late packets, frame counter resets), what a device's entities read, and how
it all is written to and read back from Home Assistant's Store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..api.cayenne_lpp import TYPES as LPP_TYPES, LppDecodeError, LppValue, decode
from ..api.errors import ApiPayloadError
from ..api.netemera import GatewayInfo, Uplink, parse_uplink

# Frame counters remembered per device to recognise repeats; a network re-sends
# recent frames, never ones from hundreds of frames ago.
RECENT_FRAMES = 32


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
