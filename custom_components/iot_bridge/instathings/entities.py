"""Entities of an Instathings project: one per data key of each device, and a gateway's link.

Instathings forwards whatever a device sends, so there is no schema to read:
each key becomes one entity, chosen by its value's kind when the key is first
seen (``model.ValueKind``: numbers and strings are sensors, booleans binary
sensors, a ``state`` of ``ON``/``OFF`` a switch) and refined by well-known key
names (``temperature``, ``power``, ``pm2.5``, ...). Units follow the conventions of
zigbee2mqtt, which Instathings gateways run: °C, %, W, kWh, V, A, lx, hPa, ppm.
Objects and lists (``color``, ``relays``) have no entity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
import math

from homeassistant.const import (
    EntityCategory,
    Platform,
)

from ..compat import BinarySensorDeviceClass
from ..descriptions import (
    IotBridgeBinarySensorEntityDescription,
    IotBridgeEntityDescription,
    IotBridgeSensorEntityDescription,
    IotBridgeSwitchEntityDescription,
    SensorValue,
)
from .coordinator import InstathingsCoordinator
from .model import STATE_KEY, SWITCH_VALUES, InstathingsDeviceState, ValueKind
from .numbers import CAMEL, NUMBERS, NumberSpec, lookup

# Home Assistant refuses longer states.
MAX_STATE_LENGTH = 255
# Integers beyond this are shown as floats (1e+300, not 301 digits); below it every
# integer is exact as a float too.
MAX_EXACT_INT = 2**53
# Descriptions are built once per (key, kind) and shared by every device and entry;
# keys come from devices, so the memo is bounded (a rebuilt description is equal).
MAX_CACHED_DESCRIPTIONS = 4096


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """How a well-known boolean key shows in Home Assistant."""

    device_class: BinarySensorDeviceClass | None
    # zigbee2mqtt's ``contact`` is true when closed; an opening sensor is on when open.
    inverted: bool = False
    diagnostic: bool = False
    enabled: bool = True


FLAGS: dict[str, FlagSpec] = {
    "occupancy": FlagSpec(BinarySensorDeviceClass.OCCUPANCY),
    "presence": FlagSpec(BinarySensorDeviceClass.OCCUPANCY),
    "motion": FlagSpec(BinarySensorDeviceClass.MOTION),
    "contact": FlagSpec(BinarySensorDeviceClass.OPENING, inverted=True),
    "water_leak": FlagSpec(BinarySensorDeviceClass.MOISTURE),
    "leak": FlagSpec(BinarySensorDeviceClass.MOISTURE),
    "smoke": FlagSpec(BinarySensorDeviceClass.SMOKE),
    "gas": FlagSpec(BinarySensorDeviceClass.GAS),
    "vibration": FlagSpec(BinarySensorDeviceClass.VIBRATION),
    "tamper": FlagSpec(BinarySensorDeviceClass.TAMPER, diagnostic=True),
    "battery_low": FlagSpec(BinarySensorDeviceClass.BATTERY, diagnostic=True),
    # Instathings' own marker on generated (demo) data.
    "is_virtual_data": FlagSpec(None, diagnostic=True, enabled=False),
}


def humanize(key: str) -> str:
    """A readable name for a data key: ``deviceTemperature`` -> ``Device temperature``."""
    words = CAMEL.sub(" ", key).replace("_", " ").replace("-", " ").split()
    # camelCase words read as lower case; acronyms (``CO2``) stay as they are.
    text = " ".join(word.lower() if word.istitle() else word for word in words) or key
    return text[:1].upper() + text[1:]


def _number(value: object) -> SensorValue:
    """A numeric state Home Assistant accepts: finite, and short enough to be a state.

    JSON allows ``Infinity``, ``NaN`` and integers of hundreds of digits; Home
    Assistant refuses the first two in a numeric sensor (the write raises) and states
    longer than 255 characters, so such values read as unknown (or as a float).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        if abs(value) < MAX_EXACT_INT:
            return value
        try:
            value = float(value)
        except OverflowError:  # beyond any float (10**400)
            return None
    return value if math.isfinite(value) else None


def _text(value: object) -> SensorValue:
    if value is None or isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_STATE_LENGTH]


def _reachable(state: InstathingsDeviceState) -> bool:
    return state.reachable


@lru_cache(maxsize=MAX_CACHED_DESCRIPTIONS)
def sensor_description(
    key: str, kind: ValueKind
) -> IotBridgeSensorEntityDescription[InstathingsDeviceState]:
    """The sensor of a numeric or text key."""
    if kind is ValueKind.TEXT:
        return IotBridgeSensorEntityDescription[InstathingsDeviceState](
            key=key,
            translation_key="data_value",
            translation_placeholders={"key": humanize(key)},
            value_fn=lambda state: _text(state.values.get(key)),
            available_fn=_reachable,
        )
    spec, whole = lookup(NUMBERS, key)
    spec = spec or NumberSpec(None, None)
    return IotBridgeSensorEntityDescription[InstathingsDeviceState](
        key=key,
        translation_key="data_value",
        translation_placeholders={"key": spec.name if whole and spec.name else humanize(key)},
        device_class=spec.device_class,
        native_unit_of_measurement=spec.unit,
        state_class=spec.state_class,
        suggested_display_precision=spec.precision,
        entity_category=EntityCategory.DIAGNOSTIC if spec.diagnostic else None,
        entity_registry_enabled_default=spec.enabled,
        value_fn=lambda state: _number(state.values.get(key)),
        available_fn=_reachable,
    )


@lru_cache(maxsize=MAX_CACHED_DESCRIPTIONS)
def flag_description(key: str) -> IotBridgeBinarySensorEntityDescription[InstathingsDeviceState]:
    """The binary sensor of a boolean key."""
    spec, _ = lookup(FLAGS, key)
    spec = spec or FlagSpec(None)

    def is_on(state: InstathingsDeviceState) -> bool | None:
        value = state.values.get(key)
        if not isinstance(value, bool):
            return None
        return not value if spec.inverted else value

    return IotBridgeBinarySensorEntityDescription[InstathingsDeviceState](
        key=key,
        translation_key="data_flag",
        translation_placeholders={"key": humanize(key)},
        device_class=spec.device_class,
        entity_category=EntityCategory.DIAGNOSTIC if spec.diagnostic else None,
        entity_registry_enabled_default=spec.enabled,
        is_on_fn=is_on,
        available_fn=_reachable,
    )


def _gateway_connected(state: InstathingsDeviceState) -> bool | None:
    return state.connected


# The gateway's link to the cloud: stays available while the gateway is offline,
# because showing that is its whole point.
CLOUD_CONNECTION = IotBridgeBinarySensorEntityDescription[InstathingsDeviceState](
    key="cloud_connection",
    translation_key="cloud_connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
    is_on_fn=_gateway_connected,
)


def _switch_is_on(state: InstathingsDeviceState) -> bool | None:
    value = state.optimistic.get(STATE_KEY, state.values.get(STATE_KEY))
    if not isinstance(value, str) or value.upper() not in SWITCH_VALUES:
        return None
    return value.upper() == "ON"


async def _turn_on(coordinator: InstathingsCoordinator, device_key: str) -> None:
    await coordinator.async_set_state(device_key, on=True)


async def _turn_off(coordinator: InstathingsCoordinator, device_key: str) -> None:
    await coordinator.async_set_state(device_key, on=False)


# A device reporting ``state`` ON/OFF: switching is its main feature, so the switch
# carries the device's name.
SWITCH = IotBridgeSwitchEntityDescription[InstathingsDeviceState, InstathingsCoordinator](
    key=STATE_KEY,
    name=None,
    is_on_fn=_switch_is_on,
    turn_on_fn=_turn_on,
    turn_off_fn=_turn_off,
    available_fn=_reachable,
)


def project_entity_descriptions(
    coordinator: InstathingsCoordinator, platform: Platform
) -> Iterator[tuple[str, IotBridgeEntityDescription]]:
    """Each device's entities: one per data key, plus a gateway's cloud connection."""
    for device_key, state in list(coordinator.devices.items()):
        if platform is Platform.BINARY_SENSOR and state.device.is_gateway:
            yield device_key, CLOUD_CONNECTION
        for data_key, kind in list(state.kinds.items()):
            if platform is Platform.SENSOR and kind in (ValueKind.NUMBER, ValueKind.TEXT):
                yield device_key, sensor_description(data_key, kind)
            elif platform is Platform.BINARY_SENSOR and kind is ValueKind.FLAG:
                yield device_key, flag_description(data_key)
            elif platform is Platform.SWITCH and kind is ValueKind.SWITCH:
                yield device_key, SWITCH
