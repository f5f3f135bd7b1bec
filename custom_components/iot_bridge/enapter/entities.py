"""Entity descriptions built from an Enapter device's blueprint manifest.

Nothing here is hard-coded per blueprint: telemetry becomes sensors and binary
sensors by its declared type and UCUM unit, commands become buttons, and pairs
of commands that start and stop the same thing become switches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS

from ..api.enapter import (
    CommandSpec,
    EnapterDevice,
    Manifest,
    TelemetryPoint,
    TelemetrySpec,
    display_unit,
)
from ..compat import BinarySensorDeviceClass
from ..descriptions import (
    IotBridgeBinarySensorEntityDescription,
    IotBridgeButtonEntityDescription,
    IotBridgeSensorEntityDescription,
    IotBridgeSwitchEntityDescription,
    SensorValue,
)

if TYPE_CHECKING:
    from ..coordinator import IotBridgeCoordinator
    from .coordinator import EnapterCoordinator

# Home Assistant keeps at most 255 characters of a state.
MAX_STATE_LENGTH = 255


@dataclass(slots=True)
class DeviceState:
    """What one device's entities read: its record, latest telemetry and switch bookkeeping."""

    device: EnapterDevice | None
    telemetry: Mapping[str, TelemetryPoint] = field(default_factory=dict)
    # Switch key -> state the last successful command set, until the next poll shows the truth.
    pending: dict[str, bool] = field(default_factory=dict)
    # Switch key -> state assumed for switches without matching telemetry.
    assumed: dict[str, bool] = field(default_factory=dict)

    def value(self, attribute: str) -> Any:
        """The attribute's typed value, or None when missing, stale or of the wrong type."""
        if self.device is None or self.device.manifest is None:
            return None
        spec = self.device.manifest.telemetry.get(attribute)
        point = self.telemetry.get(attribute)
        if spec is None or point is None:
            return None
        return typed_value(spec, point)

    def declares(self, attribute: str) -> bool:
        """Whether the device's current manifest still has the attribute."""
        manifest = self.device.manifest if self.device else None
        return manifest is not None and attribute in manifest.telemetry


def typed_value(spec: TelemetrySpec, point: TelemetryPoint) -> Any:
    """Check a datapoint against its manifest entry; None for no recent or a wrong value.

    ``timestamp: null`` is Enapter's way of saying there is no recent value.
    """
    value = point.value
    if point.timestamp is None or value is None:
        return None
    if spec.enum is not None:
        text = _enum_text(value)
        return text if text in spec.enum else None
    if spec.type == "boolean":
        return value if isinstance(value, bool) else None
    if spec.type in ("float", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return value
    if isinstance(value, str):
        return value[:MAX_STATE_LENGTH]
    return None


def _enum_text(value: Any) -> str | None:
    # Numeric enums are options as text ("1"); a reported 1.0 still means "1".
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


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


# --- commands --------------------------------------------------------------

# (on word, off word, telemetry words naming the "on" state, enum values meaning "on")
_PAIRS: tuple[tuple[str, str, tuple[str, ...], frozenset[str]], ...] = (
    (
        "start",
        "stop",
        ("running", "started", "active"),
        frozenset(
            {
                "running",
                "run",
                "started",
                "starting",
                "steady",
                "ramp_up",
                "ramping_up",
                "producing",
                "production",
                "operating",
                "operation",
                "active",
                "working",
                "on",
            }
        ),
    ),
    ("enable", "disable", ("enabled", "on", "active"), frozenset({"enabled", "on", "active"})),
    ("on", "off", ("on", "enabled", "active"), frozenset({"on", "enabled", "active"})),
    (
        "activate",
        "deactivate",
        ("active", "activated", "on"),
        frozenset({"active", "activated", "on"}),
    ),
    ("open", "close", ("open", "opened"), frozenset({"open", "opened", "opening"})),
)
_FILLER_WORDS = frozenset({"turn", "switch", "set"})
_STATE_ATTRIBUTES = ("status", "state", "mode", "operating_state", "operation_status")


@dataclass(frozen=True, slots=True)
class CommandPair:
    """Two commands that switch the same thing on and off."""

    key: str
    on: str
    off: str
    label: str | None
    # Telemetry the switch follows, and the enum values that mean "on" (None for a boolean).
    attribute: str | None = None
    on_values: frozenset[str] | None = None


def _pair_label(on_name: str, off_name: str, base: list[str]) -> str | None:
    """Name a switch by what its two commands' display names share ("Production")."""
    pair_words = {word for pair in _PAIRS for word in pair[:2]} | _FILLER_WORDS
    off_words = {word.lower() for word in off_name.split()}
    shared = [
        word
        for word in on_name.split()
        if word.lower() in off_words and word.lower() not in pair_words
    ]
    if shared:
        return " ".join(shared)
    if base:
        return " ".join(base).capitalize()
    return None  # the device's main function: the switch takes the device's name


def _follow(
    manifest: Manifest, base: list[str], state_words: tuple[str, ...], on_values: frozenset[str]
) -> tuple[str | None, frozenset[str] | None]:
    """Find the telemetry a switch should show: a boolean, else a state enum."""
    joined = "_".join(base)
    if joined:
        names = [
            joined,
            f"is_{joined}",
            *(f"{joined}_{word}" for word in state_words),
            *(f"{word}_{joined}" for word in state_words),
        ]
    else:
        names = [*state_words, *(f"is_{word}" for word in state_words)]
    for name in names:
        spec = manifest.telemetry.get(name)
        if spec is not None and spec.type == "boolean" and spec.enum is None:
            return name, None
    enums = (
        [f"{joined}_{suffix}" for suffix in _STATE_ATTRIBUTES]
        if joined
        else list(_STATE_ATTRIBUTES)
    )
    for name in enums:
        spec = manifest.telemetry.get(name)
        if spec is None or spec.enum is None:
            continue
        matching = frozenset(
            option
            for option in spec.enum
            if option.lower() in on_values or set(option.lower().split("_")) & (on_values - {"on"})
        )
        if matching and matching != set(spec.enum):
            return name, matching
    return None, None


def command_pairs(manifest: Manifest) -> list[CommandPair]:
    """Pair commands like start/stop, enable_x/disable_x, x_on/x_off, open/close."""
    usable = {name for name, spec in manifest.commands.items() if not spec.required_arguments}
    pairs: list[CommandPair] = []
    taken: set[str] = set()
    for name in sorted(usable):
        if name in taken:
            continue
        tokens = name.lower().split("_")
        for on_word, off_word, state_words, on_values in _PAIRS:
            if on_word not in tokens:
                continue
            index = tokens.index(on_word)
            off_tokens = [*tokens[:index], off_word, *tokens[index + 1 :]]
            off = next(
                (cand for cand in usable - taken if cand.lower().split("_") == off_tokens), None
            )
            if off is None:
                continue
            base = [t for i, t in enumerate(tokens) if i != index and t not in _FILLER_WORDS]
            attribute, values = _follow(manifest, base, state_words, on_values)
            pairs.append(
                CommandPair(
                    key=f"switch_{name}",
                    on=name,
                    off=off,
                    label=_pair_label(
                        manifest.commands[name].display_name,
                        manifest.commands[off].display_name,
                        base,
                    ),
                    attribute=attribute,
                    on_values=values,
                )
            )
            taken.update((name, off))
            break
    return pairs


# --- descriptions ----------------------------------------------------------


type Action = Callable[[IotBridgeCoordinator[Any], str], Awaitable[None]]


def _action(command: str, spec: CommandSpec, switch: tuple[str, bool] | None = None) -> Action:
    async def run(coordinator: IotBridgeCoordinator[Any], device_key: str) -> None:
        await cast("EnapterCoordinator", coordinator).async_execute(
            device_key, command, spec.display_name, switch=switch
        )

    return run


@dataclass(frozen=True, slots=True)
class DeviceEntities:
    """Every entity description one device's manifest yields."""

    sensors: tuple[IotBridgeSensorEntityDescription[Any], ...] = ()
    binary_sensors: tuple[IotBridgeBinarySensorEntityDescription[Any], ...] = ()
    switches: tuple[IotBridgeSwitchEntityDescription[Any, Any], ...] = ()
    buttons: tuple[IotBridgeButtonEntityDescription[Any, Any], ...] = ()


def _value_fn(attribute: str) -> Callable[[DeviceState], SensorValue]:
    def value(state: DeviceState) -> SensorValue:
        result: SensorValue = state.value(attribute)
        return result

    return value


def _bool_fn(attribute: str) -> Callable[[DeviceState], bool | None]:
    def is_on(state: DeviceState) -> bool | None:
        value = state.value(attribute)
        return value if isinstance(value, bool) else None

    return is_on


def _declared_fn(attribute: str) -> Callable[[DeviceState], bool]:
    def declared(state: DeviceState) -> bool:
        return state.declares(attribute)

    return declared


def _switch_state_fn(pair: CommandPair) -> Callable[[DeviceState], bool | None]:
    def is_on(state: DeviceState) -> bool | None:
        if pair.key in state.pending:
            return state.pending[pair.key]
        if pair.attribute is None:
            return state.assumed.get(pair.key)
        value = state.value(pair.attribute)
        if value is None:
            return None
        if pair.on_values is None:
            return bool(value)
        return value in pair.on_values

    return is_on


def telemetry_descriptions(
    manifest: Manifest,
) -> tuple[
    tuple[IotBridgeSensorEntityDescription[Any], ...],
    tuple[IotBridgeBinarySensorEntityDescription[Any], ...],
]:
    """Sensors for numbers, enums and text; binary sensors for booleans."""
    sensors: list[IotBridgeSensorEntityDescription[Any]] = []
    binary_sensors: list[IotBridgeBinarySensorEntityDescription[Any]] = []
    for name, spec in manifest.telemetry.items():
        key = f"telemetry_{name}"
        placeholders = {"name": spec.display_name}
        if spec.type == "boolean" and spec.enum is None:
            binary_sensors.append(
                IotBridgeBinarySensorEntityDescription(
                    key=key,
                    translation_key="telemetry",
                    translation_placeholders=placeholders,
                    device_class=binary_sensor_class(name, spec),
                    is_on_fn=_bool_fn(name),
                    available_fn=_declared_fn(name),
                )
            )
        elif spec.enum is not None:
            sensors.append(
                IotBridgeSensorEntityDescription(
                    key=key,
                    translation_key="telemetry",
                    translation_placeholders=placeholders,
                    device_class=SensorDeviceClass.ENUM,
                    options=list(spec.enum),
                    value_fn=_value_fn(name),
                    available_fn=_declared_fn(name),
                )
            )
        elif spec.type in ("float", "integer"):
            kind = numeric_sensor_kind(name, spec)
            sensors.append(
                IotBridgeSensorEntityDescription(
                    key=key,
                    translation_key="telemetry",
                    translation_placeholders=placeholders,
                    device_class=kind.device_class,
                    native_unit_of_measurement=kind.unit,
                    state_class=kind.state_class,
                    value_fn=_value_fn(name),
                    available_fn=_declared_fn(name),
                )
            )
        else:  # free text
            sensors.append(
                IotBridgeSensorEntityDescription(
                    key=key,
                    translation_key="telemetry",
                    translation_placeholders=placeholders,
                    value_fn=_value_fn(name),
                    available_fn=_declared_fn(name),
                )
            )
    return tuple(sensors), tuple(binary_sensors)


def _switch_description(
    manifest: Manifest, pair: CommandPair
) -> IotBridgeSwitchEntityDescription[Any, Any]:
    naming: dict[str, Any] = (
        # Starting and stopping the device itself: the switch takes the device's name.
        {"name": None}
        if pair.label is None
        else {"translation_key": "command_pair", "translation_placeholders": {"name": pair.label}}
    )
    return IotBridgeSwitchEntityDescription(
        key=pair.key,
        **naming,
        is_on_fn=_switch_state_fn(pair),
        turn_on_fn=_action(pair.on, manifest.commands[pair.on], (pair.key, True)),
        turn_off_fn=_action(pair.off, manifest.commands[pair.off], (pair.key, False)),
    )


def device_entities(manifest: Manifest | None) -> DeviceEntities:
    """Build every description of a device from its manifest (none without one)."""
    if manifest is None:
        return DeviceEntities()
    sensors, binary_sensors = telemetry_descriptions(manifest)
    pairs = command_pairs(manifest)
    paired = {name for pair in pairs for name in (pair.on, pair.off)}
    switches = tuple(_switch_description(manifest, pair) for pair in pairs)
    buttons: tuple[IotBridgeButtonEntityDescription[Any, Any], ...] = tuple(
        IotBridgeButtonEntityDescription(
            key=f"command_{name}",
            translation_key="command",
            translation_placeholders={"name": spec.display_name},
            press_fn=_action(name, spec),
        )
        for name, spec in manifest.commands.items()
        if name not in paired and not spec.required_arguments
    )
    return DeviceEntities(sensors, binary_sensors, switches, buttons)
