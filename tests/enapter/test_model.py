"""An Enapter site's model alone: device lists, plans, telemetry and switch bookkeeping."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.iot_bridge.api.enapter import (
    Connectivity,
    EnapterDevice,
    Manifest,
    TelemetryPoint,
    parse_manifest,
)
from custom_components.iot_bridge.api.enapter_manifest import TelemetrySpec
from custom_components.iot_bridge.enapter.model import (
    DevicePlan,
    EnapterDeviceState,
    SiteDevices,
    contradicts_connectivity,
    invalid_values,
    typed_value,
)

FRESH = 1_700_000_000.0


def _manifest(telemetry: dict[str, Any], commands: dict[str, Any] | None = None) -> Manifest:
    parsed = parse_manifest({"telemetry": telemetry, "commands": commands or {}})
    assert parsed is not None
    return parsed


HEATER = _manifest(
    {
        "heater_enabled": {"display_name": "Heater", "type": "boolean"},
        "power": {"display_name": "Power", "type": "float", "unit": "W"},
        "status": {"display_name": "Status", "type": "string", "enum": ["idle", "running"]},
    },
    {
        "enable_heater": {"display_name": "Enable Heater"},
        "disable_heater": {"display_name": "Disable Heater"},
        "open": {"display_name": "Open"},
        "close": {"display_name": "Close"},
        "reboot": {"display_name": "Reboot"},
        "set_level": {
            "display_name": "Set Level",
            "arguments": {"level": {"type": "integer", "required": True}},
        },
    },
)


def _device(
    device_id: str,
    *,
    manifest: Manifest | None = HEATER,
    type_: str | None = "LUA",
    connectivity: Connectivity = "ONLINE",
) -> EnapterDevice:
    return EnapterDevice(
        id=device_id,
        name=device_id.title(),
        site_id="site",
        blueprint_id=None,
        type=type_,
        slug=None,
        connectivity=connectivity,
        manifest=manifest,
    )


@pytest.mark.parametrize(
    ("spec", "point", "expected"),
    [
        (TelemetrySpec("x", "float"), TelemetryPoint(1.0, 2), 2),
        (TelemetrySpec("x", "float"), TelemetryPoint(1.0, True), None),
        (TelemetrySpec("x", "float"), TelemetryPoint(None, 2.0), None),
        (TelemetrySpec("x", "boolean"), TelemetryPoint(1.0, 1), None),
        (TelemetrySpec("x", "string"), TelemetryPoint(1.0, 5), None),
        (TelemetrySpec("x", "integer", enum=("1", "2")), TelemetryPoint(1.0, 2.0), "2"),
        (TelemetrySpec("x", "integer", enum=("1", "2")), TelemetryPoint(1.0, 2.5), None),
        (TelemetrySpec("x", "string", enum=("a",)), TelemetryPoint(1.0, ["a"]), None),
        (TelemetrySpec("x", "string", enum=("a",)), TelemetryPoint(1.0, False), None),
    ],
)
def test_typed_value(spec: TelemetrySpec, point: TelemetryPoint, expected: object) -> None:
    assert typed_value(spec, point) == expected


def test_long_text_is_cut_to_a_state() -> None:
    assert typed_value(TelemetrySpec("x", "string"), TelemetryPoint(FRESH, "a" * 300)) == "a" * 255


def test_device_state_reads_only_what_the_manifest_declares() -> None:
    state = EnapterDeviceState(
        device=_device("heater"),
        telemetry={
            "power": TelemetryPoint(FRESH, 1500.0),
            "status": TelemetryPoint(FRESH, "exploded"),
            "undeclared": TelemetryPoint(FRESH, 1),
        },
    )
    assert state.value("power") == 1500.0
    assert state.value("status") is None  # not one of the manifest's options
    assert state.value("undeclared") is None
    assert state.value("heater_enabled") is None  # not reported
    assert state.declares("heater_enabled")
    assert not state.declares("undeclared")
    gone = EnapterDeviceState(device=None)
    assert gone.value("power") is None
    assert not gone.declares("power")


def test_invalid_values_are_recent_values_the_manifest_refuses() -> None:
    points = {
        "power": TelemetryPoint(FRESH, "lots"),
        "status": TelemetryPoint(FRESH, "running"),
        "heater_enabled": TelemetryPoint(None, "stale, so not judged"),
        "undeclared": TelemetryPoint(FRESH, object()),
    }
    found = [(name, value) for name, _, value in invalid_values(_device("heater"), points)]
    assert found == [("power", "lots")]
    assert list(invalid_values(_device("bare", manifest=None), points)) == []


@pytest.mark.parametrize(
    ("connectivity", "timestamps", "contradicted"),
    [
        ("ONLINE", [FRESH, None], False),
        ("ONLINE", [None, None], True),
        ("UNKNOWN", [None], True),
        ("OFFLINE", [None], False),
        ("OFFLINE", [FRESH], True),
        ("OFFLINE", [], False),
    ],
)
def test_connectivity_contradicted_by_telemetry(
    connectivity: Connectivity, timestamps: list[float | None], contradicted: bool
) -> None:
    device = _device("heater", connectivity=connectivity)
    points = {f"a{index}": TelemetryPoint(ts, 1) for index, ts in enumerate(timestamps)}
    assert contradicts_connectivity(device, points) is contradicted


def test_plan_pairs_commands_and_keeps_the_rest_as_buttons() -> None:
    plan = DevicePlan.of(HEATER)
    assert [(pair.on, pair.off) for pair in plan.switches] == [
        ("enable_heater", "disable_heater"),
        ("open", "close"),
    ]
    # A command that needs arguments is neither.
    assert plan.buttons == ("reboot",)
    assert DevicePlan.of(None) == DevicePlan()


def test_device_list_changes() -> None:
    devices = SiteDevices()
    first = devices.update([_device("a"), _device("b")])
    assert [d.id for d in first.added] == ["a", "b"]
    assert first.new_entities
    assert list(devices) == ["a", "b"]
    assert devices.request_map == {
        "a": ["heater_enabled", "power", "status"],
        "b": ["heater_enabled", "power", "status"],
    }
    plan_a = devices.plans["a"]

    same = devices.update([_device("a"), _device("b")])
    assert not same.new_entities
    assert not same.gone
    # An unchanged manifest keeps its plan.
    assert devices.plans["a"] is plan_a

    bare = _manifest({})
    change = devices.update([_device("a", manifest=bare), _device("c", manifest=None)])
    assert [d.id for d in change.added] == ["c"]
    assert [d.id for d in change.gone] == ["b"]
    assert [d.id for d in change.new_manifest] == ["a"]
    assert change.new_entities
    assert devices.plans["a"] == DevicePlan(manifest=bare)
    assert set(devices.plans) == {"a", "c"}
    # Devices without telemetry are not asked for any.
    assert devices.request_map == {}
    assert "b" not in devices
    assert len(devices) == 2


def test_lua_devices_run_on_the_only_gateway() -> None:
    devices = SiteDevices()
    gateway = _device("gw", manifest=None, type_="GATEWAY")
    lua = _device("lua", type_="LUA")
    native = _device("native", type_="NATIVE")
    devices.update([gateway, lua, native])
    assert devices.gateway_for(lua) == "gw"
    assert devices.gateway_for(native) is None
    devices.update([gateway, _device("gw2", manifest=None, type_="GATEWAY"), lua])
    assert devices.gateway_for(lua) is None


def test_a_command_shows_until_the_next_poll_and_is_assumed_after() -> None:
    devices = SiteDevices()
    devices.update([_device("heater")])
    heater, door = DevicePlan.of(HEATER).switches  # heater follows telemetry, the door cannot
    state = devices.read({}).devices["heater"]
    assert heater.is_on(state) is None
    assert door.is_on(state) is None

    devices.switched("heater", heater.key, True)
    devices.switched("heater", door.key, True)
    # The state entities already hold shows the commands at once.
    assert heater.is_on(state) is True
    assert door.is_on(state) is True

    after = devices.read({"heater": {"heater_enabled": TelemetryPoint(FRESH, False)}})
    state = after.devices["heater"]
    assert state.pending == {}
    # The next poll tells the truth where telemetry exists; the rest stays assumed.
    assert heater.is_on(state) is False
    assert door.is_on(state) is True


def test_a_switch_following_a_state_enum() -> None:
    devices = SiteDevices()
    manifest = _manifest(
        {"status": {"display_name": "Status", "type": "string", "enum": ["idle", "running"]}},
        {"start": {"display_name": "Start"}, "stop": {"display_name": "Stop"}},
    )
    devices.update([_device("electrolyser", manifest=manifest)])
    (pair,) = devices.plans["electrolyser"].switches
    running = devices.read({"electrolyser": {"status": TelemetryPoint(FRESH, "running")}})
    idle = devices.read({"electrolyser": {"status": TelemetryPoint(FRESH, "idle")}})
    assert pair.is_on(running.devices["electrolyser"]) is True
    assert pair.is_on(idle.devices["electrolyser"]) is False
