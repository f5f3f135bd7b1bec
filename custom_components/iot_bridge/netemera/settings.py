"""Per end-device settings, stored in the entry's options keyed by DevEUI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..api.netemera import validate_hex
from .model import Decoder

CONF_DECODER: Final = "decoder"
CONF_DOWNLINK_PORT: Final = "downlink_port"
CONF_PAYLOAD_ON: Final = "payload_on"
CONF_PAYLOAD_OFF: Final = "payload_off"
CONF_CONFIRMED: Final = "confirmed"


@dataclass(frozen=True, slots=True)
class DownlinkSettings:
    """What the device's switch sends."""

    port: int
    payload_on: bytes
    payload_off: bytes
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """How one end-device is decoded and switched."""

    decoder: Decoder = Decoder.NONE
    downlink: DownlinkSettings | None = None


def device_settings(options: Mapping[str, Any], dev_eui: str) -> DeviceSettings:
    """Read a device's settings; anything malformed falls back to the default."""
    raw = options.get(dev_eui)
    if not isinstance(raw, Mapping):
        return DeviceSettings()
    try:
        decoder = Decoder(raw.get(CONF_DECODER, Decoder.NONE))
    except ValueError:
        decoder = Decoder.NONE
    downlink = None
    port = raw.get(CONF_DOWNLINK_PORT)
    if isinstance(port, int) and not isinstance(port, bool):
        try:
            downlink = DownlinkSettings(
                port=port,
                payload_on=validate_hex(str(raw.get(CONF_PAYLOAD_ON, ""))),
                payload_off=validate_hex(str(raw.get(CONF_PAYLOAD_OFF, ""))),
                confirmed=bool(raw.get(CONF_CONFIRMED, False)),
            )
        except ValueError:
            downlink = None
    return DeviceSettings(decoder=decoder, downlink=downlink)
