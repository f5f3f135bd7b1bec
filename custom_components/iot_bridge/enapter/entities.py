"""Entity descriptions for an Enapter device's plan (see model.py), in Home Assistant's terms.

Telemetry becomes sensors and binary sensors by its declared type and UCUM unit,
command pairs become switches, the other commands buttons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS
from homeassistant.const import Platform
from homeassistant.helpers.typing import UNDEFINED

from ..api.enapter import CommandSpec, Manifest, TelemetrySpec, display_unit
from ..compat import BinarySensorDeviceClass
from ..descriptions import (
    ActionFn,
    IotBridgeBinarySensorEntityDescription,
    IotBridgeButtonEntityDescription,
    IotBridgeEntityDescription,
    IotBridgeSensorEntityDescription,
    IotBridgeSwitchEntityDescription,
    SensorValue,
)
from .coordinator import EnapterCoordinator
from .model import CommandPair, DevicePlan, EnapterDeviceState, SiteDevices

# Plain aliases, not ``type`` statements: descriptions are built by calling them.
SensorDescription = IotBridgeSensorEntityDescription[EnapterDeviceState]
BinarySensorDescription = IotBridgeBinarySensorEntityDescription[EnapterDeviceState]
SwitchDescription = IotBridgeSwitchEntityDescription[EnapterDeviceState, EnapterCoordinator]
ButtonDescription = IotBridgeButtonEntityDescription[EnapterDeviceState, EnapterCoordinator]


# --- units -----------------------------------------------------------------

# Display unit (after UCUM mapping) -> device class. A class is only used when this Home
# Assistant release accepts the unit for it (checked below), so newer releases that learn
# more units (L/h, kvar, ...) pick them up without a change here.
_UNIT_DEVICE_CLASS: dict[str, SensorDeviceClass] = {
    **dict.fromkeys(("mW", "W", "kW", "MW", "GW"), SensorDeviceClass.POWER),
    **dict.fromkeys(("Wh", "kWh", "MWh", "GWh", "J", "kJ", "MJ", "GJ"), SensorDeviceClass.ENERGY),
    **dict.fromkeys(("VA", "kVA"), SensorDeviceClass.APPARENT_POWER),
    **dict.fromkeys(("var", "kvar"), SensorDeviceClass.REACTIVE_POWER),
    **dict.fromkeys(("µV", "mV", "V", "kV"), SensorDeviceClass.VOLTAGE),
    **dict.fromkeys(("mA", "A"), SensorDeviceClass.CURRENT),
    **dict.fromkeys(("Hz", "kHz", "MHz"), SensorDeviceClass.FREQUENCY),
    **dict.fromkeys(("°C", "°F", "K"), SensorDeviceClass.TEMPERATURE),
    **dict.fromkeys(
        ("Pa", "hPa", "kPa", "bar", "cbar", "mbar", "psi", "mmHg", "inHg"),
        SensorDeviceClass.PRESSURE,
    ),
    **dict.fromkeys(("ms", "s", "min", "h", "d"), SensorDeviceClass.DURATION),
    **dict.fromkeys(
        ("m³/h", "L/min", "L/h", "L/s", "mL/s", "ft³/min", "gal/min"),
        SensorDeviceClass.VOLUME_FLOW_RATE,
    ),
    "W/m²": SensorDeviceClass.IRRADIANCE,
    **dict.fromkeys(("m/s", "km/h"), SensorDeviceClass.SPEED),
    **dict.fromkeys(("g", "kg"), SensorDeviceClass.WEIGHT),
    "dBm": SensorDeviceClass.SIGNAL_STRENGTH,
}
# Energy in these is stored, not counted: it goes up and down.
_STORED_ENERGY_WORDS = ("remaining", "stored", "storage", "capacity", "available", "content")


@dataclass(frozen=True, slots=True)
class SensorKind:
    """Device class, unit and state class of a numeric attribute."""

    device_class: SensorDeviceClass | None
    unit: str | None
    state_class: SensorStateClass | None


def numeric_sensor_kind(name: str, spec: TelemetrySpec) -> SensorKind:
    """Map a numeric attribute's UCUM unit (and, for %, its name) to Home Assistant terms."""
    unit = display_unit(spec.unit)
    words = f"{name} {spec.display_name}".lower().replace("_", " ")
    device_class: SensorDeviceClass | None = _UNIT_DEVICE_CLASS.get(unit or "")
    if unit == "%" or unit is None:
        if "power factor" in words:
            device_class = SensorDeviceClass.POWER_FACTOR
        elif unit == "%" and ("soc" in words.split() or "state of charge" in words):
            device_class = SensorDeviceClass.BATTERY
        elif unit == "%" and "humidity" in words:
            device_class = SensorDeviceClass.HUMIDITY
    state_class = SensorStateClass.MEASUREMENT
    if device_class is SensorDeviceClass.ENERGY:
        if any(word in words for word in _STORED_ENERGY_WORDS):
            device_class = SensorDeviceClass.ENERGY_STORAGE
        else:
            # A meter's counter: never decreasing except when the meter is reset.
            state_class = SensorStateClass.TOTAL_INCREASING
    if device_class is not None and unit not in DEVICE_CLASS_UNITS.get(device_class, {unit}):
        device_class = None
    return SensorKind(device_class, unit, state_class)


def binary_sensor_class(name: str, spec: TelemetrySpec) -> BinarySensorDeviceClass | None:
    """Guess a boolean's device class from its name; None when nothing fits."""
    words = set(f"{name} {spec.display_name}".lower().replace("_", " ").split())
    if words & {"error", "errors", "fault", "faults", "alarm", "failure", "problem"}:
        return BinarySensorDeviceClass.PROBLEM
    if "charging" in words:
        return BinarySensorDeviceClass.BATTERY_CHARGING
    if words & {"running", "started"}:
        return BinarySensorDeviceClass.RUNNING
    if words & {"online", "connected", "connection", "connectivity"}:
        return BinarySensorDeviceClass.CONNECTIVITY
    return None


# --- descriptions ----------------------------------------------------------


def _action(
    command: str, label: str, switch: tuple[str, bool] | None = None
) -> ActionFn[EnapterCoordinator]:
    async def run(coordinator: EnapterCoordinator, device_key: str) -> None:
        await coordinator.async_execute(device_key, command, label, switch=switch)

    return run


def _value_fn(attribute: str) -> Callable[[EnapterDeviceState], SensorValue]:
    def value(state: EnapterDeviceState) -> SensorValue:
        return state.value(attribute)

    return value


def _bool_fn(attribute: str) -> Callable[[EnapterDeviceState], bool | None]:
    def is_on(state: EnapterDeviceState) -> bool | None:
        value = state.value(attribute)
        return value if isinstance(value, bool) else None

    return is_on


def _declared_fn(attribute: str) -> Callable[[EnapterDeviceState], bool]:
    def declared(state: EnapterDeviceState) -> bool:
        return state.declares(attribute)

    return declared


def _is_binary(spec: TelemetrySpec) -> bool:
    return spec.type == "boolean" and spec.enum is None


def sensor_descriptions(plan: DevicePlan) -> Iterator[SensorDescription]:
    """Sensors for a device's numbers, enums and text."""
    for name, spec in plan.manifest.telemetry.items():
        if _is_binary(spec):
            continue
        key = f"telemetry_{name}"
        placeholders = {"name": spec.display_name}
        if spec.enum is not None:
            yield SensorDescription(
                key=key,
                translation_key="telemetry",
                translation_placeholders=placeholders,
                device_class=SensorDeviceClass.ENUM,
                options=list(spec.enum),
                value_fn=_value_fn(name),
                available_fn=_declared_fn(name),
            )
        elif spec.type in ("float", "integer"):
            numeric = numeric_sensor_kind(name, spec)
            yield SensorDescription(
                key=key,
                translation_key="telemetry",
                translation_placeholders=placeholders,
                device_class=numeric.device_class,
                native_unit_of_measurement=numeric.unit,
                state_class=numeric.state_class,
                value_fn=_value_fn(name),
                available_fn=_declared_fn(name),
            )
        else:  # free text
            yield SensorDescription(
                key=key,
                translation_key="telemetry",
                translation_placeholders=placeholders,
                value_fn=_value_fn(name),
                available_fn=_declared_fn(name),
            )


def binary_sensor_descriptions(plan: DevicePlan) -> Iterator[BinarySensorDescription]:
    """Binary sensors for a device's booleans."""
    for name, spec in plan.manifest.telemetry.items():
        if _is_binary(spec):
            yield BinarySensorDescription(
                key=f"telemetry_{name}",
                translation_key="telemetry",
                translation_placeholders={"name": spec.display_name},
                device_class=binary_sensor_class(name, spec),
                is_on_fn=_bool_fn(name),
                available_fn=_declared_fn(name),
            )


def _switch_description(
    commands: Mapping[str, CommandSpec], pair: CommandPair
) -> SwitchDescription:
    # Without a label the pair starts and stops the device itself: the switch takes its name.
    label = pair.label
    return SwitchDescription(
        key=pair.key,
        name=None if label is None else UNDEFINED,
        translation_key=None if label is None else "command_pair",
        translation_placeholders=None if label is None else {"name": label},
        is_on_fn=pair.is_on,
        turn_on_fn=_action(pair.on, commands[pair.on].display_name, (pair.key, True)),
        turn_off_fn=_action(pair.off, commands[pair.off].display_name, (pair.key, False)),
    )


def switch_descriptions(plan: DevicePlan) -> Iterator[SwitchDescription]:
    """A switch for each pair of commands that start and stop the same thing."""
    for pair in plan.switches:
        yield _switch_description(plan.manifest.commands, pair)


def button_descriptions(plan: DevicePlan) -> Iterator[ButtonDescription]:
    """A button for each other command that needs no arguments."""
    for name in plan.buttons:
        label = plan.manifest.commands[name].display_name
        yield ButtonDescription(
            key=f"command_{name}",
            translation_key="command",
            translation_placeholders={"name": label},
            press_fn=_action(name, label),
        )


@dataclass(frozen=True, slots=True)
class DeviceEntities:
    """Every entity description one device's manifest yields."""

    sensors: tuple[SensorDescription, ...] = ()
    binary_sensors: tuple[BinarySensorDescription, ...] = ()
    switches: tuple[SwitchDescription, ...] = ()
    buttons: tuple[ButtonDescription, ...] = ()


def device_entities(manifest: Manifest | None) -> DeviceEntities:
    """Build every description of a device from its manifest (none without one)."""
    plan = DevicePlan.of(manifest)
    return DeviceEntities(
        tuple(sensor_descriptions(plan)),
        tuple(binary_sensor_descriptions(plan)),
        tuple(switch_descriptions(plan)),
        tuple(button_descriptions(plan)),
    )


_PLATFORM_DESCRIPTIONS: dict[
    Platform, Callable[[DevicePlan], Iterable[IotBridgeEntityDescription]]
] = {
    Platform.SENSOR: sensor_descriptions,
    Platform.BINARY_SENSOR: binary_sensor_descriptions,
    Platform.SWITCH: switch_descriptions,
    Platform.BUTTON: button_descriptions,
}


def entity_descriptions(
    devices: SiteDevices, platform: Platform
) -> Iterator[tuple[str, IotBridgeEntityDescription]]:
    """(device id, description) for every current device's entities of the platform."""
    describe = _PLATFORM_DESCRIPTIONS[platform]
    for device_id, plan in devices.plans.items():
        for description in describe(plan):
            yield device_id, description
