"""Polling: one request per poll, hourly device lists, dynamic and vanished devices,
unavailability, rate limits and values that do not fit their manifest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iot_bridge.const import DOMAIN
from simulators.enapter import BATTERY_MANIFEST, EnapterSimulator
from tests.devices import entry_devices, find_device, remove_device

from .conftest import advance

Setup = Callable[[], Awaitable[MockConfigEntry]]
LATEST = "/v3/telemetry/latest"
POWER = "sensor.grid_meter_total_active_power"


def listings(sim: EnapterSimulator) -> int:
    return sum(n for path, n in sim.requests_by_path.items() if path.endswith("/devices"))


async def test_one_request_per_poll_and_hourly_device_list(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry()
    assert (listings(sim), sim.requests_by_path[LATEST]) == (3, 1)
    sim.set_value(sim.meter.id, "total_power", 1234.5)
    await advance(hass, freezer)
    assert hass.states.get(POWER).state == "1234.5"
    for _ in range(10):
        await advance(hass, freezer)
    # Eleven polls, eleven requests: no device listing, never one request per device.
    assert (listings(sim), sim.requests_by_path[LATEST]) == (3, 12)
    latest = [r for r in sim.requests if r.path == LATEST][-1]
    assert {key for key in latest.query if key.startswith("devices[")} == {
        f"devices[{device.id}]"
        for device in (sim.gateway, sim.electrolyser, sim.battery, sim.meter)
    }
    await advance(hass, freezer, timedelta(hours=1))
    assert (listings(sim), sim.requests_by_path[LATEST]) == (6, 13)


async def test_new_device_gets_entities_without_reload(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    lab_id: str,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = await setup_entry()
    new = sim.add_device("battery", lab_id, name="Second Battery")
    await advance(hass, freezer)
    assert hass.states.get("sensor.second_battery_state_of_charge") is None
    await advance(hass, freezer, timedelta(hours=1), reporting=sim)
    assert hass.states.get("sensor.second_battery_state_of_charge").state == "64.5"
    assert hass.states.get("switch.second_battery_charging").state == "on"
    device = find_device(hass, (DOMAIN, f"enapter_{new.id}"))
    assert device is not None
    assert device in entry_devices(hass, entry.entry_id)
    # It runs Lua on the site's gateway.
    gateway = find_device(hass, (DOMAIN, f"enapter_{sim.gateway.id}"))
    assert device.via_device_id == gateway.id


async def test_changed_manifest_adds_entities(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry()
    manifest = sim.meter.manifest
    manifest["telemetry"]["thd"] = {"display_name": "THD", "type": "float", "unit": "%"}
    sim.set_value(sim.meter.id, "thd", 2.5)
    del manifest["telemetry"]["frequency"]
    await advance(hass, freezer, timedelta(hours=1), reporting=sim)
    assert hass.states.get("sensor.grid_meter_thd").state == "2.5"
    # An attribute the manifest no longer declares is unavailable, not stale.
    assert hass.states.get("sensor.grid_meter_frequency").state == STATE_UNAVAILABLE


async def test_vanished_device_is_unavailable_and_removable(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    entry = await setup_entry()
    assert await async_setup_component_config(hass)
    client = await hass_ws_client(hass)
    meter = find_device(hass, (DOMAIN, f"enapter_{sim.meter.id}"))
    battery = find_device(hass, (DOMAIN, f"enapter_{sim.battery.id}"))

    async def remove(device_id: str) -> bool:
        return await remove_device(client, entry.entry_id, device_id)

    assert not await remove(meter.id)  # still on the site
    sim.remove_device(sim.meter.id)
    await advance(hass, freezer, timedelta(hours=1), reporting=sim)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.battery_rack_state_of_charge").state == "64.5"
    assert await remove(meter.id)
    assert device_registry.async_get(meter.id) is None
    assert not await remove(battery.id)


async def async_setup_component_config(hass: HomeAssistant) -> bool:
    return await async_setup_component(hass, "config", {})


async def test_unavailable_and_back_logged_once(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await setup_entry()
    sim.fail_next(3, 500)
    for _ in range(3):
        await advance(hass, freezer)
        assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    # The API's errors array, in one error line (newer releases add a debug traceback).
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum("Simulated failure 500" in r.getMessage() for r in errors) == 1
    await advance(hass, freezer)
    assert hass.states.get(POWER).state == "2450.0"
    assert caplog.text.count("Fetching Enapter Hydrogen Lab data recovered") == 1


async def test_rate_limit_stretches_the_next_poll(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, freezer: FrozenDateTimeFactory
) -> None:
    entry = await setup_entry()
    coordinator = entry.runtime_data.coordinator
    sim.rate_limit_next(1, retry_after=120)
    await advance(hass, freezer)
    assert coordinator.update_interval == timedelta(seconds=120)
    polls = sim.requests_by_path[LATEST]
    await advance(hass, freezer, timedelta(seconds=60))
    assert sim.requests_by_path[LATEST] == polls  # not yet
    await advance(hass, freezer, timedelta(seconds=61))
    assert sim.requests_by_path[LATEST] == polls + 1
    assert coordinator.update_interval == timedelta(seconds=30)
    assert hass.states.get(POWER).state == "2450.0"


async def test_offline_device_unavailable_then_back(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry()
    sim.set_offline(sim.meter.id)
    # An offline device stops reporting: its values age past the relevance interval...
    await advance(hass, freezer, timedelta(minutes=6), reporting=sim)
    assert hass.states.get(POWER).state == STATE_UNKNOWN
    listed = listings(sim)
    # ...which makes the next poll check connectivity well before the hourly listing.
    await advance(hass, freezer, reporting=sim)
    assert listings(sim) == listed + 3
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    assert hass.states.get("switch.electrolyser_el_2_1_production").state == "off"
    # Back online and reporting: noticed the same way.
    sim.set_offline(sim.meter.id, False)
    await advance(hass, freezer, reporting=sim)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    await advance(hass, freezer, timedelta(minutes=5), reporting=sim)
    assert hass.states.get(POWER).state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)


async def test_offline_at_setup(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    sim.set_offline(sim.battery.id)
    await setup_entry()
    assert hass.states.get("sensor.battery_rack_state_of_charge").state == STATE_UNAVAILABLE
    assert hass.states.get("switch.battery_rack_charging").state == STATE_UNAVAILABLE
    assert hass.states.get(POWER).state == "2450.0"


async def test_null_timestamp_is_unknown(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, freezer: FrozenDateTimeFactory
) -> None:
    sim.meter.telemetry["voltage_l1"] = (None, None)
    sim.electrolyser.telemetry["has_error"] = (None, None)
    await setup_entry()
    assert hass.states.get("sensor.grid_meter_voltage_l1").state == STATE_UNKNOWN
    assert hass.states.get("binary_sensor.electrolyser_el_2_1_has_error").state == STATE_UNKNOWN
    sim.set_value(sim.meter.id, "voltage_l1", 229.9)
    await advance(hass, freezer)
    assert hass.states.get("sensor.grid_meter_voltage_l1").state == "229.9"


async def test_values_that_do_not_fit_are_unknown_with_one_warning(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim.set_value(sim.meter.id, "total_power", "lots")
    sim.set_value(sim.electrolyser.id, "status", "exploded")
    sim.set_value(sim.electrolyser.id, "has_error", "no")
    caplog.set_level(logging.WARNING)
    await setup_entry()
    await advance(hass, freezer)
    assert hass.states.get(POWER).state == STATE_UNKNOWN
    assert hass.states.get("sensor.electrolyser_el_2_1_status").state == STATE_UNKNOWN
    assert hass.states.get("binary_sensor.electrolyser_el_2_1_has_error").state == STATE_UNKNOWN
    # The switch that follows the status cannot tell either.
    assert hass.states.get("switch.electrolyser_el_2_1_production").state == STATE_UNKNOWN
    assert caplog.text.count("total_power reported 'lots'") == 1
    assert caplog.text.count("status reported 'exploded'") == 1
    # The rest of the device keeps working.
    assert hass.states.get("sensor.electrolyser_el_2_1_stack_temperature").state == "24.0"


async def test_device_without_manifest(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    lab_id: str,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    bare = sim.add_device("custom", lab_id, name="Bare", manifest={})
    bare.manifest = None  # type: ignore[assignment]
    numeric_enum = sim.add_device(
        "custom",
        lab_id,
        name="Modes",
        manifest={
            "telemetry": {
                "mode": {"display_name": "Mode", "type": "integer", "enum": [0, 1, 2]},
                "note": {"display_name": "Note", "type": "string"},
                "pack": {**BATTERY_MANIFEST["telemetry"]["soc"], "unit": "mystery"},
            }
        },
    )
    sim.set_value(numeric_enum.id, "mode", 1.0)
    sim.set_value(numeric_enum.id, "note", "x" * 300)
    sim.set_value(numeric_enum.id, "pack", 12)
    await setup_entry()
    assert find_device(hass, (DOMAIN, f"enapter_{bare.id}"))
    assert hass.states.get("sensor.modes_mode").state == "1"
    assert hass.states.get("sensor.modes_mode").attributes["options"] == ["0", "1", "2"]
    assert hass.states.get("sensor.modes_note").state == "x" * 255
    pack = hass.states.get("sensor.modes_state_of_charge")
    # An unknown unit stays as written, without a device class.
    assert pack.attributes["unit_of_measurement"] == "mystery"
    assert "device_class" not in pack.attributes
