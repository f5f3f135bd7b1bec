"""Entities of a LoRaWAN end-device: radio metadata, payload, LPP values, downlink switch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    DEGREE,
    LIGHT_LUX,
    PERCENTAGE,
    EntityCategory,
    Platform,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfLength,
    UnitOfPower,
    UnitOfPressure,
    UnitOfTemperature,
)
from homeassistant.util import dt as dt_util

from ..api.cayenne_lpp import TYPES as LPP_TYPES, LppValue
from ..api.netemera import Uplink
from ..compat import CONCENTRATION_PPM
from ..descriptions import (
    IotBridgeEntityDescription,
    IotBridgeSensorEntityDescription,
    IotBridgeSwitchEntityDescription,
    SensorValue,
)
from ..errors import command_errors
from .coordinator import NetemeraCoordinator
from .model import LPP_AXES, RSSI_KEY, RSSI_UNIT, SNR_KEY, SNR_UNIT, EndDevice, lpp_key
from .settings import device_settings

# Home Assistant refuses longer states (and logs an error each time): a payload of
# more than 127 bytes reads as unknown, quietly.
MAX_STATE_LENGTH = 255


def _uplink_value(read: Callable[[Uplink], SensorValue]) -> Callable[[EndDevice], SensorValue]:
    def value(device: EndDevice) -> SensorValue:
        return None if device.uplink is None else read(device.uplink)

    return value


def _payload(uplink: Uplink) -> str | None:
    text = uplink.payload_hex
    return None if text is None or len(text) > MAX_STATE_LENGTH else text


def _gateway_attributes(device: EndDevice) -> dict[str, Any] | None:
    uplink = device.uplink
    if uplink is None:
        return None
    best = uplink.best_gateway
    return {"gateway_id": best.id if best else None, "gateways": len(uplink.gateways)}


def _rssi(device: EndDevice) -> SensorValue:
    best = device.best_gateway
    return None if best is None else best.rssi


def _snr(device: EndDevice) -> SensorValue:
    best = device.best_gateway
    return None if best is None else best.snr


# Radio metadata and the raw payload: every end-device has these.
UPLINK_SENSORS: tuple[IotBridgeSensorEntityDescription[EndDevice], ...] = (
    IotBridgeSensorEntityDescription[EndDevice](
        key=RSSI_KEY,
        translation_key="netemera_rssi",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=RSSI_UNIT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_rssi,
        attributes_fn=_gateway_attributes,
    ),
    IotBridgeSensorEntityDescription[EndDevice](
        key=SNR_KEY,
        translation_key="netemera_snr",
        # SNR is a ratio in dB, not a signal strength: no device class.
        native_unit_of_measurement=SNR_UNIT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_snr,
        attributes_fn=_gateway_attributes,
    ),
    IotBridgeSensorEntityDescription[EndDevice](
        key="frame_counter",
        translation_key="netemera_frame_counter",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_uplink_value(lambda uplink: uplink.f_cnt_up),
    ),
    IotBridgeSensorEntityDescription[EndDevice](
        key="port",
        translation_key="netemera_port",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_uplink_value(lambda uplink: uplink.f_port),
    ),
    IotBridgeSensorEntityDescription[EndDevice](
        key="data_rate",
        translation_key="netemera_data_rate",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_uplink_value(lambda uplink: uplink.data_rate),
    ),
    IotBridgeSensorEntityDescription[EndDevice](
        key="frequency",
        translation_key="netemera_frequency",
        device_class=SensorDeviceClass.FREQUENCY,
        native_unit_of_measurement=UnitOfFrequency.MEGAHERTZ,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_uplink_value(lambda uplink: uplink.frequency),
    ),
    IotBridgeSensorEntityDescription[EndDevice](
        key="last_seen",
        translation_key="netemera_last_seen",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_uplink_value(lambda uplink: uplink.recv_time),
    ),
    IotBridgeSensorEntityDescription[EndDevice](
        # For a device without a decoder this is its data, so not diagnostic.
        key="payload",
        translation_key="netemera_payload",
        value_fn=_uplink_value(_payload),
    ),
)


@dataclass(frozen=True, slots=True)
class LppSensor:
    """How one Cayenne LPP type shows in Home Assistant."""

    device_class: SensorDeviceClass | None = None
    unit: str | None = None
    state_class: SensorStateClass | None = SensorStateClass.MEASUREMENT
    precision: int | None = None
    # Units per axis when they differ (gps); the axes are the model's ``LPP_AXES``.
    axis_units: tuple[str | None, ...] = ()


LPP_SENSORS: dict[int, LppSensor] = {
    0: LppSensor(),  # digital input
    1: LppSensor(),  # digital output
    2: LppSensor(precision=2),  # analog input
    3: LppSensor(precision=2),  # analog output
    100: LppSensor(),  # generic sensor
    101: LppSensor(SensorDeviceClass.ILLUMINANCE, LIGHT_LUX),
    102: LppSensor(),  # presence
    103: LppSensor(SensorDeviceClass.TEMPERATURE, UnitOfTemperature.CELSIUS, precision=1),
    104: LppSensor(SensorDeviceClass.HUMIDITY, PERCENTAGE, precision=1),
    113: LppSensor(unit="G", precision=3),
    115: LppSensor(SensorDeviceClass.ATMOSPHERIC_PRESSURE, UnitOfPressure.HPA, precision=1),
    116: LppSensor(SensorDeviceClass.VOLTAGE, UnitOfElectricPotential.VOLT, precision=2),
    117: LppSensor(SensorDeviceClass.CURRENT, UnitOfElectricCurrent.AMPERE, precision=3),
    118: LppSensor(SensorDeviceClass.FREQUENCY, UnitOfFrequency.HERTZ),
    120: LppSensor(unit=PERCENTAGE),
    121: LppSensor(SensorDeviceClass.DISTANCE, UnitOfLength.METERS),
    125: LppSensor(unit=CONCENTRATION_PPM),
    128: LppSensor(SensorDeviceClass.POWER, UnitOfPower.WATT),
    130: LppSensor(SensorDeviceClass.DISTANCE, UnitOfLength.METERS, precision=3),
    131: LppSensor(
        SensorDeviceClass.ENERGY,
        UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        precision=3,
    ),
    132: LppSensor(unit=DEGREE, state_class=SensorStateClass.MEASUREMENT_ANGLE),
    133: LppSensor(SensorDeviceClass.TIMESTAMP, state_class=None),
    134: LppSensor(unit="°/s", precision=2),
    135: LppSensor(),  # colour
    136: LppSensor(
        state_class=None,
        precision=5,
        axis_units=(DEGREE, DEGREE, UnitOfLength.METERS),
    ),
    142: LppSensor(),  # switch
}


def _lpp_value(
    key: tuple[int, int], axis: int | None, timestamp: bool
) -> Callable[[EndDevice], SensorValue]:
    def value(device: EndDevice) -> SensorValue:
        item: LppValue | None = device.values.get(key)
        if item is None:
            return None
        reading = item.value
        if axis is not None:
            if not isinstance(reading, tuple):
                return None
            reading = reading[axis]
        if isinstance(reading, tuple):
            return None
        if timestamp:
            return dt_util.utc_from_timestamp(reading)
        return reading

    return value


@cache
def lpp_descriptions(
    channel: int, type_id: int
) -> tuple[IotBridgeSensorEntityDescription[EndDevice], ...]:
    """The sensors for one LPP channel and type (one per axis for multi-value types)."""
    return tuple(_lpp_descriptions(channel, type_id))


def _lpp_descriptions(
    channel: int, type_id: int
) -> Iterator[IotBridgeSensorEntityDescription[EndDevice]]:
    lpp_type = LPP_TYPES[type_id]
    spec = LPP_SENSORS.get(type_id, LppSensor())
    key = (channel, type_id)
    axes: tuple[str | None, ...] = LPP_AXES.get(type_id) or (None,)
    for index, axis in enumerate(axes):
        unit = spec.axis_units[index] if spec.axis_units else spec.unit
        yield IotBridgeSensorEntityDescription[EndDevice](
            key=lpp_key(channel, type_id, axis),
            translation_key=f"lpp_{lpp_type.name}",
            translation_placeholders={"channel": str(channel), "axis": axis or ""},
            device_class=spec.device_class,
            native_unit_of_measurement=unit,
            state_class=spec.state_class,
            suggested_display_precision=spec.precision,
            value_fn=_lpp_value(key, None if axis is None else index, type_id == 133),
        )


def device_sensor_descriptions(
    device: EndDevice,
) -> Iterator[IotBridgeSensorEntityDescription[EndDevice]]:
    """Every sensor an end-device has now."""
    yield from UPLINK_SENSORS
    for channel, type_id in sorted(device.values):
        yield from lpp_descriptions(channel, type_id)


async def _switch(coordinator: NetemeraCoordinator, dev_eui: str, on: bool) -> None:
    async with command_errors("send the downlink"):
        await coordinator.async_send_switch_downlink(dev_eui, on)


async def _turn_on(coordinator: NetemeraCoordinator, dev_eui: str) -> None:
    await _switch(coordinator, dev_eui, True)


async def _turn_off(coordinator: NetemeraCoordinator, dev_eui: str) -> None:
    await _switch(coordinator, dev_eui, False)


DOWNLINK_SWITCH = IotBridgeSwitchEntityDescription[EndDevice, NetemeraCoordinator](
    key="downlink",
    translation_key="netemera_downlink",
    is_on_fn=lambda device: device.switch_on,
    turn_on_fn=_turn_on,
    turn_off_fn=_turn_off,
)


def entity_descriptions(
    coordinator: NetemeraCoordinator, platform: Platform
) -> Iterable[tuple[str, IotBridgeEntityDescription]]:
    """Sensors for every device; a switch for devices with a downlink configured."""
    if platform is Platform.SENSOR:
        return [
            (dev_eui, description)
            for dev_eui, device in coordinator.devices.items()
            for description in device_sensor_descriptions(device)
        ]
    if platform is Platform.SWITCH:
        return [
            (dev_eui, DOWNLINK_SWITCH)
            for dev_eui in coordinator.devices
            if device_settings(coordinator.options, dev_eui).downlink is not None
        ]
    return ()
