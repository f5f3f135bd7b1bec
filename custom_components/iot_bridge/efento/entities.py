"""Entity descriptions of the gateway and of each logger channel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    Platform,
    UnitOfPressure,
    UnitOfTemperature,
)
from homeassistant.helpers.entity import EntityDescription
from homeassistant.util import dt as dt_util

from ..compat import BinarySensorDeviceClass
from ..descriptions import (
    IotBridgeBinarySensorEntityDescription,
    IotBridgeSensorEntityDescription,
    IotBridgeSwitchEntityDescription,
)
from .state import GatewayState, LoggerState, type_key

if TYPE_CHECKING:
    from ..coordinator import IotBridgeCoordinator


def _logger_fresh(logger: LoggerState) -> bool:
    return logger.fresh(dt_util.utcnow())


def _gateway_connected(gateway: GatewayState) -> bool:
    return gateway.connected(dt_util.utcnow()) is True


# --- gateway -------------------------------------------------------------------

GATEWAY_SENSORS: tuple[IotBridgeSensorEntityDescription[Any], ...] = (
    IotBridgeSensorEntityDescription(
        key="uptime",
        translation_key="efento_uptime",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gw: gw.started_at,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription(
        key="loggers_in_range",
        translation_key="efento_loggers_in_range",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda gw: gw.loggers_in_range,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription(
        key="battery_level",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda gw: gw.battery_level,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription(
        key="software_version",
        translation_key="efento_software_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gw: gw.software_version,
        available_fn=_gateway_connected,
    ),
    IotBridgeSensorEntityDescription(
        key="last_heartbeat",
        translation_key="efento_last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda gw: gw.last_heartbeat,
    ),
)

GATEWAY_BINARY_SENSORS: tuple[IotBridgeBinarySensorEntityDescription[Any], ...] = (
    IotBridgeBinarySensorEntityDescription(
        key="connectivity",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda gw: gw.connected(dt_util.utcnow()),
    ),
    IotBridgeBinarySensorEntityDescription(
        key="usb_power",
        translation_key="efento_usb_power",
        device_class=BinarySensorDeviceClass.POWER,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda gw: gw.is_usb_connected,
        available_fn=_gateway_connected,
    ),
    IotBridgeBinarySensorEntityDescription(
        key="charging",
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda gw: gw.is_charging,
        available_fn=_gateway_connected,
    ),
)


# --- loggers -------------------------------------------------------------------

LOGGER_SENSORS: tuple[IotBridgeSensorEntityDescription[Any], ...] = (
    IotBridgeSensorEntityDescription(
        key="signal",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda logger: logger.signal,
        available_fn=_logger_fresh,
    ),
    # Stays available when the logger is late: that is when it matters.
    IotBridgeSensorEntityDescription(
        key="last_measurement",
        translation_key="efento_last_measurement",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda logger: logger.measured_at,
    ),
)

LOGGER_BINARY_SENSORS: tuple[IotBridgeBinarySensorEntityDescription[Any], ...] = (
    IotBridgeBinarySensorEntityDescription(
        key="battery",
        device_class=BinarySensorDeviceClass.BATTERY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda logger: logger.battery_low,
        available_fn=_logger_fresh,
    ),
)


async def _accept(coordinator: IotBridgeCoordinator[Any], device_key: str) -> None:
    coordinator.set_accept(device_key, True)  # type: ignore[attr-defined]


async def _refuse(coordinator: IotBridgeCoordinator[Any], device_key: str) -> None:
    coordinator.set_accept(device_key, False)  # type: ignore[attr-defined]


# Always available: the user may change their mind while a logger is silent.
ACCEPT_SWITCH: IotBridgeSwitchEntityDescription[Any, Any] = IotBridgeSwitchEntityDescription(
    key="accept",
    translation_key="efento_accept",
    entity_category=EntityCategory.CONFIG,
    is_on_fn=lambda logger: logger.accept,
    turn_on_fn=_accept,
    turn_off_fn=_refuse,
)


# Numeric channel types: (device class, unit, display precision, translation key).
_NUMERIC: dict[str, tuple[SensorDeviceClass | None, str | None, int | None, str]] = {
    "temperature": (SensorDeviceClass.TEMPERATURE, UnitOfTemperature.CELSIUS, 1, "temperature"),
    "humidity": (SensorDeviceClass.HUMIDITY, PERCENTAGE, 0, "humidity"),
    "pressure": (SensorDeviceClass.ATMOSPHERIC_PRESSURE, UnitOfPressure.HPA, 1, "pressure"),
    "pressure_diff": (SensorDeviceClass.PRESSURE, UnitOfPressure.PA, 0, "pressure_diff"),
}
_BINARY = {"open_close": (BinarySensorDeviceClass.OPENING, "open_close")}


def _channel_available(channel: int, type_name: str) -> Callable[[LoggerState], bool]:
    def available(logger: LoggerState) -> bool:
        return logger.fresh(dt_util.utcnow()) and logger.channel(channel, type_name) is not None

    return available


def _channel_value(channel: int, type_name: str) -> Callable[[LoggerState], float | None]:
    def value(logger: LoggerState) -> float | None:
        state = logger.channel(channel, type_name)
        return state.value if state is not None and state.ok else None

    return value


def _channel_is_on(channel: int, type_name: str) -> Callable[[LoggerState], bool | None]:
    def is_on(logger: LoggerState) -> bool | None:
        state = logger.channel(channel, type_name)
        return state.is_on if state is not None and state.ok else None

    return is_on


def _name(
    logger: LoggerState, channel: int, type_name: str, base: str
) -> tuple[str, dict[str, str]]:
    """Plain name for a type the logger measures once; numbered when it has several."""
    same = [n for n, ch in logger.channels.items() if type_key(ch.type) == type_key(type_name)]
    if len(same) <= 1:
        return f"efento_{base}", {}
    return f"efento_{base}_channel", {"channel": str(channel)}


def channel_descriptions(logger: LoggerState) -> Iterator[tuple[Platform, EntityDescription]]:
    """One entity per channel, by the type it measures now."""
    for channel, state in sorted(logger.channels.items()):
        key = type_key(state.type)
        unique_key = f"ch{channel}_{key}"
        if key in _BINARY:
            device_class, base = _BINARY[key]
            translation_key, placeholders = _name(logger, channel, state.type, base)
            yield (
                Platform.BINARY_SENSOR,
                IotBridgeBinarySensorEntityDescription(
                    key=unique_key,
                    translation_key=translation_key,
                    translation_placeholders=placeholders,
                    device_class=device_class,
                    is_on_fn=_channel_is_on(channel, state.type),
                    available_fn=_channel_available(channel, state.type),
                ),
            )
            continue
        if key in _NUMERIC:
            sensor_class, unit, precision, base = _NUMERIC[key]
            translation_key, placeholders = _name(logger, channel, state.type, base)
        else:
            # A type the documentation does not list: still a number, named after itself.
            sensor_class, unit, precision = None, None, None
            translation_key = "efento_other_channel"
            placeholders = {"type": state.type, "channel": str(channel)}
        yield (
            Platform.SENSOR,
            IotBridgeSensorEntityDescription(
                key=unique_key,
                translation_key=translation_key,
                translation_placeholders=placeholders,
                device_class=sensor_class,
                native_unit_of_measurement=unit,
                suggested_display_precision=precision,
                state_class=SensorStateClass.MEASUREMENT,
                value_fn=_channel_value(channel, state.type),
                available_fn=_channel_available(channel, state.type),
            ),
        )
