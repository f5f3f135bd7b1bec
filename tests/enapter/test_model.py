"""An Enapter site's model alone: device lists, plans, telemetry and switch bookkeeping."""

from __future__ import annotations

from itertools import islice
import math
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.iot_bridge.api.enapter import (
    Connectivity,
    EnapterDevice,
    Manifest,
    TelemetryPoint,
    parse_manifest,
)
from custom_components.iot_bridge.api.enapter_manifest import CommandSpec, TelemetrySpec
from custom_components.iot_bridge.enapter import model
from custom_components.iot_bridge.enapter.model import (
    MAX_STATE_LENGTH,
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
    role: str | None = None,
) -> EnapterDevice:
    return EnapterDevice(
        id=device_id,
        name=device_id.title(),
        site_id="site",
        blueprint_id=None,
        type=type_,
        slug=None,
        connectivity=connectivity,
        authorized_role=role,
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

    devices.sent("heater", heater.key, True)
    devices.sent("heater", door.key, True)
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


# --- whatever the server sends ---------------------------------------------------

FAST = settings(max_examples=100, deadline=None)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**63])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
specs = st.builds(
    TelemetrySpec,
    display_name=st.text(max_size=5),
    type=st.sampled_from(["float", "integer", "string", "boolean"]),
    unit=st.none() | st.text(max_size=3),
    enum=st.none() | st.lists(st.text(max_size=3), max_size=3).map(tuple),
)
# Numbers Home Assistant cannot show, as often as anything else.
unshowable = st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)])
points = st.builds(
    TelemetryPoint,
    timestamp=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    value=unshowable | json_values,
)


def _showable(spec: TelemetrySpec, value: object) -> bool:
    """What Home Assistant can show for the attribute: its type, finite, short."""
    if value is None:
        return True
    if spec.enum is not None:
        return value in spec.enum
    if spec.type == "boolean":
        return isinstance(value, bool)
    if spec.type in ("float", "integer"):
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    return isinstance(value, str) and len(value) <= MAX_STATE_LENGTH


@FAST
@given(spec=specs, point=points)
def test_any_datapoint_is_a_showable_value_or_none(
    spec: TelemetrySpec, point: TelemetryPoint
) -> None:
    assert _showable(spec, typed_value(spec, point))


manifests = st.builds(
    Manifest,
    telemetry=st.dictionaries(st.text(max_size=6), specs, max_size=8),
    commands=st.dictionaries(
        st.sampled_from(["start", "stop", "enable_x", "disable_x", "on", "off", "open"])
        | st.text(max_size=8),
        st.builds(CommandSpec, display_name=st.text(max_size=8)),
        max_size=8,
    ),
)
devices = st.builds(
    EnapterDevice,
    id=st.sampled_from(["a", "b", "c", "d", "e", ""]),
    name=st.text(max_size=4),
    site_id=st.none(),
    blueprint_id=st.none(),
    type=st.sampled_from([None, "LUA", "GATEWAY", "NATIVE"]),
    slug=st.none(),
    connectivity=st.sampled_from(["ONLINE", "OFFLINE", "UNKNOWN"]),
    manifest=st.none() | manifests,
)
telemetry = st.dictionaries(
    st.sampled_from(["a", "b", "c", "x"]),
    st.dictionaries(st.text(max_size=6), points, max_size=6),
    max_size=4,
)


@FAST
@given(
    listings=st.lists(
        st.tuples(st.lists(devices, max_size=6), st.sets(st.sampled_from("abcxyz")), telemetry),
        min_size=1,
        max_size=4,
    ),
    max_devices=st.integers(0, 4),
    max_telemetry=st.integers(0, 5),
    max_commands=st.integers(0, 5),
)
def test_any_device_list_and_telemetry_stay_within_the_limits(
    listings: list[tuple[list[EnapterDevice], set[str], dict[str, dict[str, TelemetryPoint]]]],
    max_devices: int,
    max_telemetry: int,
    max_commands: int,
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "MAX_DEVICES", max_devices)
        patch.setattr(model, "MAX_TELEMETRY", max_telemetry)
        patch.setattr(model, "MAX_COMMANDS", max_commands)
        site = SiteDevices()
        for listed, existing, latest in listings:
            before = set(site)
            change = site.update(listed, existing)
            listed_ids = {device.id for device in listed}
            # Known devices are always kept; new ones only fill the room left.
            assert (before | existing) & listed_ids <= set(site)
            new = set(site) - before - existing
            assert not new or len(before | existing | new) <= max_devices
            assert change.refused == len(listed_ids - set(site))
            for device_id, plan in site.plans.items():
                assert len(plan.manifest.telemetry) <= max_telemetry
                assert len(plan.manifest.commands) <= max_commands
                assert len(site.request_map.get(device_id, ())) <= max_telemetry
            state = site.read(latest)
            for device_id, device_state in state.devices.items():
                manifest = device_state.device.manifest if device_state.device else None
                for attribute, spec in (manifest.telemetry if manifest else {}).items():
                    assert _showable(spec, device_state.value(attribute))
                for pair in site.plans[device_id].switches:
                    assert pair.is_on(device_state) in (True, False, None)
                assert isinstance(
                    contradicts_connectivity(site[device_id], latest.get(device_id, {})), bool
                )
                list(invalid_values(site[device_id], latest.get(device_id, {})))


def test_a_manifest_past_the_limits_keeps_its_first_entries() -> None:
    manifest = _manifest(
        {f"t{i:03d}": {"display_name": f"T{i}", "type": "float"} for i in range(250)},
        {f"c{i:03d}": {"display_name": f"C{i}"} for i in range(60)},
    )
    plan = DevicePlan.of(manifest)
    assert list(plan.manifest.telemetry) == list(islice(manifest.telemetry, model.MAX_TELEMETRY))
    assert list(plan.manifest.commands) == list(islice(manifest.commands, model.MAX_COMMANDS))
    assert (plan.refused_telemetry, plan.refused_commands) == (50, 10)
    assert DevicePlan.of(HEATER).refused_telemetry == 0


def test_devices_past_the_limit_are_refused_and_known_ones_kept() -> None:
    site = SiteDevices()
    listed = [_device(f"d{i:03d}") for i in range(model.MAX_DEVICES + 3)]
    change = site.update(listed)
    assert change.refused == 3
    assert list(site) == [device.id for device in listed[: model.MAX_DEVICES]]
    refusals = {refusal.what: refusal.count for refusal in site.refusals}
    assert refusals == {"devices": 3, "telemetry attributes": 0, "commands": 0}
    # Devices Home Assistant already has keep their place, listed or not.
    site = SiteDevices()
    change = site.update(listed[-2:], existing={"gone", *(d.id for d in listed[-2:])})
    assert set(site) == {device.id for device in listed[-2:]}
    assert change.refused == 0


SETTINGS = _manifest(
    {
        "production_rate": {"display_name": "Production Rate", "type": "float", "unit": "%"},
        "mode": {"display_name": "Mode", "type": "string", "enum": ["a", "b"]},
    },
    {
        "set_production_rate": {
            "display_name": "Set Production Rate",
            "arguments": {"rate": {"type": "float", "required": True, "min": 0, "max": 100}},
        },
        "choose": {
            "display_name": "Mode",
            "access_level": "owner",
            "arguments": {
                "mode": {"type": "string", "required": True, "enum": ["a", "b"]},
                "note": {"type": "string"},
            },
        },
        "set_limit": {
            "display_name": "Set Limit",
            "arguments": {"limit": {"type": "integer", "required": True}},
        },
        "rename": {"arguments": {"name": {"type": "string", "required": True}}},
        "flag": {"arguments": {"on": {"type": "boolean", "required": True}}},
        "two": {
            "arguments": {
                "a": {"type": "float", "required": True},
                "b": {"type": "float", "required": True},
            }
        },
        "wipe": {"display_name": "Wipe", "access_level": "vendor"},
    },
)


def test_settings_follow_the_telemetry_the_blueprint_ties_to_them() -> None:
    plan = DevicePlan.of(SETTINGS, "OWNER")
    numbers = {s.command: s for s in plan.numbers}
    selects = {s.command: s for s in plan.selects}
    # Free text, booleans and several required arguments: only the action runs them.
    assert set(numbers) == {"set_production_rate", "set_limit"}
    assert set(selects) == {"choose"}
    assert plan.buttons == ("wipe",)
    rate, limit, mode = numbers["set_production_rate"], numbers["set_limit"], selects["choose"]
    # Named as the command without its verb, or as the argument.
    assert (rate.attribute, rate.label, rate.argument) == (
        "production_rate",
        "Production Rate",
        "rate",
    )
    assert (mode.attribute, mode.label, mode.argument) == ("mode", "Mode", "mode")
    assert (limit.attribute, limit.optimistic) == (None, True)
    # The owner may run all but the vendor's command.
    assert plan.restricted == {"wipe"}
    assert DevicePlan.of(SETTINGS, "USER").restricted == {"wipe", "choose"}
    assert DevicePlan.of(SETTINGS, None).restricted == frozenset()

    devices = SiteDevices()
    devices.update([_device("el", manifest=SETTINGS)])
    points = {"production_rate": TelemetryPoint(FRESH, 70), "mode": TelemetryPoint(FRESH, "b")}
    state = devices.read({"el": points}).devices["el"]
    assert (rate.number(state), mode.option(state), limit.number(state)) == (70, "b", None)
    # After a restart the last value sent comes back; a command sent since wins.
    devices.restore("el", limit.key, 60)
    assert limit.number(state) == 60
    devices.sent("el", limit.key, 75)
    devices.restore("el", limit.key, 60)
    assert limit.number(state) == 75
    devices.sent("el", mode.key, "a")
    assert mode.option(state) == "a"  # until the next poll shows the truth
    state = devices.read({"el": {"mode": TelemetryPoint(FRESH, "b")}}).devices["el"]
    assert (mode.option(state), limit.number(state)) == ("b", 75)
    # A value outside the options is no option at all.
    state = devices.read({"el": {"mode": TelemetryPoint(FRESH, "c")}}).devices["el"]
    assert mode.option(state) is None


def test_a_new_role_replans_the_device() -> None:
    devices = SiteDevices()
    devices.update([_device("el", manifest=SETTINGS)])
    assert devices.plans["el"].restricted == frozenset()
    change = devices.update([_device("el", manifest=SETTINGS, role="USER")])
    assert [d.id for d in change.new_manifest] == ["el"]
    assert devices.plans["el"].restricted == {"wipe", "choose"}
