"""Entity descriptions for an Enapter device's plan (see model.py), in Home Assistant's terms.

Telemetry becomes sensors and binary sensors by its declared type and UCUM unit,
command pairs become switches, commands with one number or enum argument numbers
and selects, the other commands without arguments buttons. Entities of commands the
token's role may not run are created disabled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
import math
from typing import Any, Final

from homeassistant.components.number import NumberDeviceClass, NumberMode
from homeassistant.components.number.const import DEVICE_CLASS_UNITS as NUMBER_CLASS_UNITS
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS
from homeassistant.const import Platform
from homeassistant.helpers.typing import UNDEFINED

from ..api.enapter import Manifest, TelemetrySpec, display_unit
from ..compat import BinarySensorDeviceClass
from ..descriptions import (
    ActionFn,
    IotBridgeBinarySensorEntityDescription,
    IotBridgeButtonEntityDescription,
    IotBridgeEntityDescription,
    IotBridgeNumberEntityDescription,
    IotBridgeSelectEntityDescription,
    IotBridgeSensorEntityDescription,
    IotBridgeSwitchEntityDescription,
    SensorValue,
    SetFn,
)
from .coordinator import EnapterCoordinator
from .model import (
    CommandPair,
    CommandSetting,
    DevicePlan,
    EnapterDeviceState,
    SentValue,
    SiteDevices,
)

# Plain aliases, not ``type`` statements: descriptions are built by calling them.
SensorDescription = IotBridgeSensorEntityDescription[EnapterDeviceState]
BinarySensorDescription = IotBridgeBinarySensorEntityDescription[EnapterDeviceState]
SwitchDescription = IotBridgeSwitchEntityDescription[EnapterDeviceState, EnapterCoordinator]
ButtonDescription = IotBridgeButtonEntityDescription[EnapterDeviceState, EnapterCoordinator]
NumberDescription = IotBridgeNumberEntityDescription[EnapterDeviceState, EnapterCoordinator]
SelectDescription = IotBridgeSelectEntityDescription[EnapterDeviceState, EnapterCoordinator]

# Bounds of a number whose argument declares none: Home Assistant needs some, and these
# are beyond any set point a device takes while refusing nothing a blueprint could mean.
UNBOUNDED: Final = 1_000_000_000.0


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


def _action(command: str, switch: tuple[str, bool] | None = None) -> ActionFn[EnapterCoordinator]:
    async def run(coordinator: EnapterCoordinator, device_key: str) -> None:
        await coordinator.async_execute(device_key, command, sent=switch)

    return run


def _set_number(setting: CommandSetting) -> SetFn[EnapterCoordinator, float]:
    async def set_value(coordinator: EnapterCoordinator, device_key: str, value: float) -> None:
        await coordinator.async_execute(
            device_key, setting.command, {setting.argument: value}, sent=(setting.key, value)
        )

    return set_value


def _select_option(setting: CommandSetting) -> SetFn[EnapterCoordinator, str]:
    async def select(coordinator: EnapterCoordinator, device_key: str, option: str) -> None:
        await coordinator.async_execute(
            device_key, setting.command, {setting.argument: option}, sent=(setting.key, option)
        )

    return select


def _restore(key: str) -> Callable[[EnapterCoordinator, str, SentValue], None]:
    def restore(coordinator: EnapterCoordinator, device_key: str, value: SentValue) -> None:
        coordinator.restore(device_key, key, value)

    return restore


def _enum_name_fn(attribute: str) -> Callable[[EnapterDeviceState], dict[str, Any] | None]:
    def attributes(state: EnapterDeviceState) -> dict[str, Any] | None:
        # The state keeps the stable value; the blueprint's name for it is shown beside it.
        return {"display_name": state.enum_name(attribute)}

    return attributes


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
                attributes_fn=_enum_name_fn(name) if spec.enum_names else None,
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


def _switch_description(plan: DevicePlan, pair: CommandPair) -> SwitchDescription:
    # Without a label the pair starts and stops the device itself: the switch takes its name.
    label = pair.label
    return SwitchDescription(
        key=pair.key,
        name=None if label is None else UNDEFINED,
        translation_key=None if label is None else "command_pair",
        translation_placeholders=None if label is None else {"name": label},
        entity_registry_enabled_default=plan.allowed(pair.on, pair.off),
        is_on_fn=pair.is_on,
        turn_on_fn=_action(pair.on, (pair.key, True)),
        turn_off_fn=_action(pair.off, (pair.key, False)),
        assumed_state=pair.optimistic,
        restore_fn=_restore(pair.key) if pair.optimistic else None,
    )


def switch_descriptions(plan: DevicePlan) -> Iterator[SwitchDescription]:
    """A switch for each pair of commands that start and stop the same thing."""
    for pair in plan.switches:
        yield _switch_description(plan, pair)


def button_descriptions(plan: DevicePlan) -> Iterator[ButtonDescription]:
    """A button for each other command that needs no arguments."""
    for name in plan.buttons:
        yield ButtonDescription(
            key=f"command_{name}",
            translation_key="command",
            translation_placeholders={"name": plan.manifest.commands[name].display_name},
            entity_registry_enabled_default=plan.allowed(name),
            press_fn=_action(name),
        )


def _float_step(low: float | None, high: float | None) -> float:
    """A step fine enough for a float set point: about a hundred to a thousand per range."""
    if low is None or high is None or high <= low:
        return 0.01
    return float(10 ** math.floor(math.log10(high - low) - 2))


def _number_class(name: str, label: str, unit: str | None) -> NumberDeviceClass | None:
    """The number device class a sensor of this unit would have, if numbers know it."""
    kind = numeric_sensor_kind(name, TelemetrySpec(display_name=label, type="float", unit=unit))
    if kind.device_class is None:
        return None
    try:
        number_class = NumberDeviceClass(kind.device_class.value)
    except ValueError:
        return None
    return number_class if kind.unit in NUMBER_CLASS_UNITS.get(number_class, {kind.unit}) else None


def number_descriptions(plan: DevicePlan) -> Iterator[NumberDescription]:
    """A number for each command with one required numeric argument.

    Its bounds are the argument's min and max: the cloud does not check them, so
    Home Assistant refuses anything outside before a command is sent.
    """
    for setting in plan.numbers:
        spec = setting.spec
        tied = plan.manifest.telemetry.get(setting.attribute or "")
        unit = spec.unit or (tied.unit if tied else None)
        bounded = spec.min is not None and spec.max is not None
        yield NumberDescription(
            key=setting.key,
            translation_key="command_setting",
            translation_placeholders={"name": setting.label},
            entity_registry_enabled_default=plan.allowed(setting.command),
            native_min_value=spec.min if spec.min is not None else -UNBOUNDED,
            native_max_value=spec.max if spec.max is not None else UNBOUNDED,
            native_step=1.0 if spec.type == "integer" else _float_step(spec.min, spec.max),
            native_unit_of_measurement=display_unit(unit),
            device_class=_number_class(setting.argument, setting.label, unit),
            mode=NumberMode.AUTO if bounded else NumberMode.BOX,
            value_fn=setting.number,
            set_fn=_set_number(setting),
            assumed_state=setting.optimistic,
            restore_fn=_restore(setting.key) if setting.optimistic else None,
        )


def _option_names_fn(
    setting: CommandSetting,
) -> Callable[[EnapterDeviceState], dict[str, Any] | None]:
    names = dict(setting.spec.enum_names)

    def attributes(state: EnapterDeviceState) -> dict[str, Any] | None:
        option = setting.option(state)
        return {"display_name": names.get(option or ""), "option_names": names}

    return attributes


def select_descriptions(plan: DevicePlan) -> Iterator[SelectDescription]:
    """A select for each command with one required argument that is one of an enum."""
    for setting in plan.selects:
        yield SelectDescription(
            key=setting.key,
            translation_key="command_setting",
            translation_placeholders={"name": setting.label},
            entity_registry_enabled_default=plan.allowed(setting.command),
            options=list(setting.spec.enum or ()),
            current_fn=setting.option,
            select_fn=_select_option(setting),
            attributes_fn=_option_names_fn(setting) if setting.spec.enum_names else None,
            assumed_state=setting.optimistic,
            restore_fn=_restore(setting.key) if setting.optimistic else None,
        )


@dataclass(frozen=True, slots=True)
class DeviceEntities:
    """Every entity description one device's manifest yields."""

    sensors: tuple[SensorDescription, ...] = ()
    binary_sensors: tuple[BinarySensorDescription, ...] = ()
    switches: tuple[SwitchDescription, ...] = ()
    buttons: tuple[ButtonDescription, ...] = ()
    numbers: tuple[NumberDescription, ...] = ()
    selects: tuple[SelectDescription, ...] = ()


def device_entities(manifest: Manifest | None, role: str | None = None) -> DeviceEntities:
    """Build every description of a device from its manifest and the token's role on it."""
    plan = DevicePlan.of(manifest, role)
    return DeviceEntities(
        tuple(sensor_descriptions(plan)),
        tuple(binary_sensor_descriptions(plan)),
        tuple(switch_descriptions(plan)),
        tuple(button_descriptions(plan)),
        tuple(number_descriptions(plan)),
        tuple(select_descriptions(plan)),
    )


_PLATFORM_DESCRIPTIONS: dict[
    Platform, Callable[[DevicePlan], Iterable[IotBridgeEntityDescription]]
] = {
    Platform.SENSOR: sensor_descriptions,
    Platform.BINARY_SENSOR: binary_sensor_descriptions,
    Platform.SWITCH: switch_descriptions,
    Platform.BUTTON: button_descriptions,
    Platform.NUMBER: number_descriptions,
    Platform.SELECT: select_descriptions,
}


def entity_descriptions(
    devices: SiteDevices, platform: Platform
) -> Iterator[tuple[str, IotBridgeEntityDescription]]:
    """(device id, description) for every current device's entities of the platform."""
    describe = _PLATFORM_DESCRIPTIONS[platform]
    for device_id, plan in devices.plans.items():
        for description in describe(plan):
            yield device_id, description
