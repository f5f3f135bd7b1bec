"""An Enapter site's state: its devices, what their manifests call for, their latest telemetry.

Plain Python, no Home Assistant: the coordinator feeds it device lists and
telemetry, the entities read it.

Nothing here is hard-coded per blueprint: a device's manifest alone says which
telemetry it shows and which commands pair up as a switch (start/stop,
enable_x/disable_x, x_on/x_off, open/close); a command with one required number
or enum argument is a setting (a number or a select); the other commands without
required arguments are buttons.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
import math
from typing import Any, Final

from ..api.enapter import (
    CommandArgumentSpec,
    EnapterDevice,
    Manifest,
    TelemetryPoint,
    TelemetrySpec,
)
from ..api.enapter_manifest import enum_text, role_may_run

# Home Assistant keeps at most 255 characters of a state.
MAX_STATE_LENGTH = 255
# What a site's answers may create. A site is one installation: tens of devices
# (the benchmark site has 20). The largest blueprints (electrolysers, battery
# management systems with per-cell values) declare around a hundred telemetry
# attributes and a few dozen commands. The limits leave room for all of that and
# keep a server that invents devices or manifest entries from flooding Home
# Assistant with entities and every poll with requests. Past them the extra items
# are ignored; whatever already exists stays.
MAX_DEVICES: Final = 100
MAX_TELEMETRY: Final = 200
MAX_COMMANDS: Final = 50
# Lua devices run on the site's gateway.
ON_GATEWAY_TYPES = frozenset({"LUA", "VIRTUAL_UCM"})

type TelemetryValue = bool | int | float | str | None
# What a switch, number or select last set: on/off, a number or an option.
type SentValue = bool | int | float | str


# --- telemetry ---------------------------------------------------------------


def typed_value(spec: TelemetrySpec, point: TelemetryPoint) -> TelemetryValue:
    """Check a datapoint against its manifest entry; None for no recent or a wrong value.

    ``timestamp: null`` is Enapter's way of saying there is no recent value.
    """
    value = point.value
    if point.timestamp is None or value is None:
        return None
    if spec.enum is not None:
        text = enum_text(value)
        return text if text in spec.enum else None
    if spec.type == "boolean":
        return value if isinstance(value, bool) else None
    if spec.type in ("float", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        # Home Assistant refuses NaN and infinity (JSON parsers accept both) and
        # ints beyond any float as a number's state.
        return value if _is_finite(value) else None
    if isinstance(value, str):
        return value[:MAX_STATE_LENGTH]
    return None


def _is_finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float (10**400)
        return False


def invalid_values(
    device: EnapterDevice, points: Mapping[str, TelemetryPoint]
) -> Iterator[tuple[str, TelemetrySpec, Any]]:
    """(attribute, its spec, the value) for recent values the device's manifest does not allow."""
    if device.manifest is None:
        return
    for attribute, point in points.items():
        spec = device.manifest.telemetry.get(attribute)
        if spec is None or point.timestamp is None or point.value is None:
            continue
        if typed_value(spec, point) is None:
            yield attribute, spec, point.value


def contradicts_connectivity(device: EnapterDevice, points: Mapping[str, TelemetryPoint]) -> bool:
    """Whether telemetry disagrees with the listed connectivity.

    An ONLINE device whose values all went stale, or an OFFLINE one sending again.
    """
    if not points:
        return False
    fresh = any(point.timestamp is not None for point in points.values())
    return fresh == (device.connectivity == "OFFLINE")


@dataclass(slots=True)
class EnapterDeviceState:
    """What one device's entities read: its record, latest telemetry and what commands set."""

    device: EnapterDevice | None
    telemetry: Mapping[str, TelemetryPoint] = field(default_factory=dict)
    # Entity key -> what the last successful command set, until the next poll shows the truth.
    pending: dict[str, SentValue] = field(default_factory=dict)
    # Entity key -> the last value sent (or restored after a restart), shown by entities
    # that no telemetry confirms.
    assumed: dict[str, SentValue] = field(default_factory=dict)

    def enum_name(self, attribute: str) -> str | None:
        """The blueprint's display name of the attribute's current enum value."""
        value = self.value(attribute)
        manifest = self.device.manifest if self.device else None
        spec = manifest.telemetry.get(attribute) if manifest else None
        if spec is None or not isinstance(value, str):
            return None
        return spec.enum_names.get(value)

    def value(self, attribute: str) -> TelemetryValue:
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


@dataclass(slots=True)
class SiteState:
    """Every device's state after the latest poll."""

    devices: dict[str, EnapterDeviceState]


# --- command pairs -----------------------------------------------------------

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

    @property
    def optimistic(self) -> bool:
        """Whether no telemetry confirms the switch: it shows what it last sent."""
        return self.attribute is None

    def is_on(self, state: EnapterDeviceState) -> bool | None:
        """A command's effect until the next poll, else the telemetry followed, else assumed."""
        if isinstance(pending := state.pending.get(self.key), bool):
            return pending
        if self.attribute is None:
            assumed = state.assumed.get(self.key)
            return assumed if isinstance(assumed, bool) else None
        value = state.value(self.attribute)
        if value is None:
            return None
        if self.on_values is None:
            return bool(value)
        return value in self.on_values


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


# --- settings: commands with one number or enum argument --------------------------

# Verbs a setting command's name starts with; what follows names the setting (and often
# the telemetry that reports it: set_production_rate -> production_rate).
_SETTING_VERBS = ("set", "write", "change", "update", "configure")


@dataclass(frozen=True, slots=True)
class CommandSetting:
    """A command with exactly one required argument: a number or a select."""

    key: str
    command: str
    argument: str
    spec: CommandArgumentSpec
    label: str
    # The telemetry that reports the setting's current value, if the blueprint has one.
    attribute: str | None = None

    @property
    def optimistic(self) -> bool:
        """Whether no telemetry confirms it: it shows the last value sent."""
        return self.attribute is None

    def current(self, state: EnapterDeviceState) -> SentValue | None:
        """What a command just set, else the telemetry it follows, else the last value sent."""
        if (pending := state.pending.get(self.key)) is not None:
            return pending
        if self.attribute is None:
            return state.assumed.get(self.key)
        return state.value(self.attribute)

    def number(self, state: EnapterDeviceState) -> float | None:
        """The current value as a number (None when unknown or not a number)."""
        value = self.current(state)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return value

    def option(self, state: EnapterDeviceState) -> str | None:
        """The current value as one of the argument's options (None when it is none of them)."""
        text = enum_text(self.current(state))
        return text if self.spec.enum is not None and text in self.spec.enum else None


def _setting_label(display_name: str) -> str:
    """Drop a leading verb ("Set Production Rate" is the setting "Production Rate")."""
    first, _, rest = display_name.partition(" ")
    return rest if first.lower() in _SETTING_VERBS and rest.strip() else display_name


def _tied_attribute(
    manifest: Manifest, command: str, argument: str, spec: CommandArgumentSpec
) -> str | None:
    """The telemetry reporting a setting: named as the command (without its verb) or argument."""
    first, _, rest = command.partition("_")
    names = [command, *([rest] if first.lower() in _SETTING_VERBS and rest else []), argument]
    for name in names:
        telemetry = manifest.telemetry.get(name)
        if telemetry is None:
            continue
        if spec.enum is None and telemetry.type in ("float", "integer") and telemetry.enum is None:
            return name
        if spec.enum is not None and telemetry.type != "boolean":
            return name
    return None


def command_settings(manifest: Manifest) -> tuple[list[CommandSetting], list[CommandSetting]]:
    """(numbers, selects): commands whose one required argument is a number or an enum.

    Free text, booleans and lists get no entity: the ``run_command`` action runs them.
    """
    numbers: list[CommandSetting] = []
    selects: list[CommandSetting] = []
    for name, command in manifest.commands.items():
        required = command.required_arguments
        if len(required) != 1:
            continue
        argument = required[0]
        spec = command.arguments[argument]
        if spec.enum is not None:
            kind, target = "select", selects
        elif spec.numeric:
            kind, target = "number", numbers
        else:
            continue
        target.append(
            CommandSetting(
                key=f"{kind}_{name}",
                command=name,
                argument=argument,
                spec=spec,
                label=_setting_label(command.display_name),
                attribute=_tied_attribute(manifest, name, argument, spec),
            )
        )
    return numbers, selects


@dataclass(frozen=True, slots=True)
class DevicePlan:
    """What a device's manifest calls for: its telemetry, switches, settings and buttons."""

    # The manifest within the limits: at most MAX_TELEMETRY attributes and MAX_COMMANDS commands.
    manifest: Manifest = field(default_factory=Manifest)
    switches: tuple[CommandPair, ...] = ()
    # Commands that are neither half of a pair nor need arguments.
    buttons: tuple[str, ...] = ()
    numbers: tuple[CommandSetting, ...] = ()
    selects: tuple[CommandSetting, ...] = ()
    # Commands whose access level is above the device's authorized role (the API refuses them).
    restricted: frozenset[str] = frozenset()
    # What the manifest declared past the limits (ignored).
    refused_telemetry: int = 0
    refused_commands: int = 0

    def allowed(self, *commands: str) -> bool:
        """Whether the token's role on the device may run all of these commands."""
        return not self.restricted.intersection(commands)

    @classmethod
    def of(cls, manifest: Manifest | None, role: str | None = None) -> DevicePlan:
        """Plan a device from its manifest and the token's role on it; none without a manifest."""
        if manifest is None:
            return cls()
        refused_telemetry = max(0, len(manifest.telemetry) - MAX_TELEMETRY)
        refused_commands = max(0, len(manifest.commands) - MAX_COMMANDS)
        if refused_telemetry or refused_commands:
            # The first ones, in the manifest's order: the same ones on every listing.
            manifest = replace(
                manifest,
                telemetry=dict(islice(manifest.telemetry.items(), MAX_TELEMETRY)),
                commands=dict(islice(manifest.commands.items(), MAX_COMMANDS)),
            )
        pairs = tuple(command_pairs(manifest))
        paired = {name for pair in pairs for name in (pair.on, pair.off)}
        buttons = tuple(
            name
            for name, spec in manifest.commands.items()
            if name not in paired and not spec.required_arguments
        )
        numbers, selects = command_settings(manifest)
        restricted = frozenset(
            name
            for name, spec in manifest.commands.items()
            if not role_may_run(role, spec.access_level)
        )
        return cls(
            manifest,
            pairs,
            buttons,
            tuple(numbers),
            tuple(selects),
            restricted,
            refused_telemetry,
            refused_commands,
        )


# --- the site ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """How many new ``what`` (devices, commands...) a limit of ``limit`` left out."""

    what: str
    limit: int
    count: int


@dataclass(frozen=True, slots=True)
class DeviceListChange:
    """How a new device list differs from the one before it."""

    added: tuple[EnapterDevice, ...]
    gone: tuple[EnapterDevice, ...]
    # Devices listed before and now whose manifest (or the token's role on them) changed.
    new_manifest: tuple[EnapterDevice, ...]
    # New devices ignored because the site reached MAX_DEVICES.
    refused: int = 0

    @property
    def new_entities(self) -> bool:
        """Whether the change may call for entities that do not exist yet."""
        return bool(self.added or self.new_manifest)


class SiteDevices(Mapping[str, EnapterDevice]):
    """The site's devices by id, as last listed, with their plans and switch bookkeeping."""

    def __init__(self) -> None:
        """Start with no devices: the coordinator lists them before the first poll."""
        self._devices: dict[str, EnapterDevice] = {}
        self._plans: dict[str, DevicePlan] = {}
        self._request_map: dict[str, list[str]] = {}
        # Shared with every poll's EnapterDeviceState, so a command shows at once.
        self._pending: dict[str, dict[str, SentValue]] = {}
        self._assumed: dict[str, dict[str, SentValue]] = {}
        self._refusals: tuple[Refusal, ...] = ()

    def __getitem__(self, device_id: str) -> EnapterDevice:
        return self._devices[device_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._devices)

    def __len__(self) -> int:
        return len(self._devices)

    @property
    def plans(self) -> Mapping[str, DevicePlan]:
        """Device id -> what its manifest calls for."""
        return self._plans

    @property
    def request_map(self) -> dict[str, list[str]]:
        """Device id -> the telemetry attributes every poll reads."""
        return self._request_map

    @property
    def refusals(self) -> tuple[Refusal, ...]:
        """What each limit left out of the last device list (counts may be 0)."""
        return self._refusals

    def update(
        self, listed: Iterable[EnapterDevice], existing: Collection[str] = ()
    ) -> DeviceListChange:
        """Take a new device list; plan devices whose manifest is new.

        ``existing`` are the ids of the entry's devices Home Assistant already
        has, listed or not: they are always kept and count against MAX_DEVICES,
        which new devices may only fill up.
        """
        before = self._devices
        occupied = {*existing, *before}
        devices: dict[str, EnapterDevice] = {}
        refused: set[str] = set()
        for device in listed:
            if device.id not in occupied:
                if len(occupied) >= MAX_DEVICES:
                    refused.add(device.id)
                    continue
                occupied.add(device.id)
            devices.setdefault(device.id, device)
        change = DeviceListChange(
            added=tuple(device for key, device in devices.items() if key not in before),
            gone=tuple(device for key, device in before.items() if key not in devices),
            new_manifest=tuple(
                device
                for key, device in devices.items()
                if key in before
                and (
                    before[key].manifest != device.manifest
                    or before[key].authorized_role != device.authorized_role
                )
            ),
            refused=len(refused),
        )
        replanned = {device.id for device in (*change.added, *change.new_manifest)}
        self._plans = {
            key: DevicePlan.of(device.manifest, device.authorized_role)
            if key in replanned
            else self._plans[key]
            for key, device in devices.items()
        }
        self._devices = devices
        self._request_map = {
            key: list(plan.manifest.telemetry)
            for key, plan in self._plans.items()
            if plan.manifest.telemetry
        }
        plans = self._plans.values()
        self._refusals = (
            Refusal("devices", MAX_DEVICES, len(refused)),
            Refusal("telemetry attributes", MAX_TELEMETRY, sum(p.refused_telemetry for p in plans)),
            Refusal("commands", MAX_COMMANDS, sum(p.refused_commands for p in plans)),
        )
        return change

    def gateway_for(self, device: EnapterDevice) -> str | None:
        """The id of the gateway a device runs on, if the site has exactly one gateway."""
        if device.type not in ON_GATEWAY_TYPES:
            return None
        gateways = [key for key, listed in self._devices.items() if listed.type == "GATEWAY"]
        return gateways[0] if len(gateways) == 1 else None

    def read(self, telemetry: Mapping[str, Mapping[str, TelemetryPoint]]) -> SiteState:
        """Every device's state with a poll's telemetry."""
        states: dict[str, EnapterDeviceState] = {}
        for device_id, device in self._devices.items():
            pending = self._pending.setdefault(device_id, {})
            # This poll was read after the command: it shows the truth now.
            pending.clear()
            states[device_id] = EnapterDeviceState(
                device=device,
                telemetry=telemetry.get(device_id, {}),
                pending=pending,
                assumed=self._assumed.setdefault(device_id, {}),
            )
        return SiteState(devices=states)

    def sent(self, device_id: str, key: str, value: SentValue) -> None:
        """Note what an entity's command set: shown now, assumed until telemetry says."""
        self._pending.setdefault(device_id, {})[key] = value
        self._assumed.setdefault(device_id, {})[key] = value

    def restore(self, device_id: str, key: str, value: SentValue) -> None:
        """Take the value an entity showed before a restart, unless a command set one since."""
        self._assumed.setdefault(device_id, {}).setdefault(key, value)
