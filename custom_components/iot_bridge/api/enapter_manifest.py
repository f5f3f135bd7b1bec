"""Enapter blueprint manifests (``blueprint_spec: device/3.0``) as typed specs.

A device's manifest says which telemetry it sends, in which UCUM unit, and
which commands it accepts. The parser is tolerant: a malformed entry is
skipped, never the whole manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import logging
from typing import Any, Literal

from .fields import as_float, as_mapping, as_str

_LOGGER = logging.getLogger(__name__)

ValueType = Literal["float", "integer", "string", "boolean"]
VALUE_TYPES: frozenset[str] = frozenset({"float", "integer", "string", "boolean"})


@dataclass(frozen=True, slots=True)
class TelemetrySpec:
    """One telemetry attribute (or property) declared by a blueprint."""

    display_name: str
    type: ValueType
    unit: str | None = None
    enum: tuple[str, ...] | None = None


# Properties are declared with the same fields as telemetry.
PropertySpec = TelemetrySpec


@dataclass(frozen=True, slots=True)
class CommandArgumentSpec:
    """One argument of a command."""

    display_name: str
    type: str | None
    required: bool = False
    enum: tuple[str, ...] | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command a device accepts."""

    display_name: str
    group: str | None = None
    arguments: Mapping[str, CommandArgumentSpec] = field(default_factory=dict)

    @property
    def required_arguments(self) -> tuple[str, ...]:
        """Names of the arguments the API refuses the command without."""
        return tuple(name for name, arg in self.arguments.items() if arg.required)


@dataclass(frozen=True, slots=True)
class Manifest:
    """The parts of a blueprint manifest the integration uses."""

    display_name: str | None = None
    description: str | None = None
    telemetry: Mapping[str, TelemetrySpec] = field(default_factory=dict)
    commands: Mapping[str, CommandSpec] = field(default_factory=dict)
    properties: Mapping[str, PropertySpec] = field(default_factory=dict)


def parse_enum(value: Any) -> tuple[str, ...] | None:
    """Read an ``enum`` given as a list of values or as a map value -> {display_name, color}."""
    if isinstance(value, list):
        items = [_enum_value(item) for item in value]
        return tuple(item for item in items if item is not None) or None
    mapping = as_mapping(value)
    if mapping is not None:
        return tuple(str(key) for key in mapping) or None
    return None


def _enum_value(item: Any) -> str | None:
    # Integer enums are allowed in manifests; Home Assistant options are strings.
    if isinstance(item, bool) or not isinstance(item, (str, int, float)):
        return None
    return str(item)


def _parse_attribute(name: str, raw: Any) -> TelemetrySpec | None:
    entry = as_mapping(raw)
    if entry is None:
        return None
    value_type = as_str(entry.get("type"))
    if value_type not in VALUE_TYPES:
        # json, array_of_strings, alerts...: nothing a scalar entity can show.
        _LOGGER.debug("Skipping manifest attribute %s of type %r", name, value_type)
        return None
    return TelemetrySpec(
        display_name=as_str(entry.get("display_name")) or name,
        type=value_type,  # type: ignore[arg-type]  # narrowed by the VALUE_TYPES check
        unit=as_str(entry.get("unit")) or None,
        enum=parse_enum(entry.get("enum")),
    )


def _parse_attributes(raw: Any) -> dict[str, TelemetrySpec]:
    result: dict[str, TelemetrySpec] = {}
    for name, entry in (as_mapping(raw) or {}).items():
        spec = _parse_attribute(str(name), entry)
        if spec is not None:
            result[str(name)] = spec
    return result


def _parse_argument(name: str, raw: Any) -> CommandArgumentSpec | None:
    entry = as_mapping(raw)
    if entry is None:
        return None
    return CommandArgumentSpec(
        display_name=as_str(entry.get("display_name")) or name,
        type=as_str(entry.get("type")),
        required=entry.get("required") is True,
        enum=parse_enum(entry.get("enum")),
        default=entry.get("default"),
        min=as_float(entry.get("min")),
        max=as_float(entry.get("max")),
    )


def _parse_command(name: str, raw: Any) -> CommandSpec | None:
    entry = as_mapping(raw)
    if entry is None:
        return None
    arguments: dict[str, CommandArgumentSpec] = {}
    for arg_name, arg_raw in (as_mapping(entry.get("arguments")) or {}).items():
        argument = _parse_argument(str(arg_name), arg_raw)
        if argument is not None:
            arguments[str(arg_name)] = argument
    return CommandSpec(
        display_name=as_str(entry.get("display_name")) or name,
        group=as_str(entry.get("group")),
        arguments=arguments,
    )


def parse_manifest(raw: Any) -> Manifest | None:
    """Parse an expanded device manifest; None when it is not a JSON object."""
    data = as_mapping(raw)
    if data is None:
        return None
    commands: dict[str, CommandSpec] = {}
    for name, entry in (as_mapping(data.get("commands")) or {}).items():
        command = _parse_command(str(name), entry)
        if command is not None:
            commands[str(name)] = command
    return Manifest(
        display_name=as_str(data.get("display_name")),
        description=as_str(data.get("description")),
        telemetry=_parse_attributes(data.get("telemetry")),
        commands=commands,
        properties=_parse_attributes(data.get("properties")),
    )


# UCUM codes (what manifests carry) -> the symbols people and Home Assistant use.
# Only codes whose display differs need an entry; the rest pass through.
_UCUM_DISPLAY: dict[str, str] = {
    "Cel": "°C",
    "[degF]": "°F",
    "Ohm": "Ω",
    "mOhm": "mΩ",
    "kOhm": "kΩ",
    "MOhm": "MΩ",
    "VAR": "var",
    "kVAR": "kvar",
    "MVAR": "Mvar",
    "VARh": "varh",
    "kVARh": "kvarh",
    "var": "var",
    "kvar": "kvar",
    "l": "L",
    "ml": "mL",
    "l/h": "L/h",
    "l/min": "L/min",
    "l/s": "L/s",
    "Nl": "NL",
    "Nl/h": "NL/h",
    "Nl/min": "NL/min",
    "m3": "m³",
    "m3/h": "m³/h",
    "Nm3": "Nm³",
    "Nm3/h": "Nm³/h",
    "W/m2": "W/m²",
    "[psi]": "psi",
    "[ppm]": "ppm",
    "[ppb]": "ppb",
    "deg": "°",
    "uS/cm": "µS/cm",
    "um": "µm",
    "uA": "µA",
    "uV": "µV",
    "a": "y",
}


def display_unit(unit: str | None) -> str | None:
    """Map a UCUM manifest unit to its display symbol; unknown units pass through unchanged."""
    if unit is None:
        return None
    return _UCUM_DISPLAY.get(unit, unit)
