"""The state of an Instathings device: its document, its values and where its records stand.

Plain Python, fed by the coordinator and read by the entity descriptions.
Instathings forwards whatever a device sends, so there is no schema: a device's
values are the keys of its records merged one after the other, and what kind
of value a key holds (``ValueKind``) is fixed the first time the key is seen, so
the entity made for it, and its unique id, stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from ..api.instathings_events import DataRecord, InstathingsDevice

# The key whose ON/OFF value makes a device switchable (documented control body).
STATE_KEY = "state"
SWITCH_VALUES = ("ON", "OFF")


class ValueKind(StrEnum):
    """What a data key holds, as first seen."""

    NUMBER = "number"
    TEXT = "text"
    FLAG = "flag"
    # ``state`` holding ON or OFF: the device takes commands to switch it.
    SWITCH = "switch"


def kind_of(key: str, value: object) -> ValueKind | None:
    """The kind of a key's value; None for objects, lists and nulls (they get no entity)."""
    if isinstance(value, bool):
        return ValueKind.FLAG
    if isinstance(value, int | float):
        return ValueKind.NUMBER
    if isinstance(value, str):
        if key == STATE_KEY and value.upper() in SWITCH_VALUES:
            return ValueKind.SWITCH
        return ValueKind.TEXT
    return None


def firmware(device: InstathingsDevice) -> str | None:
    """The gateway software's version: ``instathings/gate:1.7.1`` -> ``1.7.1``."""
    image = device.software_version
    if not image:
        return None
    return image.rsplit(":", 1)[-1] if ":" in image else image


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

    def apply(self, record: DataRecord) -> tuple[bool, bool]:
        """Take a record unless it is older than, or the same as, the last one.

        Returns (applied, new keys appeared).
        """
        if self.last_ts is not None:
            if record.ts < self.last_ts:
                return False, False
            if record.ts == self.last_ts and (
                record.record_id is None or record.record_id in self.ids_at_last_ts
            ):
                return False, False
        if record.ts != self.last_ts:
            self.ids_at_last_ts.clear()
        self.last_ts = record.ts
        if record.record_id is not None:
            self.ids_at_last_ts.add(record.record_id)
        self.values.update(record.data)
        if STATE_KEY in record.data:
            # The device reported its state: that, not our assumption, is shown now.
            self.optimistic.pop(STATE_KEY, None)
            self.state_reports += 1
        new_keys = False
        for key, value in record.data.items():
            if key not in self.kinds and (kind := kind_of(key, value)) is not None:
                self.kinds[key] = kind
                new_keys = True
        return True, new_keys

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
