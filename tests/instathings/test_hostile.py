"""An Instathings project that misbehaves: what it may create, times it cannot mean, bugs.

Every test drives the simulator over real REST and websocket traffic. Caps are
scaled down where the real ones would make the test slow; the device key cap is
also proven at its real size with a device that sends 10,000 distinct keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iot_bridge.api.backoff import Backoff
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.instathings import coordinator as coordinator_module, model
from custom_components.iot_bridge.instathings.coordinator import InstathingsCoordinator
from custom_components.iot_bridge.instathings.model import MAX_KEYS_PER_DEVICE
from simulators.instathings import (
    GATEWAY_ID,
    PLUG_ID,
    SENSOR_ID,
    VIRTUAL_ID,
    InstathingsSimulator,
)
from tests.devices import entry_devices, find_device, remove_device

from .conftest import Flapping, coordinator_of, setup_live, wait_for
from .test_entities import state_of
from .test_stream import TEMPERATURE, drop, record_states

YEAR_2100_MS = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000)
YEAR_1999_MS = int(datetime(1999, 12, 31, tzinfo=UTC).timestamp() * 1000)


def _in_hours(hours: float) -> int:
    return int((datetime.now(UTC) + timedelta(hours=hours)).timestamp() * 1000)


def issue(hass: HomeAssistant, entry: MockConfigEntry, what: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{what}_limit")


def entity_keys(
    entity_registry: er.EntityRegistry, entry: MockConfigEntry, device: str
) -> set[str]:
    """The data keys that have an entity on one device."""
    prefix = f"demo_{device}_"
    return {
        entity.unique_id.removeprefix(prefix)
        for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
        if entity.unique_id.startswith(prefix)
    }


def warnings(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def made_up_keys(count: int, prefix: str = "k") -> dict[str, Any]:
    return {f"{prefix}{index}": index for index in range(count)}


async def delete(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, entry: MockConfigEntry, key: str
) -> bool:
    """Delete a device as its page's delete button does."""
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    device = find_device(hass, (DOMAIN, f"instathings_{key}"))
    assert device is not None
    return await remove_device(client, entry.entry_id, device.id)


async def reconnect(sim: InstathingsSimulator, entry: MockConfigEntry) -> None:
    """Drop the websocket and wait for the next connection (and its catch-up)."""
    coordinator = coordinator_of(entry)
    connects = coordinator.stream_stats["connects"]
    await drop(sim, entry)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caps small enough to pass in a test: 8 devices, 6 keys each, 24 keys in all.

    The project starts with 4 devices and 12 keys (sensor 4, plug 6, virtual 2).
    """
    for module in (model, coordinator_module):
        monkeypatch.setattr(module, "MAX_DEVICES", 8)
        monkeypatch.setattr(module, "MAX_KEYS_PER_DEVICE", 6)
        monkeypatch.setattr(module, "MAX_KEYS_PER_PROJECT", 24)


# --- keys per device --------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_device_sending_10000_keys_creates_at_most_the_cap(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    known = entity_keys(entity_registry, init_integration, SENSOR_ID)
    assert known == {"temperature", "humidity", "battery", "linkquality"}
    await sim.add_data(SENSOR_ID, {"temperature": 30.0, **made_up_keys(10_000)})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "30.0")
    await hass.async_block_till_done()
    created = entity_keys(entity_registry, init_integration, SENSOR_ID)
    assert len(created) == MAX_KEYS_PER_DEVICE
    assert known < created
    assert warnings(caplog, "past the limit of 200") == 1
    found = issue(hass, init_integration, "data keys of one device")
    assert found is not None
    assert found.translation_key == "limit_reached"
    assert found.translation_placeholders == {
        "name": "Instathings demo",
        "what": "data keys of one device",
        "limit": "200",
        "refused": str(10_000 - (MAX_KEYS_PER_DEVICE - len(known))),
    }

    # More made-up keys: nothing new, no new warning; what exists keeps working.
    await sim.add_data(SENSOR_ID, {"temperature": 31.0, **made_up_keys(500, "other")})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "31.0")
    assert entity_keys(entity_registry, init_integration, SENSOR_ID) == created
    assert warnings(caplog, "past the limit") == 1
    # Other devices have their own room.
    await sim.add_data(PLUG_ID, {"power_factor": 0.9})
    await wait_for(
        lambda: "power_factor" in entity_keys(entity_registry, init_integration, PLUG_ID)
    )
    assert init_integration.state is ConfigEntryState.LOADED
    assert coordinator_of(init_integration).stream_stats["refused_keys"] == 10_000 - 196 + 500


@pytest.mark.usefixtures("small_caps")
async def test_key_notice_goes_when_the_full_device_is_deleted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    hass_ws_client: WebSocketGenerator,
    entity_registry: er.EntityRegistry,
) -> None:
    await sim.add_data(VIRTUAL_ID, made_up_keys(10))
    await wait_for(lambda: issue(hass, init_integration, "data keys of one device") is not None)
    assert len(entity_keys(entity_registry, init_integration, VIRTUAL_ID)) == 6
    # While the device is listed it stays (and so does the notice)...
    assert not await delete(hass, hass_ws_client, init_integration, VIRTUAL_ID)
    # ...once Instathings no longer has it, deleting it makes room again.
    await sim.unpair_device(VIRTUAL_ID)
    await wait_for(lambda: coordinator_of(init_integration).devices[VIRTUAL_ID].gone)
    assert await delete(hass, hass_ws_client, init_integration, VIRTUAL_ID)
    assert issue(hass, init_integration, "data keys of one device") is None
    assert VIRTUAL_ID not in coordinator_of(init_integration).devices


@pytest.mark.usefixtures("small_caps")
async def test_keys_of_the_whole_project_are_capped(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    hass_ws_client: WebSocketGenerator,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = coordinator_of(init_integration)
    # 12 keys so far; each device may reach 6, all of them together 24.
    await sim.add_data(VIRTUAL_ID, made_up_keys(4))  # 16
    await sim.pair_device("Hall", "Hall0001")
    await sim.add_data("Hall0001", made_up_keys(6))  # 22
    await sim.pair_device("Attic", "Attic001")
    await sim.add_data("Attic001", {"temperature": 18.0, **made_up_keys(5)})  # 24: 4 refused
    await wait_for(lambda: issue(hass, init_integration, "data keys") is not None)
    await hass.async_block_till_done()
    assert coordinator._key_count() == 24
    assert entity_keys(entity_registry, init_integration, "Attic001") == {"temperature", "k0"}
    found = issue(hass, init_integration, "data keys")
    assert found is not None
    assert found.translation_placeholders is not None
    assert (found.translation_placeholders["limit"], found.translation_placeholders["refused"]) == (
        "24",
        "4",
    )
    assert issue(hass, init_integration, "data keys of one device") is None
    assert warnings(caplog, "past the limit of 24") == 1
    # Known keys still update.
    await sim.add_data("Attic001", {"temperature": 19.5})
    await wait_for(lambda: state_of(hass, "sensor.attic_temperature") == "19.5")

    await sim.unpair_device("Hall0001")
    await wait_for(lambda: coordinator.devices["Hall0001"].gone)
    assert await delete(hass, hass_ws_client, init_integration, "Hall0001")
    assert issue(hass, init_integration, "data keys") is None


# --- devices per project ----------------------------------------------------------


@pytest.mark.usefixtures("small_caps")
async def test_devices_from_the_list_and_pairings_stop_at_the_cap(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    hass_ws_client: WebSocketGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = coordinator_of(init_integration)
    made_up = sim.list_devices(10)
    await reconnect(sim, init_integration)
    assert len(coordinator.devices) == 8
    assert len(entry_devices(hass, init_integration.entry_id)) == 8
    found = issue(hass, init_integration, "devices")
    assert found is not None
    assert found.translation_placeholders is not None
    assert found.translation_placeholders["refused"] == "6"
    # Pairings past the cap are refused too; the gateway and its first children stay.
    events = coordinator.stream_stats["events"]
    for index in range(5):
        await sim.pair_device(f"Flood {index}", f"Flood{index:03d}")
    await wait_for(lambda: coordinator.stream_stats["events"] >= events + 5)
    assert len(entry_devices(hass, init_integration.entry_id)) == 8
    assert {GATEWAY_ID, SENSOR_ID, PLUG_ID, VIRTUAL_ID} <= set(coordinator.devices)
    assert warnings(caplog, "new devices past the limit of 8") == 1
    assert coordinator.stream_stats["refused_devices"] == 6 + 5
    # Real data keeps flowing.
    await sim.add_data(SENSOR_ID, {"temperature": 23.5})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "23.5")

    # The server stops listing a made-up device: deleting it makes room, the notice goes.
    admitted = next(key for key in made_up if key in coordinator.devices)
    del sim.devices[admitted]
    await reconnect(sim, init_integration)
    assert coordinator.devices[admitted].gone
    assert await delete(hass, hass_ws_client, init_integration, admitted)
    assert issue(hass, init_integration, "devices") is None
    # Still more listed than fit: the next sync takes one and says it again.
    await reconnect(sim, init_integration)
    assert len(coordinator.devices) == 8
    assert issue(hass, init_integration, "devices") is not None
    assert warnings(caplog, "new devices past the limit of 8") == 2


@pytest.mark.usefixtures("small_caps")
async def test_device_cap_at_set_up_keeps_gateways_first(
    hass: HomeAssistant, config_entry: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    # Listed before the gateway: a cap must not take children and drop their gateway.
    gateway = sim.devices.pop(GATEWAY_ID)
    sim.list_devices(20)
    sim.devices[GATEWAY_ID] = gateway
    coordinator = await setup_live(hass, config_entry)
    assert len(coordinator.devices) == 8
    assert GATEWAY_ID in coordinator.devices
    assert issue(hass, config_entry, "devices") is not None
    # A reload starts with a clean slate and finds the same.
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert issue(hass, config_entry, "devices") is not None
    assert len(coordinator_of(config_entry).devices) == 8
    # Unloading takes the notice with the entry.
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert issue(hass, config_entry, "devices") is None


# --- times that cannot be real ----------------------------------------------------


async def test_a_record_from_the_far_future_never_blocks_real_ones(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = coordinator_of(init_integration)
    last_ts = coordinator.devices[SENSOR_ID].last_ts
    seen = record_states(hass, TEMPERATURE)
    # Live: year 2100, two days ahead, and a clock that was never set (1999).
    await sim.add_data(SENSOR_ID, {"temperature": 99.0}, ts=YEAR_2100_MS)
    await sim.add_data(SENSOR_ID, {"temperature": 98.0}, ts=_in_hours(48))
    await sim.add_data(SENSOR_ID, {"temperature": 97.0}, ts=YEAR_1999_MS)
    await sim.add_data(SENSOR_ID, {"temperature": 25.0})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "25.0")
    assert seen == ["25.0"]
    assert coordinator.devices[SENSOR_ID].last_ts == sim.records[SENSOR_ID][-1]["ts"] > last_ts
    # One warning for all of them; the stream never dropped.
    assert warnings(caplog, "Skipping an Instathings message") == 1
    assert coordinator.stream_stats["drops"] == 0

    # Catch-up: the far-future records are the newest in the history; records made
    # while the socket was down still arrive.
    sim.fail_next(10_000, status=503)
    await drop(sim, init_integration)
    await sim.add_data(SENSOR_ID, {"temperature": 26.0})
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(0)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert state_of(hass, TEMPERATURE) == "26.0"
    assert seen == ["25.0", "26.0"]

    # Set-up again: the newest believable record is shown, and live data follows.
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    coordinator = coordinator_of(init_integration)
    coordinator.backoff = Backoff(initial=0.02, maximum=0.1, jitter=False)
    await wait_for(lambda: coordinator.stream_connected)
    assert state_of(hass, TEMPERATURE) == "26.0"
    await sim.add_data(SENSOR_ID, {"temperature": 27.0})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "27.0")


async def test_a_record_a_few_hours_ahead_is_believed(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    # Within a day: a clock in the wrong time zone, not an impossible time.
    await sim.add_data(SENSOR_ID, {"temperature": 24.0}, ts=_in_hours(3))
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "24.0")


# --- bugs ------------------------------------------------------------------------


async def test_a_bug_in_one_caught_up_record_skips_only_that_record(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coordinator = coordinator_of(init_integration)
    apply = model.InstathingsDeviceState.apply

    def buggy(self: model.InstathingsDeviceState, record: Any, **kwargs: Any) -> Any:
        if "poison" in record.data:
            raise RuntimeError("bug")
        return apply(self, record, **kwargs)

    monkeypatch.setattr(model.InstathingsDeviceState, "apply", buggy)
    sim.fail_next(10_000, status=503)
    await drop(sim, init_integration)
    # Kept in the cloud's history: every catch-up meets it again.
    await sim.add_data(SENSOR_ID, {"poison": 1})
    await sim.add_data(SENSOR_ID, {"temperature": 28.0})
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(0)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert state_of(hass, TEMPERATURE) == "28.0"
    await reconnect(sim, init_integration)
    assert coordinator.stream_connected
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum("Skipping an Instathings record" in e for e in errors) == 1


# --- all of it at once ------------------------------------------------------------


@pytest.mark.usefixtures("small_caps", "entity_registry_enabled_by_default")
async def test_hostile_server(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    flapping: Flapping,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that does everything wrong at once, scaled down; the entry stays healthy."""
    coordinator: InstathingsCoordinator = coordinator_of(init_integration)
    ts = sim.records[SENSOR_ID][-1]["ts"]
    # Made-up devices in the list and in pairings, one its own parent, one with a huge id.
    sim.list_devices(30)
    await sim.pair_device("Loop", "Loop0001")
    sim.devices["Loop0001"]["parentDevice"] = "Loop0001"
    await sim.emit({"action": "paired", "payload": sim.devices["Loop0001"]})
    await sim.pair_device("Long", "L" * 5000)
    # Made-up keys, impossible times, values of every kind, garbage.
    await sim.add_data(SENSOR_ID, {"temperature": 1e308, **made_up_keys(5000)})
    await sim.add_data(PLUG_ID, {"power": float("inf"), "voltage": float("nan")}, ts=ts + 10)
    await sim.add_data(PLUG_ID, {"current": 10**300, "energy": "lots"}, ts=ts + 11)
    await sim.add_data(VIRTUAL_ID, {"value": [1, 2], "note": "x" * 100_000, "": 1}, ts=ts + 12)
    await sim.add_data(SENSOR_ID, {"temperature": 50.0}, ts=YEAR_2100_MS)
    await sim.add_data(SENSOR_ID, {"temperature": 51.0}, ts=-1)
    await sim.add_data(SENSOR_ID, {"temperature": 52.0}, ts=10**400)
    await sim.emit_raw("[" * 100_000)
    await sim.emit_raw('{"action": "data", "payload": {"ts": 1e999}}')
    await sim.emit({"action": "connected", "payload": {"id": GATEWAY_ID, "isGateway": "yes"}})
    # A websocket that opens and closes at once, then a huge Retry-After.
    flapping.on = True
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.backoff.attempt >= 3)
    flapping.on = False
    sim.fail_next(1, status=429, retry_after=1e20)
    await wait_for(lambda: coordinator.stream_connected)

    await sim.add_data(SENSOR_ID, {"temperature": 21.5})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "21.5")
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert coordinator.stream_stats["item_errors"] == 0
    assert len(coordinator.devices) <= 8
    assert len(entry_devices(hass, init_integration.entry_id)) <= 8
    assert coordinator._key_count() <= 24
    assert all(len(state.values) <= 6 for state in coordinator.devices.values())
    assert len(er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)) <= 30
    for what in ("devices", "data keys of one device"):
        assert issue(hass, init_integration, what) is not None, what
    # Values Home Assistant cannot take as a number read as unknown, never as an error.
    assert state_of(hass, "sensor.kettle_plug_power") == "unknown"  # Infinity
    assert state_of(hass, "sensor.kettle_plug_voltage") == "unknown"  # NaN
    assert state_of(hass, "sensor.kettle_plug_energy") == "unknown"  # "lots"
    assert state_of(hass, "sensor.kettle_plug_current") == "1e+300"  # 301 digits
    assert "longer than 255" not in caplog.text
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("custom_components")
    ]
    assert errors == []
