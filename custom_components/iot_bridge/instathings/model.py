"""The state of an Instathings device: its document, its values and where its records stand.

Plain Python, fed by the coordinator and read by the entity descriptions.
Instathings forwards whatever a device sends, so there is no schema: a device's
values are the keys of its records merged one after the other, and what kind
of value a key holds (``ValueKind``) is fixed the first time the key is seen, so
the entity made for it, and its unique id, stay.

Because every new key becomes an entity, what a device may add is capped
(``MAX_KEYS_PER_DEVICE``); keys past the cap are ignored and counted, and the
coordinator tells the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
import math
from typing import Final

from ..api.instathings_events import DataRecord, InstathingsDevice

# The key whose ON/OFF value makes a device switchable (documented control body).
STATE_KEY = "state"
SWITCH_VALUES = ("ON", "OFF")

# Distinct data keys one device may have; each can become an entity. zigbee2mqtt's
# richest devices (multi-channel meters, thermostats) report well under 100 keys, so
# this leaves room for any real device while a device, gateway or server that
# invents keys (a firmware bug, a counter in the key name) cannot fill Home
# Assistant with entities.
MAX_KEYS_PER_DEVICE: Final = 200
# Devices one project may have: gateways, their sub-devices and standalone devices.
# A Zigbee network rarely passes 100-200 devices per coordinator, so this covers a
# few gateways and their networks; a server that lists or pairs made-up devices
# stops here instead of filling the device registry.
MAX_DEVICES: Final = 500
# Data keys of all devices of a project together: 16 per device at the device cap,
# about twice what real devices average. Without it, the two caps above would still
# let a hostile server create 100,000 entities; and Home Assistant (2026.x) itself
# stops adding entities past 10,000 per entry, silently as far as the user can tell.
MAX_KEYS_PER_PROJECT: Final = 8_000
# A key longer than this names no entity (its value is still kept): entity ids, unique
# ids and names are built from it, and no real device uses such names.
MAX_KEY_LENGTH: Final = 128
# Record ids remembered at the newest timestamp (to drop the same record seen twice).
# Devices send a few records per millisecond at most; past this, a duplicate at that
# very millisecond may be applied twice, which writes the same values again.
MAX_IDS_AT_TS: Final = 64


class ValueKind(StrEnum):
    """What a data key holds, as first seen."""

    NUMBER = "number"
    TEXT = "text"
    FLAG = "flag"
    # ``state`` holding ON or OFF: the device takes commands to switch it.
    SWITCH = "switch"


def kind_of(key: str, value: object) -> ValueKind | None:
    """The kind of a key's value; None when it gets no entity.

    Objects, lists and nulls get none, nor do keys that cannot name one (empty, or
    longer than ``MAX_KEY_LENGTH``).
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    if isinstance(value, bool):
        return ValueKind.FLAG
    if isinstance(value, int | float):
        return ValueKind.NUMBER
    if isinstance(value, str):
        if key == STATE_KEY and value.upper() in SWITCH_VALUES:
            return ValueKind.SWITCH
        return ValueKind.TEXT
    return None


def numbers_of(state: InstathingsDeviceState, record: DataRecord) -> dict[str, float]:
    """The record's values of the device's numeric keys (finite numbers only)."""
    found: dict[str, float] = {}
    for key, value in record.data.items():
        if state.kinds.get(key) is not ValueKind.NUMBER:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            continue
        if math.isfinite(number):
            found[key] = number
    return found


def firmware(device: InstathingsDevice) -> str | None:
    """The gateway software's version: ``instathings/gate:1.7.1`` -> ``1.7.1``."""
    image = device.software_version
    if not image:
        return None
    return image.rsplit(":", 1)[-1] if ":" in image else image


@dataclass(frozen=True, slots=True)
class Applied:
    """What one record did to a device.

    ``applied``: the record was newer than the last one and its values were taken.
    ``new_kinds``: keys that get an entity appeared. ``refused``: new keys that were
    ignored because the device (or the room the caller gave) was full. ``older``: not
    applied because it is older than the last one (history, not state).
    """

    applied: bool
    new_kinds: bool = False
    refused: int = 0
    older: bool = False


NOT_APPLIED: Final = Applied(applied=False)
OLDER: Final = Applied(applied=False, older=True)


@dataclass(slots=True)
class InstathingsDeviceState:
    """One device: its document, its values and where its records stand."""

    device: InstathingsDevice
    # Merged record by record (a record may carry only some keys); values are JSON.
    values: dict[str, object] = field(default_factory=dict)
    kinds: dict[str, ValueKind] = field(default_factory=dict)
    last_ts: int | None = None
    ids_at_last_ts: set[str] = field(default_factory=set)
    # Where catch-up starts while no record was seen (a newly paired device: its creation).
    since: int = 0
    # A gateway's cloud link (None: not known); children follow their gateway's.
    connected: bool | None = None
    parent_connected: bool | None = None
    # Unpaired or no longer listed: entities unavailable, device removable.
    gone: bool = False
    # Values set by a command and not yet confirmed by the device.
    optimistic: dict[str, str] = field(default_factory=dict)
    state_reports: int = 0

    @property
    def reachable(self) -> bool:
        """Whether the device's own values are current (its gateway is online)."""
        return self.connected is not False and self.parent_connected is not False

    @property
    def catch_up_start(self) -> int:
        """The timestamp from which records may still be missing."""
        return self.last_ts if self.last_ts is not None else self.since

    @property
    def key_room(self) -> int:
        """How many new data keys this device may still take."""
        return max(0, MAX_KEYS_PER_DEVICE - len(self.values))

    def apply(self, record: DataRecord, *, room: int | None = None) -> Applied:
        """Take a record unless it is older than, or the same as, the last one.

        Keys already known are always updated. New keys are taken while the device
        has room (``key_room``, or ``room`` when the caller allows fewer); the rest
        are ignored and counted in ``refused``.
        """
        if self.last_ts is not None:
            if record.ts < self.last_ts:
                return OLDER
            if record.ts == self.last_ts and (
                record.record_id is None or record.record_id in self.ids_at_last_ts
            ):
                return NOT_APPLIED
        if record.ts != self.last_ts:
            self.ids_at_last_ts.clear()
        self.last_ts = record.ts
        if record.record_id is not None and len(self.ids_at_last_ts) < MAX_IDS_AT_TS:
            self.ids_at_last_ts.add(record.record_id)
        free = self.key_room if room is None else min(self.key_room, max(0, room))
        refused = 0
        new_kinds = False
        for key, value in record.data.items():
            if key not in self.values:
                if free <= 0:
                    refused += 1
                    continue
                free -= 1
            self.values[key] = value
            if key not in self.kinds and (kind := kind_of(key, value)) is not None:
                self.kinds[key] = kind
                new_kinds = True
        if STATE_KEY in record.data and STATE_KEY in self.values:
            # The device reported its state: that, not our assumption, is shown now.
            self.optimistic.pop(STATE_KEY, None)
            self.state_reports += 1
        return Applied(applied=True, new_kinds=new_kinds, refused=refused)

    def update_document(self, device: InstathingsDevice) -> bool:
        """Take a newer document; keep the version it does not carry.

        Returns whether what names the device (name, firmware, type) changed.
        """
        old = self.device
        if device.software_version is None and old.software_version is not None:
            device = replace(device, software_version=old.software_version, versions=old.versions)
        self.device = device
        if device.connected is not None:
            self.connected = device.connected
        return (old.name, firmware(old), old.type_id) != (
            device.name,
            firmware(device),
            device.type_id,
        )

    def assume_state(self, value: str, reports_before: int) -> None:
        """Show a commanded ``state`` until the device reports one, unless it already has."""
        if self.state_reports == reports_before:
            self.optimistic[STATE_KEY] = value


def link_children(devices: Mapping[str, InstathingsDeviceState]) -> set[str]:
    """Give every child its gateway's connectivity; return the keys of those that changed."""
    changed: set[str] = set()
    for key, state in devices.items():
        parent_id = state.device.parent_id
        parent = devices.get(parent_id) if parent_id else None
        connected = parent.connected if parent is not None else None
        if state.parent_connected != connected:
            state.parent_connected = connected
            changed.add(key)
    return changed
