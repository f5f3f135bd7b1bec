"""What Home Assistant makes of well-known numeric data keys: device class, unit, precision.

Shared by the entities (their descriptions) and the coordinator (the unit a late
record's values are in). Units follow zigbee2mqtt, which Instathings gateways run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    LIGHT_LUX,
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfPressure,
    UnitOfTemperature,
)

from ..compat import CONCENTRATION_PPM, CONCENTRATION_UG_PER_M3


@dataclass(frozen=True, slots=True)
class NumberSpec:
    """How a well-known numeric key shows in Home Assistant."""

    device_class: SensorDeviceClass | None
    unit: str | None
    precision: int | None = None
    state_class: SensorStateClass = SensorStateClass.MEASUREMENT
    diagnostic: bool = False
    enabled: bool = True
    name: str | None = None


_TEMPERATURE = NumberSpec(SensorDeviceClass.TEMPERATURE, UnitOfTemperature.CELSIUS, 1)
_PM25 = NumberSpec(SensorDeviceClass.PM25, CONCENTRATION_UG_PER_M3, 0, name="PM2.5")
_ILLUMINANCE = NumberSpec(SensorDeviceClass.ILLUMINANCE, LIGHT_LUX, 0)

NUMBERS: dict[str, NumberSpec] = {
    "temperature": _TEMPERATURE,
    "temp": _TEMPERATURE,
    "humidity": NumberSpec(SensorDeviceClass.HUMIDITY, PERCENTAGE, 1),
    "battery": NumberSpec(SensorDeviceClass.BATTERY, PERCENTAGE, 0, diagnostic=True),
    "power": NumberSpec(SensorDeviceClass.POWER, UnitOfPower.WATT, 1),
    "energy": NumberSpec(
        SensorDeviceClass.ENERGY,
        UnitOfEnergy.KILO_WATT_HOUR,
        3,
        state_class=SensorStateClass.TOTAL_INCREASING,
    ),
    "voltage": NumberSpec(SensorDeviceClass.VOLTAGE, UnitOfElectricPotential.VOLT, 1),
    "current": NumberSpec(SensorDeviceClass.CURRENT, UnitOfElectricCurrent.AMPERE, 3),
    "frequency": NumberSpec(SensorDeviceClass.FREQUENCY, UnitOfFrequency.HERTZ, 2),
    "illuminance": _ILLUMINANCE,
    "illuminance_lux": _ILLUMINANCE,
    "lux": _ILLUMINANCE,
    "pressure": NumberSpec(SensorDeviceClass.ATMOSPHERIC_PRESSURE, UnitOfPressure.HPA, 1),
    "co2": NumberSpec(SensorDeviceClass.CO2, CONCENTRATION_PPM, 0, name="CO2"),
    "co": NumberSpec(SensorDeviceClass.CO, CONCENTRATION_PPM, 0, name="CO"),
    "pm25": _PM25,
    "pm2_5": _PM25,
    "pm10": NumberSpec(SensorDeviceClass.PM10, CONCENTRATION_UG_PER_M3, 0, name="PM10"),
    "pm1": NumberSpec(SensorDeviceClass.PM1, CONCENTRATION_UG_PER_M3, 0, name="PM1"),
    "moisture": NumberSpec(SensorDeviceClass.MOISTURE, PERCENTAGE, 1),
    "soil_moisture": NumberSpec(SensorDeviceClass.MOISTURE, PERCENTAGE, 1),
    # Radio quality changes with every message: diagnostic, and off until wanted.
    "linkquality": NumberSpec(None, "lqi", 0, diagnostic=True, enabled=False, name="Link quality"),
    "rssi": NumberSpec(
        SensorDeviceClass.SIGNAL_STRENGTH,
        SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        0,
        diagnostic=True,
        enabled=False,
        name="RSSI",
    ),
}

CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_key(key: str) -> str:
    """``isVirtualData`` -> ``is_virtual_data``, ``pm2.5`` -> ``pm2_5``."""
    return _NOT_ALNUM.sub("_", CAMEL.sub("_", key).lower()).strip("_")


def lookup[SpecT](table: Mapping[str, SpecT], key: str) -> tuple[SpecT | None, bool]:
    """Find a key's spec: by its whole name, else by its last word (``device_temperature``).

    The flag says whether the whole name matched (only then the spec's name is used).
    """
    normalized = normalize_key(key)
    if (spec := table.get(normalized)) is not None:
        return spec, True
    return table.get(normalized.rsplit("_", 1)[-1]), False


def number_unit(key: str) -> str | None:
    """The unit of a numeric key's sensor (None for a key no spec names)."""
    spec, _ = lookup(NUMBERS, key)
    return spec.unit if spec is not None else None
