"""Sensor descriptions for an eGauge meter's registers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import math

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    DEGREE,
    PERCENTAGE,
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfIrradiance,
    UnitOfMass,
    UnitOfPower,
    UnitOfPressure,
    UnitOfReactivePower,
    UnitOfSpeed,
    UnitOfTemperature,
    UnitOfVolumeFlowRate,
)
from homeassistant.util import dt as dt_util

from ..api.egauge import REGISTER_TYPES, EgaugeRegister
from ..compat import CONCENTRATION_PPM
from ..descriptions import IotBridgeSensorEntityDescription, SensorValue
from .model import POWER_TYPE, MeterState, net_energy_kwh


@dataclass(frozen=True, slots=True)
class RateSensor:
    """How a register type's rate shows in Home Assistant."""

    device_class: SensorDeviceClass | None
    unit: str | None
    # Rates the meter gives in units Home Assistant lacks are scaled.
    scale: float = 1.0
    precision: int | None = None
    # Rarely charted types start disabled so a 64-register meter is not noise.
    common: bool = True


RATE_SENSORS: dict[str, RateSensor] = {
    "P": RateSensor(SensorDeviceClass.POWER, UnitOfPower.WATT, precision=0),
    "S": RateSensor(SensorDeviceClass.APPARENT_POWER, UnitOfApparentPower.VOLT_AMPERE, precision=0),
    "var": RateSensor(
        SensorDeviceClass.REACTIVE_POWER, UnitOfReactivePower.VOLT_AMPERE_REACTIVE, precision=0
    ),
    "V": RateSensor(SensorDeviceClass.VOLTAGE, UnitOfElectricPotential.VOLT, precision=1),
    "I": RateSensor(SensorDeviceClass.CURRENT, UnitOfElectricCurrent.AMPERE, precision=2),
    "F": RateSensor(SensorDeviceClass.FREQUENCY, UnitOfFrequency.HERTZ, precision=2),
    "T": RateSensor(SensorDeviceClass.TEMPERATURE, UnitOfTemperature.CELSIUS, precision=1),
    "h": RateSensor(SensorDeviceClass.HUMIDITY, PERCENTAGE, precision=1),
    "Pa": RateSensor(SensorDeviceClass.PRESSURE, UnitOfPressure.PA, precision=0),
    "Ee": RateSensor(
        SensorDeviceClass.IRRADIANCE, UnitOfIrradiance.WATTS_PER_SQUARE_METER, precision=0
    ),
    "ppm": RateSensor(None, CONCENTRATION_PPM, precision=0),
    "%": RateSensor(None, PERCENTAGE, precision=1),
    "v": RateSensor(
        SensorDeviceClass.SPEED, UnitOfSpeed.METERS_PER_SECOND, precision=2, common=False
    ),
    "m": RateSensor(SensorDeviceClass.WEIGHT, UnitOfMass.GRAMS, precision=1, common=False),
    "Qv": RateSensor(
        SensorDeviceClass.VOLUME_FLOW_RATE,
        UnitOfVolumeFlowRate.CUBIC_METERS_PER_HOUR,
        scale=3600.0,
        precision=3,
        common=False,
    ),
    "THD": RateSensor(None, PERCENTAGE, precision=1, common=False),
    "a": RateSensor(None, DEGREE, precision=1, common=False),
    "Q": RateSensor(None, "g/s", precision=2, common=False),
    "Qe": RateSensor(None, "Ah", precision=3, common=False),
    "R": RateSensor(None, "Ω", precision=1, common=False),
    "aq": RateSensor(None, None, precision=0, common=False),
    "$": RateSensor(None, None, precision=4, common=False),
    "#": RateSensor(None, None, precision=0, common=False),
    "#3": RateSensor(None, None, precision=3, common=False),
    "d": RateSensor(None, None, precision=0, common=False),
}


def _plain_sensor(type_code: str) -> RateSensor:
    """A type code we do not know still gives a plain number, in the meter's unit if any."""
    known = REGISTER_TYPES.get(type_code)
    return RateSensor(None, known.unit if known else None, common=False)


def _register(state: MeterState, name: str, type_code: str) -> EgaugeRegister | None:
    register = state.reading.registers.get(name)
    return register if register is not None and register.type_code == type_code else None


def rate_description(name: str, type_code: str) -> IotBridgeSensorEntityDescription[MeterState]:
    """The sensor for a register's current rate."""
    spec = RATE_SENSORS.get(type_code) or _plain_sensor(type_code)

    def value(state: MeterState) -> SensorValue:
        register = _register(state, name, type_code)
        if register is None or register.rate is None:
            return None
        rate = register.rate * spec.scale
        # Home Assistant refuses an infinite state; a rate that large is no reading.
        return rate if math.isfinite(rate) else None

    return IotBridgeSensorEntityDescription[MeterState](
        key=f"rate_{type_code}_{name}",
        translation_key="register",
        translation_placeholders={"register": name},
        device_class=spec.device_class,
        native_unit_of_measurement=spec.unit,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=spec.precision,
        entity_registry_enabled_default=spec.common,
        value_fn=value,
        available_fn=lambda state: _register(state, name, type_code) is not None,
    )


def _net_energy(name: str) -> IotBridgeSensorEntityDescription[MeterState]:
    def value(state: MeterState) -> SensorValue:
        register = _register(state, name, POWER_TYPE)
        return None if register is None else net_energy_kwh(register)

    return IotBridgeSensorEntityDescription[MeterState](
        key=f"energy_{name}",
        translation_key="register_energy",
        translation_placeholders={"register": name},
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        # The meter's counter is net and may run backwards: a TOTAL, not TOTAL_INCREASING.
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=3,
        value_fn=value,
        available_fn=lambda state: _register(state, name, POWER_TYPE) is not None,
    )


def _directional_energy(name: str, direction: str) -> IotBridgeSensorEntityDescription[MeterState]:
    def value(state: MeterState) -> SensorValue:
        if direction == "import":
            return state.energy.import_kwh(name)
        return state.energy.export_kwh(name)

    return IotBridgeSensorEntityDescription[MeterState](
        key=f"energy_{direction}_{name}",
        translation_key=f"register_energy_{direction}",
        translation_placeholders={"register": name},
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        value_fn=value,
        available_fn=lambda state: _register(state, name, POWER_TYPE) is not None,
    )


def _last_reading(state: MeterState) -> SensorValue:
    timestamp = state.reading.timestamp
    return None if timestamp is None else dt_util.utc_from_timestamp(timestamp)


LAST_READING = IotBridgeSensorEntityDescription[MeterState](
    key="last_reading",
    translation_key="last_reading",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=_last_reading,
)


def meter_sensor_descriptions(
    state: MeterState,
) -> Iterator[IotBridgeSensorEntityDescription[MeterState]]:
    """Every sensor the meter's current registers call for."""
    yield LAST_READING
    for name, register in state.reading.registers.items():
        yield rate_description(name, register.type_code)
        if register.type_code == POWER_TYPE:
            yield _net_energy(name)
    # Registers that ever ran backwards keep their import/export totals, even
    # while absent, so the Energy dashboard's statistics stay attached.
    for name in state.energy.registers:
        if state.energy.is_bidirectional(name):
            yield _directional_energy(name, "import")
            yield _directional_energy(name, "export")
