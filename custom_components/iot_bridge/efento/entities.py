"""Entity descriptions of the gateway and of each logger, and which device gets which."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    Platform,
    UnitOfPressure,
    UnitOfTemperature,
)
from homeassistant.util import dt as dt_util

from ..compat import BinarySensorDeviceClass
from ..descriptions import (
    IotBridgeBinarySensorEntityDescription,
    IotBridgeEntityDescription,
    IotBridgeSensorEntityDescription,
    IotBridgeSwitchEntityDescription,
)
from .coordinator import GATEWAY_KEY, EfentoCoordinator, logger_device_key
from .model import SIGNAL_KEY, SIGNAL_UNIT, GatewayState, LoggerState, channel_key, type_key

type GatewaySensor = IotBridgeSensorEntityDescription[GatewayState]
type GatewayBinarySensor = IotBridgeBinarySensorEntityDescription[GatewayState]
type LoggerSensor = IotBridgeSensorEntityDescription[LoggerState]
type LoggerBinarySensor = IotBridgeBinarySensorEntityDescription[LoggerState]
type LoggerSwitch = IotBridgeSwitchEntityDescription[LoggerState, EfentoCoordinator]


def _logger_fresh(logger_state: LoggerState) -> bool:
    return logger_state.fresh(dt_util.utcnow())


def _gateway_connected(gateway: GatewayState) -> bool:
    return gateway.connected(dt_util.utcnow()) is True


# --- gateway -------------------------------------------------------------------

GATEWAY_SENSORS: Final[tuple[GatewaySensor, ...]] = (
    IotBridgeSensorEntityDescription[GatewayState](
        key="uptime",
        translation_key="efento_uptime",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: gateway.started_at,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription[GatewayState](
        key="loggers_in_range",
        translation_key="efento_loggers_in_range",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda gateway: gateway.loggers_in_range,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription[GatewayState](
        key="battery_level",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda gateway: gateway.battery_level,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription[GatewayState](
        key="software_version",
        translation_key="efento_software_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: gateway.software_version,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription[GatewayState](
        key="last_heartbeat",
        translation_key="efento_last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gateway: gateway.last_heartbeat,
    ),
)

GATEWAY_BINARY_SENSORS: Final[tuple[GatewayBinarySensor, ...]] = (
    IotBridgeBinarySensorEntityDescription[GatewayState](
        key="connectivity",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda gateway: gateway.connected(dt_util.utcnow()),
    ),
    IotBridgeBinarySensorEntityDescription[GatewayState](
        key="usb_power",
        translation_key="efento_usb_power",
        device_class=BinarySensorDeviceClass.POWER,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda gateway: gateway.is_usb_connected,
        available_fn=_gateway_connected,
    ),
    IotBridgeBinarySensorEntityDescription[GatewayState](
        key="charging",
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda gateway: gateway.is_charging,
        available_fn=_gateway_connected,
    ),
)


# --- every logger: its health and the user's choice ----------------------------

HEALTH_SENSORS: Final[tuple[LoggerSensor, ...]] = (
    IotBridgeSensorEntityDescription[LoggerState](
        key=SIGNAL_KEY,
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_UNIT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda logger_state: logger_state.signal,
        available_fn=_logger_fresh,
    ),
    # Stays available when the logger is late: that is when it matters.
    IotBridgeSensorEntityDescription[LoggerState](
        key="last_measurement",
        translation_key="efento_last_measurement",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda logger_state: logger_state.measured_at,
    ),
)

HEALTH_BINARY_SENSORS: Final[tuple[LoggerBinarySensor, ...]] = (
    IotBridgeBinarySensorEntityDescription[LoggerState](
        key="battery",
        device_class=BinarySensorDeviceClass.BATTERY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda logger_state: logger_state.battery_low,
        available_fn=_logger_fresh,
    ),
)


async def _accept(coordinator: EfentoCoordinator, device_key: str) -> None:
    coordinator.set_accept(device_key, True)


async def _refuse(coordinator: EfentoCoordinator, device_key: str) -> None:
    coordinator.set_accept(device_key, False)


# Always available: the user may change their mind while a logger is silent.
ACCEPT_SWITCH: Final[LoggerSwitch] = IotBridgeSwitchEntityDescription[
    LoggerState, EfentoCoordinator
](
    key="accept",
    translation_key="efento_accept",
    entity_category=EntityCategory.CONFIG,
    is_on_fn=lambda logger_state: logger_state.accept,
    turn_on_fn=_accept,
    turn_off_fn=_refuse,
)


# --- each logger channel, by the type it measures now --------------------------

# Numeric channel types: (device class, unit, display precision, translation key).
_NUMERIC: dict[str, tuple[SensorDeviceClass | None, str | None, int | None, str]] = {
    "temperature": (SensorDeviceClass.TEMPERATURE, UnitOfTemperature.CELSIUS, 1, "temperature"),
    "humidity": (SensorDeviceClass.HUMIDITY, PERCENTAGE, 0, "humidity"),
    "pressure": (SensorDeviceClass.ATMOSPHERIC_PRESSURE, UnitOfPressure.HPA, 1, "pressure"),
    "pressure_diff": (SensorDeviceClass.PRESSURE, UnitOfPressure.PA, 0, "pressure_diff"),
}
_BINARY = {"open_close": (BinarySensorDeviceClass.OPENING, "open_close")}


def _channel_available(channel: int, type_name: str) -> Callable[[LoggerState], bool]:
    def available(logger_state: LoggerState) -> bool:
        return (
            logger_state.fresh(dt_util.utcnow())
            and logger_state.channel(channel, type_name) is not None
        )

    return available


def _channel_value(channel: int, type_name: str) -> Callable[[LoggerState], float | None]:
    def value(logger_state: LoggerState) -> float | None:
        state = logger_state.channel(channel, type_name)
        return state.value if state is not None and state.ok else None

    return value


def _channel_is_on(channel: int, type_name: str) -> Callable[[LoggerState], bool | None]:
    def is_on(logger_state: LoggerState) -> bool | None:
        state = logger_state.channel(channel, type_name)
        return state.is_on if state is not None and state.ok else None

    return is_on


def _name(
    logger_state: LoggerState, channel: int, type_name: str, base: str
) -> tuple[str, dict[str, str]]:
    """Plain name for a type the logger measures once; numbered when it has several."""
    same = [
        n for n, ch in logger_state.channels.items() if type_key(ch.type) == type_key(type_name)
    ]
    if len(same) <= 1:
        return f"efento_{base}", {}
    return f"efento_{base}_channel", {"channel": str(channel)}


def channel_binary_sensors(logger_state: LoggerState) -> Iterator[LoggerBinarySensor]:
    """One binary sensor per channel measuring a two-state type."""
    for channel, state in sorted(logger_state.channels.items()):
        if (binary := _BINARY.get(type_key(state.type))) is None:
            continue
        device_class, base = binary
        translation_key, placeholders = _name(logger_state, channel, state.type, base)
        yield IotBridgeBinarySensorEntityDescription[LoggerState](
            key=channel_key(channel, state.type),
            translation_key=translation_key,
            translation_placeholders=placeholders,
            device_class=device_class,
            is_on_fn=_channel_is_on(channel, state.type),
            available_fn=_channel_available(channel, state.type),
        )


def channel_sensors(logger_state: LoggerState) -> Iterator[LoggerSensor]:
    """One sensor per channel measuring a number, known type or not."""
    for channel, state in sorted(logger_state.channels.items()):
        key = type_key(state.type)
        if key in _BINARY:
            continue
        if key in _NUMERIC:
            sensor_class, unit, precision, base = _NUMERIC[key]
            translation_key, placeholders = _name(logger_state, channel, state.type, base)
        else:
            # A type the documentation does not list: still a number, named after itself.
            sensor_class, unit, precision = None, None, None
            translation_key = "efento_other_channel"
            placeholders = {"type": state.type, "channel": str(channel)}
        yield IotBridgeSensorEntityDescription[LoggerState](
            key=channel_key(channel, state.type),
            translation_key=translation_key,
            translation_placeholders=placeholders,
            device_class=sensor_class,
            native_unit_of_measurement=unit,
            suggested_display_precision=precision,
            state_class=SensorStateClass.MEASUREMENT,
            value_fn=_channel_value(channel, state.type),
            available_fn=_channel_available(channel, state.type),
        )


# --- the catalog ---------------------------------------------------------------


def _gateway_descriptions(platform: Platform) -> tuple[IotBridgeEntityDescription, ...]:
    if platform is Platform.SENSOR:
        return GATEWAY_SENSORS
    if platform is Platform.BINARY_SENSOR:
        return GATEWAY_BINARY_SENSORS
    return ()


def _logger_descriptions(
    logger_state: LoggerState, platform: Platform
) -> Iterator[IotBridgeEntityDescription]:
    if platform is Platform.SENSOR:
        yield from HEALTH_SENSORS
        yield from channel_sensors(logger_state)
    elif platform is Platform.BINARY_SENSOR:
        yield from HEALTH_BINARY_SENSORS
        yield from channel_binary_sensors(logger_state)
    elif platform is Platform.SWITCH:
        yield ACCEPT_SWITCH


def entity_descriptions(
    coordinator: EfentoCoordinator, platform: Platform
) -> Iterator[tuple[str, IotBridgeEntityDescription]]:
    """The gateway's entities, then every logger's: each paired with the device it reads."""
    for description in _gateway_descriptions(platform):
        yield GATEWAY_KEY, description
    for serial, logger_state in coordinator.data.loggers.items():
        key = logger_device_key(serial)
        for description in _logger_descriptions(logger_state, platform):
            yield key, description
