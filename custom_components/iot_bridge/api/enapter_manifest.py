"""Enapter blueprint manifests (``blueprint_spec: device/3.0``) as typed specs.

A device's manifest says which telemetry it sends, in which UCUM unit, and
which commands it accepts. The parser is tolerant: a malformed entry is
skipped, never the whole manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import json
import logging
import math
from typing import Any, Final, Literal

from .fields import as_float, as_mapping, as_str
from .log_once import LogOnce

_LOGGER = logging.getLogger(__name__)
_LOG_ONCE = LogOnce(_LOGGER)

ValueType = Literal["float", "integer", "string", "boolean"]
_VALUE_TYPES: Final[dict[str, ValueType]] = {
    "float": "float",
    "integer": "integer",
    "string": "string",
    "boolean": "boolean",
}
VALUE_TYPES: frozenset[str] = frozenset(_VALUE_TYPES)
# What a command argument may be declared as (Enapter's blueprint schema).
ARGUMENT_TYPES: Final = frozenset(
    {"boolean", "string", "integer", "float", "array_of_strings", "json"}
)
# Roles from least to most privileged: a command's ``access_level`` and a device's
# ``authorized_role`` (READONLY, USER, ..., also written READ_ONLY) are compared by rank.
ACCESS_LEVELS: Final = ("readonly", "user", "owner", "installer", "vendor", "system")
DEFAULT_ACCESS_LEVEL: Final = "user"
# A status enum has a handful of values, a Modbus baud rate seven; a select with more
# than this is no longer usable, and an enum of thousands would only bloat every state.
MAX_ENUM_VALUES: Final = 100
# Home Assistant keeps at most 255 characters of a state (and so of an option).
MAX_ENUM_TEXT: Final = 255


@dataclass(frozen=True, slots=True)
class TelemetrySpec:
    """One telemetry attribute (or property) declared by a blueprint."""

    display_name: str
    type: ValueType
    unit: str | None = None
    enum: tuple[str, ...] | None = None
    # Enum value -> the blueprint's display name, for the values that have one.
    enum_names: Mapping[str, str] = field(default_factory=dict)


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
    unit: str | None = None
    enum_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def numeric(self) -> bool:
        """Whether the argument is a number (an integer or a float)."""
        return self.type in ("integer", "float")


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command a device accepts."""

    display_name: str
    group: str | None = None
    arguments: Mapping[str, CommandArgumentSpec] = field(default_factory=dict)
    # The least role that may run it (one of ACCESS_LEVELS; unknown text is kept as is).
    access_level: str = DEFAULT_ACCESS_LEVEL

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


def access_rank(level: str | None) -> int | None:
    """A role's or access level's rank in ACCESS_LEVELS; None when it is unknown."""
    if level is None:
        return None
    normal = level.strip().lower().replace("_", "")
    return ACCESS_LEVELS.index(normal) if normal in ACCESS_LEVELS else None


def role_may_run(role: str | None, access_level: str) -> bool:
    """Whether a device's ``authorized_role`` reaches a command's ``access_level``.

    Unknown on either side counts as allowed: only the API can tell then.
    """
    have, need = access_rank(role), access_rank(access_level)
    return have is None or need is None or have >= need


def enum_text(value: Any) -> str | None:
    """An enum value as the text Home Assistant options use (integer enums as "1")."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        if isinstance(value, (str, int, float)):
            return str(value)
    except ValueError:  # an int too long to write out (over 4,300 digits)
        return None
    return None


def _parse_enum_items(value: Any, where: str) -> list[tuple[str, str | None]]:
    """(value as text, its display name) of an ``enum`` list or map, capped and deduplicated."""
    raw: list[tuple[Any, Any]]
    if isinstance(value, list):
        raw = [(item, None) for item in value]
    elif (mapping := as_mapping(value)) is not None:
        raw = [
            (key, as_str((as_mapping(item) or {}).get("display_name")))
            for key, item in mapping.items()
        ]
    else:
        return []
    items: dict[str, str | None] = {}
    for item, name in raw:
        text = enum_text(item)
        if text is None or not text or len(text) > MAX_ENUM_TEXT or text in items:
            continue
        if len(items) >= MAX_ENUM_VALUES:
            _LOG_ONCE.warning(
                "Manifest enum %s declares %d values; using the first %d",
                where or "(unnamed)",
                len(raw),
                MAX_ENUM_VALUES,
                kind="enum_cap",
                key=where,
            )
            break
        items[text] = name[:MAX_ENUM_TEXT] if name else None
    return list(items.items())


def parse_enum(value: Any, where: str = "") -> tuple[str, ...] | None:
    """Read an ``enum`` given as a list of values or as a map value -> {display_name, color}."""
    return tuple(text for text, _ in _parse_enum_items(value, where)) or None


def parse_enum_names(value: Any, where: str = "") -> dict[str, str]:
    """Value -> display name of an ``enum`` map (a list names nothing)."""
    return {text: name for text, name in _parse_enum_items(value, where) if name}


def _parse_attribute(name: str, raw: Any) -> TelemetrySpec | None:
    entry = as_mapping(raw)
    if entry is None:
        return None
    value_type = _VALUE_TYPES.get(as_str(entry.get("type")) or "")
    if value_type is None:
        # json, array_of_strings, alerts...: nothing a scalar entity can show.
        _LOGGER.debug("Skipping manifest attribute %s of type %r", name, entry.get("type"))
        return None
    return TelemetrySpec(
        display_name=as_str(entry.get("display_name")) or name,
        type=value_type,
        unit=as_str(entry.get("unit")) or None,
        enum=parse_enum(entry.get("enum"), name),
        enum_names=parse_enum_names(entry.get("enum"), name),
    )


def _parse_attributes(raw: Any) -> dict[str, TelemetrySpec]:
    result: dict[str, TelemetrySpec] = {}
    for name, entry in (as_mapping(raw) or {}).items():
        spec = _parse_attribute(str(name), entry)
        if spec is not None:
            result[str(name)] = spec
    return result


def _bounds(where: str, low: Any, high: Any) -> tuple[float | None, float | None]:
    """An argument's min and max; both dropped (and logged once) when min is above max."""
    minimum, maximum = as_float(low), as_float(high)
    if minimum is not None and maximum is not None and minimum > maximum:
        _LOG_ONCE.warning(
            "Manifest argument %s declares min %s above max %s; ignoring both",
            where,
            minimum,
            maximum,
            kind="argument_bounds",
            key=where,
        )
        return None, None
    return minimum, maximum


def _parse_argument(where: str, name: str, raw: Any) -> CommandArgumentSpec | None:
    entry = as_mapping(raw)
    if entry is None:
        return None
    minimum, maximum = _bounds(where, entry.get("min"), entry.get("max"))
    value_type = as_str(entry.get("type"))
    options = parse_enum(entry.get("enum"), where)
    if options is not None and value_type is not None:
        # An option the declared type cannot carry (text in an integer enum), or one outside
        # the declared bounds, could never be sent: it is not offered.
        options = (
            tuple(
                option
                for option in options
                if (typed := option_value(value_type, option)) is not None
                and _within(typed, minimum, maximum)
            )
            or None
        )
    names = parse_enum_names(entry.get("enum"), where)
    return CommandArgumentSpec(
        display_name=as_str(entry.get("display_name")) or name,
        type=value_type,
        required=entry.get("required") is True,
        enum=options,
        default=entry.get("default"),
        min=minimum,
        max=maximum,
        unit=as_str(entry.get("unit")) or None,
        enum_names={key: text for key, text in names.items() if options and key in options},
    )


def _parse_command(name: str, raw: Any) -> CommandSpec | None:
    entry = as_mapping(raw)
    if entry is None:
        return None
    arguments: dict[str, CommandArgumentSpec] = {}
    for arg_name, arg_raw in (as_mapping(entry.get("arguments")) or {}).items():
        argument = _parse_argument(f"{name}.{arg_name}", str(arg_name), arg_raw)
        if argument is not None:
            arguments[str(arg_name)] = argument
    level = as_str(entry.get("access_level"))
    return CommandSpec(
        display_name=as_str(entry.get("display_name")) or name,
        group=as_str(entry.get("group")),
        arguments=arguments,
        access_level=level.strip().lower() if level and level.strip() else DEFAULT_ACCESS_LEVEL,
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


# --- checking arguments before they are sent ------------------------------------


class ArgumentError(ValueError):
    """An argument a command cannot be sent with.

    ``problem`` says what is wrong: ``unknown`` (not declared), ``missing`` (required),
    ``type`` (``expected`` names the declared type), ``min``/``max`` (``expected`` is the
    bound), ``option`` (``expected`` lists the allowed values).
    """

    def __init__(self, argument: str, problem: str, expected: str = "") -> None:
        """Name the argument, the problem and what would have been accepted."""
        super().__init__(f"{argument}: {problem} {expected}".strip())
        self.argument = argument
        self.problem = problem
        self.expected = expected


def _within(value: Any, minimum: float | None, maximum: float | None) -> bool:
    """Whether a typed option lies within numeric bounds (text options always do)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def option_value(value_type: str | None, option: str) -> Any:
    """The typed value an enum option (kept as text) is sent as; None if the type cannot hold it."""
    if value_type == "integer":
        try:
            return int(option)
        except ValueError:
            return None
    if value_type == "float":
        number = as_float(option)
        return None if number is None else number
    if value_type in ("boolean", "array_of_strings"):
        return None
    return option


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _typed(name: str, spec: CommandArgumentSpec, value: Any) -> Any:
    """The value as the declared type sends it; ArgumentError when it is not one."""
    kind = spec.type
    if spec.enum is not None and isinstance(value, str) and value in spec.enum:
        # An option as a select or a YAML string gives it: send it as the declared type.
        typed = option_value(kind, value)
        if typed is not None:
            return typed
    if kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str)
    elif kind == "array_of_strings":
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif kind in ("integer", "float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
        if ok and kind == "integer":
            ok = isinstance(value, int) or float(value).is_integer()
            value = int(value) if ok else value
        elif ok:
            value = float(value)
    else:  # json, or a type this version does not know: anything JSON can carry
        ok = _is_json(value)
    if not ok:
        raise ArgumentError(name, "type", kind or "json")
    return value


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def check_argument(name: str, spec: CommandArgumentSpec, value: Any) -> Any:
    """Check one value against its argument spec; return it as it is to be sent."""
    typed = _typed(name, spec, value)
    if spec.enum is not None and enum_text(typed) not in spec.enum:
        raise ArgumentError(name, "option", ", ".join(spec.enum))
    if spec.numeric:
        if spec.min is not None and typed < spec.min:
            raise ArgumentError(name, "min", _number(spec.min))
        if spec.max is not None and typed > spec.max:
            raise ArgumentError(name, "max", _number(spec.max))
    return typed


def check_arguments(command: CommandSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Check a command's arguments against its manifest entry, as the cloud does not.

    Unknown arguments are refused, required ones must be there, each value must be of
    its declared type, within min/max and one of its enum values. Returns what to send.
    """
    checked: dict[str, Any] = {}
    for name, value in arguments.items():
        spec = command.arguments.get(name)
        if spec is None:
            raise ArgumentError(name, "unknown", ", ".join(command.arguments))
        checked[name] = check_argument(name, spec, value)
    for name in command.required_arguments:
        if name not in checked:
            raise ArgumentError(name, "missing")
    return checked


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)


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
