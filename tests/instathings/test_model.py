"""The Instathings device state alone: records, documents, kinds and connectivity."""

from __future__ import annotations

from dataclasses import replace
import math
from typing import Any

import pytest

from custom_components.iot_bridge.api.instathings_events import DataRecord, InstathingsDevice
from custom_components.iot_bridge.instathings.model import (
    MAX_IDS_AT_TS,
    MAX_KEY_LENGTH,
    MAX_KEYS_PER_DEVICE,
    NOT_APPLIED,
    OLDER,
    Applied,
    InstathingsDeviceState,
    ValueKind,
    firmware,
    kind_of,
    link_children,
    numbers_of,
)


def blank_device(device_id: str = "x", **fields: Any) -> InstathingsDevice:
    device = InstathingsDevice(
        id=device_id, name=None, is_gateway=False, parent_id=None, sub_device_ids=(), type_id=None,
        software_version=None, versions={}, connected=None, is_virtual=None, env=None,
        project_id=None, protocols=(), created_ms=None,
    )  # fmt: skip
    return replace(device, **fields)


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("temperature", 21, ValueKind.NUMBER),
        ("temperature", 21.5, ValueKind.NUMBER),
        ("alarm", True, ValueKind.FLAG),
        ("state", "ON", ValueKind.SWITCH),
        ("state", "off", ValueKind.SWITCH),
        ("state", "open", ValueKind.TEXT),
        ("mode", "eco", ValueKind.TEXT),
        ("color", {"x": 1}, None),
        ("relays", [], None),
        ("nothing", None, None),
        ("", 1, None),
        ("x" * MAX_KEY_LENGTH, 1, ValueKind.NUMBER),
        ("x" * (MAX_KEY_LENGTH + 1), 1, None),
    ],
)
def test_kind_of(key: str, value: Any, kind: ValueKind | None) -> None:
    assert kind_of(key, value) == kind


def test_firmware() -> None:
    assert firmware(blank_device()) is None
    assert firmware(blank_device(software_version="custom")) == "custom"
    assert firmware(blank_device(software_version="instathings/gate:1.7.1")) == "1.7.1"


def test_records_older_or_seen_are_dropped() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    assert state.apply(DataRecord("d", 10, {"v": 1}, "a")) == Applied(True, new_kinds=True)
    assert state.apply(DataRecord("d", 10, {"v": 1}, "a")) == NOT_APPLIED  # same record
    assert state.apply(DataRecord("d", 10, {"v": 2}, None)) == NOT_APPLIED  # no id to tell
    assert state.apply(DataRecord("d", 10, {"v": 3}, "b")) == Applied(True)  # same ms, new record
    assert state.apply(DataRecord("d", 9, {"v": 0}, "c")) == OLDER  # older: history only
    assert state.values == {"v": 3}
    assert state.apply(DataRecord("d", 11, {"w": 1}, None)) == Applied(True, new_kinds=True)
    assert state.values == {"v": 3, "w": 1}  # records merge


def test_new_keys_stop_at_the_device_cap() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    flood = {f"k{index}": index for index in range(10_000)}
    result = state.apply(DataRecord("d", 1, {"temperature": 20.0, **flood}))
    assert result == Applied(True, new_kinds=True, refused=10_001 - MAX_KEYS_PER_DEVICE)
    assert len(state.values) == len(state.kinds) == MAX_KEYS_PER_DEVICE
    assert state.key_room == 0
    # Known keys keep updating; new ones are refused, however often they come.
    result = state.apply(DataRecord("d", 2, {"temperature": 21.0, "state": "ON", "k0": 5}))
    assert result == Applied(True, refused=1)
    assert state.values["temperature"] == 21.0
    assert state.values["k0"] == 5
    assert "state" not in state.values
    assert state.state_reports == 0


def test_the_caller_may_allow_fewer_new_keys() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    assert state.apply(DataRecord("d", 1, {"a": 1, "b": 2, "c": 3}), room=2).refused == 1
    assert state.values == {"a": 1, "b": 2}
    assert state.apply(DataRecord("d", 2, {"a": 4, "d": 5}), room=-3) == Applied(True, refused=1)
    assert state.values == {"a": 4, "b": 2}


def test_record_ids_at_one_timestamp_are_bounded() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    for index in range(MAX_IDS_AT_TS * 3):
        assert state.apply(DataRecord("d", 5, {"v": index}, f"id{index}")).applied
    assert len(state.ids_at_last_ts) == MAX_IDS_AT_TS
    assert state.values == {"v": MAX_IDS_AT_TS * 3 - 1}


def test_a_key_keeps_its_first_kind() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    state.apply(DataRecord("d", 1, {"temperature": 20.5, "color": {"x": 1}}))
    state.apply(DataRecord("d", 2, {"temperature": "hot"}))
    assert state.kinds == {"temperature": ValueKind.NUMBER}
    assert state.values["temperature"] == "hot"


def test_catch_up_starts_at_the_last_record_or_creation() -> None:
    state = InstathingsDeviceState(blank_device("d"), since=500)
    assert state.catch_up_start == 500
    state.apply(DataRecord("d", 700, {"v": 1}))
    assert state.catch_up_start == 700


def test_assumed_state_lasts_until_the_device_reports() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    state.apply(DataRecord("d", 1, {"state": "OFF"}))
    reports = state.state_reports
    state.assume_state("ON", reports)
    assert state.optimistic == {"state": "ON"}
    state.apply(DataRecord("d", 2, {"power": 5.0}))
    assert state.optimistic == {"state": "ON"}
    state.apply(DataRecord("d", 3, {"state": "OFF"}))
    assert state.optimistic == {}
    # A report that arrived while the command was in flight wins over the command.
    reports = state.state_reports
    state.apply(DataRecord("d", 4, {"state": "OFF"}))
    state.assume_state("ON", reports)
    assert state.optimistic == {}


def test_document_update_keeps_the_version_and_says_when_names_change() -> None:
    gateway = blank_device(
        "g",
        name="Gate",
        is_gateway=True,
        software_version="instathings/gate:1.7.1",
        versions={"gate": "instathings/gate:1.7.1"},
        connected=True,
    )
    state = InstathingsDeviceState(gateway, connected=True)
    # A connect event without a version object, and without a status.
    assert not state.update_document(replace(gateway, software_version=None, versions={}))
    assert state.device.software_version == "instathings/gate:1.7.1"
    assert state.device.versions == {"gate": "instathings/gate:1.7.1"}
    assert not state.update_document(replace(gateway, connected=None))
    assert state.connected is True
    assert not state.update_document(replace(gateway, connected=False))
    assert state.connected is False
    assert state.update_document(replace(gateway, software_version="instathings/gate:1.8.0"))
    assert state.update_document(replace(gateway, name="Home gate"))
    assert state.update_document(replace(gateway, name="Home gate", type_id="t1"))


def test_children_follow_their_gateway() -> None:
    devices = {
        "g": InstathingsDeviceState(blank_device("g", is_gateway=True), connected=True),
        "c": InstathingsDeviceState(blank_device("c", parent_id="g")),
        "v": InstathingsDeviceState(blank_device("v")),
        "o": InstathingsDeviceState(blank_device("o", parent_id="unknown")),
    }
    assert link_children(devices) == {"c"}
    assert devices["c"].reachable
    assert link_children(devices) == set()
    devices["g"].connected = False
    assert link_children(devices) == {"c"}
    assert not devices["c"].reachable
    assert not devices["g"].reachable
    assert devices["v"].reachable
    assert devices["o"].reachable


def test_numbers_of_a_record_are_its_finite_numeric_keys() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    state.apply(DataRecord("d", 1, {"t": 1.5, "n": 2, "on": True, "s": "x", "big": 10**400}))
    late = DataRecord("d", 0, {"t": math.nan, "n": 7, "on": 1, "s": 3, "big": 10**400, "new": 1})
    # Only keys the device knows as numbers; NaN and integers beyond any float are no reading.
    assert numbers_of(state, late) == {"n": 7.0}
