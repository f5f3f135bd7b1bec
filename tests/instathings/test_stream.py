"""The Instathings websocket in Home Assistant: events, reconnects, catch-up, availability."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iot_bridge.api.backoff import Backoff
from custom_components.iot_bridge.const import DOMAIN
from simulators.instathings import (
    GATEWAY_ID,
    PLUG_ID,
    SENSOR_ID,
    VIRTUAL_ID,
    InstathingsSimulator,
)
from tests.devices import find_device, remove_device

from .conftest import Flapping, coordinator_of, wait_for
from .test_entities import entity_id, state_of

TEMPERATURE = "sensor.living_room_temperature"
HUMIDITY = "sensor.living_room_humidity"
PLUG_POWER = "sensor.kettle_plug_power"
VIRTUAL_VALUE = "sensor.device1_value"
CONNECTION = "binary_sensor.home_gateway_cloud_connection"


def record_states(hass: HomeAssistant, entity: str) -> list[str]:
    """Every state an entity takes from now on."""
    seen: list[str] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen.append(new.state)

    async_track_state_change_event(hass, entity, changed)
    return seen


async def drop(sim: InstathingsSimulator, entry: MockConfigEntry, *, abrupt: bool = False) -> None:
    """Cut the websocket and wait until the integration noticed."""
    coordinator = coordinator_of(entry)
    drops = coordinator.stream_stats["drops"]
    await sim.drop_websockets(abrupt=abrupt)
    await wait_for(lambda: coordinator.stream_stats["drops"] > drops)


# --- live events ------------------------------------------------------------------


async def test_data_event_updates_only_its_device(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    plug_before = hass.states.get(PLUG_POWER)
    assert plug_before is not None
    await sim.add_data(SENSOR_ID, {**sim.sensor_data(), "temperature": 25.5})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "25.5")
    plug_after = hass.states.get(PLUG_POWER)
    assert plug_after is not None
    # The plug's entities were not written at all.
    assert plug_after.last_reported == plug_before.last_reported


async def test_duplicate_and_older_events_are_ignored(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    seen = record_states(hass, TEMPERATURE)
    await sim.add_data(SENSOR_ID, {"temperature": 26.0})
    await wait_for(lambda: seen == ["26.0"])
    newest = sim.records[SENSOR_ID][-1]
    older = sim.records[SENSOR_ID][-3]
    await sim.emit({"action": "data", "payload": newest})  # the same record again
    await sim.emit({"action": "data", "payload": {**older, "id": "late"}})  # an old one, late
    await sim.add_data(SENSOR_ID, {"temperature": 27.0})
    await wait_for(lambda: seen[-1] == "27.0")
    assert seen == ["26.0", "27.0"]


async def test_gateway_disconnect_makes_children_unavailable(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    await sim.set_gateway_connected(False)
    await wait_for(lambda: state_of(hass, CONNECTION) == "off")
    assert state_of(hass, TEMPERATURE) == STATE_UNAVAILABLE
    assert state_of(hass, PLUG_POWER) == STATE_UNAVAILABLE
    assert state_of(hass, "switch.kettle_plug") == STATE_UNAVAILABLE
    # A device that is not behind the gateway is not affected.
    assert state_of(hass, VIRTUAL_VALUE) != STATE_UNAVAILABLE

    await sim.set_gateway_connected(True)
    await wait_for(lambda: state_of(hass, CONNECTION) == "on")
    assert state_of(hass, TEMPERATURE) != STATE_UNAVAILABLE
    assert state_of(hass, PLUG_POWER) != STATE_UNAVAILABLE


async def test_software_version_updates_the_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    await sim.set_software_version("instathings/gate:1.8.0")

    def version() -> str | None:
        device = find_device(hass, (DOMAIN, f"instathings_{GATEWAY_ID}"))
        assert device is not None
        return device.sw_version

    await wait_for(lambda: version() == "1.8.0")
    # A connect event without a version object keeps the version.
    gateway = {**sim.devices[GATEWAY_ID]}
    del gateway["version"]
    await sim.emit({"action": "connected", "payload": gateway})
    await sim.add_data(SENSOR_ID, {"temperature": 20.0})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "20.0")
    assert version() == "1.8.0"


async def test_paired_device_appears_without_reload(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    await sim.pair_device("Hall sensor", "Hall0001")
    await wait_for(lambda: find_device(hass, (DOMAIN, "instathings_Hall0001")) is not None)
    device = find_device(hass, (DOMAIN, "instathings_Hall0001"))
    gateway = find_device(hass, (DOMAIN, f"instathings_{GATEWAY_ID}"))
    assert device is not None
    assert gateway is not None
    assert (device.name, device.via_device_id) == ("Hall sensor", gateway.id)

    await sim.add_data("Hall0001", {"temperature": 19.5, "occupancy": True})
    await wait_for(lambda: hass.states.get("sensor.hall_sensor_temperature") is not None)
    assert state_of(hass, "sensor.hall_sensor_temperature") == "19.5"
    assert (
        state_of(hass, entity_id(entity_registry, "binary_sensor", "Hall0001", "occupancy")) == "on"
    )
    assert init_integration.state is ConfigEntryState.LOADED


async def test_failed_pairing_changes_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    coordinator = coordinator_of(init_integration)
    events = coordinator.stream_stats["events"]
    await sim.pair_device("Flaky", "Flaky001", succeed=False)
    await wait_for(lambda: coordinator.stream_stats["events"] > events)
    assert "Flaky001" not in coordinator.devices
    assert find_device(hass, (DOMAIN, "instathings_Flaky001")) is None


async def test_unpaired_device_is_unavailable_and_removable(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)

    async def remove(device_key: str) -> bool:
        device = find_device(hass, (DOMAIN, f"instathings_{device_key}"))
        assert device is not None
        return await remove_device(client, init_integration.entry_id, device.id)

    assert not await remove(SENSOR_ID)  # still paired: not removable

    await sim.unpair_device(SENSOR_ID)
    await wait_for(lambda: state_of(hass, TEMPERATURE) == STATE_UNAVAILABLE)
    assert state_of(hass, PLUG_POWER) != STATE_UNAVAILABLE
    assert await remove(SENSOR_ID)
    assert find_device(hass, (DOMAIN, f"instathings_{SENSOR_ID}")) is None

    # Paired again, the device is back in the registry.
    await sim.pair_device("Living room", SENSOR_ID)
    await wait_for(lambda: find_device(hass, (DOMAIN, f"instathings_{SENSOR_ID}")) is not None)
    assert not coordinator_of(init_integration).devices[SENSOR_ID].gone


async def test_unknown_actions_are_ignored(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.iot_bridge")
    await sim.emit_other_events()  # discovering, installation_*, status, log
    await sim.add_data(SENSOR_ID, {"temperature": 23.0})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "23.0")
    assert "Ignoring Instathings event discovering" in caplog.text
    assert "Ignoring Instathings event log" in caplog.text
    assert "WARNING" not in caplog.text


async def test_bad_messages_are_logged_once_and_skipped(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Believable timestamps: the API layer refuses ones it cannot order (1970, say).
    ts = sim.records[SENSOR_ID][-1]["ts"]
    bad: list[Any] = [
        "not json",
        "not json either",
        {"no": "action"},
        {"action": "data", "payload": {"deviceId": SENSOR_ID, "data": {"temperature": 99}}},
        {"action": "data", "payload": {"deviceId": "Ghost001", "ts": ts + 1, "data": {"t": 1}}},
        {"action": "data", "payload": {"deviceId": "Ghost001", "ts": ts + 2, "data": {"t": 1}}},
        {"action": "connected", "payload": {"name": "no id"}},
        {"action": "disconnected", "payload": {"id": "Ghost002", "isGateway": True}},
        {"action": "software_version", "payload": {"id": "Ghost002"}},
    ]
    for message in bad:
        await (sim.emit_raw(message) if isinstance(message, str) else sim.emit(message))
    await sim.add_data(SENSOR_ID, {"temperature": 24.0})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "24.0")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("message is not JSON" in w for w in warnings) == 1
    assert sum("message has no action" in w for w in warnings) == 1
    assert sum("lacks deviceId, ts or data" in w for w in warnings) == 1
    assert sum("unknown Instathings device Ghost001" in w for w in warnings) == 1
    assert sum("connected event has no device id" in w for w in warnings) == 1
    assert coordinator_of(init_integration).stream_stats["bad_messages"] == 5
    assert init_integration.state is ConfigEntryState.LOADED


# --- reconnects -------------------------------------------------------------------


@pytest.mark.parametrize("abrupt", [False, True])
async def test_reconnect_catches_up_without_losing_values(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    route_log: list[str],
    abrupt: bool,
) -> None:
    coordinator = coordinator_of(init_integration)
    seen = record_states(hass, TEMPERATURE)
    sim.fail_next(10_000, status=503)  # keep it down while values arrive
    await drop(sim, init_integration, abrupt=abrupt)
    missed = [20.1, 20.2, 20.3]
    for value in missed:
        await sim.add_data(SENSOR_ID, {"temperature": value})
    await sim.add_data(PLUG_ID, {**sim.plug_data(), "power": 777.0})
    new_id = await sim.pair_device("Cellar", "Cellar01")  # paired while we were away
    await sim.add_data(new_id, {"humidity": 80.0})
    # The last values stay during the grace period.
    assert state_of(hass, TEMPERATURE) != STATE_UNAVAILABLE

    route_log.clear()
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(0)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    # Only the newest missed value became the state, once: a catch-up is not replayed
    # (the older ones are history, see test_late_readings.py).
    assert seen == [str(missed[-1])]
    assert state_of(hass, PLUG_POWER) == "777.0"
    await wait_for(lambda: hass.states.get("sensor.cellar_humidity") is not None)
    assert state_of(hass, "sensor.cellar_humidity") == "80.0"
    # The socket was opened before the catch-up requests.
    assert route_log.index("websocket") < route_log.index("devices") < route_log.index("data")

    await sim.add_data(SENSOR_ID, {"temperature": 20.4})
    await wait_for(lambda: seen[-1] == "20.4")


async def test_device_removed_while_away_is_gone_after_catch_up(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    coordinator = coordinator_of(init_integration)
    sim.fail_next(10_000, status=503)
    await drop(sim, init_integration)
    del sim.devices[VIRTUAL_ID]
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(0)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert state_of(hass, VIRTUAL_VALUE) == STATE_UNAVAILABLE
    assert state_of(hass, TEMPERATURE) != STATE_UNAVAILABLE


async def test_unpaired_device_listed_again_after_reconnect_is_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    coordinator = coordinator_of(init_integration)
    document = dict(sim.devices[VIRTUAL_ID])
    await sim.unpair_device(VIRTUAL_ID)
    await wait_for(lambda: state_of(hass, VIRTUAL_VALUE) == STATE_UNAVAILABLE)
    sim.devices[VIRTUAL_ID] = document
    connects = coordinator.stream_stats["connects"]
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert state_of(hass, VIRTUAL_VALUE) != STATE_UNAVAILABLE


async def test_gateway_offline_in_device_list_after_reconnect(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    coordinator = coordinator_of(init_integration)
    sim.fail_next(10_000, status=503)
    await drop(sim, init_integration)
    sim.devices[GATEWAY_ID]["status"]["eventType"] = "disconnected"
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(0)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert state_of(hass, CONNECTION) == "off"
    assert state_of(hass, TEMPERATURE) == STATE_UNAVAILABLE


async def test_expired_token_is_renewed_on_reconnect(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    coordinator = coordinator_of(init_integration)
    tokens = sim.request_counts["token"]
    sim.expire_all_tokens()
    connects = coordinator.stream_stats["connects"]
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert sim.request_counts["token"] == tokens + 1
    assert sim.unauthorized >= 1
    assert not hass.config_entries.flow.async_progress()
    await sim.add_data(SENSOR_ID, {"temperature": 21.0})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "21.0")


async def test_rate_limited_reconnect_waits_and_recovers(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    coordinator = coordinator_of(init_integration)
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(1, status=429, retry_after=0.05)
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert coordinator.stream_stats["drops"] >= 2


async def test_long_outage_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = coordinator_of(init_integration)
    coordinator.stream_grace = 0.3
    sim.fail_next(10_000, status=503)
    await drop(sim, init_integration)
    assert state_of(hass, TEMPERATURE) != STATE_UNAVAILABLE
    await wait_for(lambda: state_of(hass, TEMPERATURE) == STATE_UNAVAILABLE)
    assert state_of(hass, CONNECTION) == STATE_UNAVAILABLE
    assert state_of(hass, VIRTUAL_VALUE) == STATE_UNAVAILABLE
    await wait_for(lambda: coordinator.stream_stats["drops"] > 5)
    # One warning from the supervisor, one error from the coordinator, however many drops.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("The Instathings demo stream has been down" in w for w in warnings) == 1
    assert caplog.text.count("has been down for more than") == 1

    sim.fail_next(0)
    await wait_for(lambda: state_of(hass, TEMPERATURE) != STATE_UNAVAILABLE)
    assert state_of(hass, CONNECTION) == "on"
    assert caplog.text.count("The Instathings demo stream is back") == 1


async def test_short_outage_keeps_values(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.iot_bridge")
    coordinator = coordinator_of(init_integration)
    seen = record_states(hass, TEMPERATURE)
    connects = coordinator.stream_stats["connects"]
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert STATE_UNAVAILABLE not in seen
    # Within the grace period nobody saw an outage: the drop is a debug line, not news.
    assert "The Instathings demo stream dropped" in caplog.text
    ours = [r for r in caplog.records if r.name.startswith("custom_components.iot_bridge")]
    assert not [r for r in ours if r.levelno >= logging.WARNING]
    assert "stream is back" not in caplog.text


async def test_websocket_closing_at_once_backs_off(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    route_log: list[str],
    flapping: Flapping,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts the socket and drops it at once is not hammered."""
    coordinator = coordinator_of(init_integration)
    coordinator.backoff = Backoff(initial=0.02, maximum=5.0, jitter=False)
    reconnects = coordinator.stream_stats["reconnects"]
    route_log.clear()
    flapping.on = True
    await drop(sim, init_integration)
    await asyncio.sleep(1.0)
    attempts = coordinator.stream_stats["reconnects"] - reconnects
    # Waits of 0.02, 0.04, 0.08, 0.16, 0.32, 0.64 s: at most 6 reconnects start within
    # a second. Starting over after every accepted socket would wait 0.02 s each time.
    assert 3 <= attempts <= 6
    assert coordinator.backoff.attempt == attempts
    # Each accepted socket caught up (the device list starts a catch-up) at most once,
    # with one history request per device.
    assert 0 < route_log.count("devices") <= route_log.count("websocket") <= attempts + 1
    assert route_log.count("data") <= len(coordinator.devices) * route_log.count("devices")

    # Real data proves a connection healthy: the next drop starts the waits over.
    flapping.on = False
    await wait_for(lambda: coordinator.stream_connected)
    await sim.add_data(SENSOR_ID, {"temperature": 22.0})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "22.0")
    connects = coordinator.stream_stats["connects"]
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert coordinator.backoff.attempt == 1

    # So does staying open long enough, even without a message.
    monkeypatch.setattr("custom_components.iot_bridge.stream.HEALTHY_AFTER", 0.2)
    flapping.on = True
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.backoff.attempt >= 3)
    flapping.on = False
    await wait_for(lambda: coordinator.stream_connected)
    await asyncio.sleep(0.3)
    connects = coordinator.stream_stats["connects"]
    await drop(sim, init_integration)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    assert coordinator.backoff.attempt == 1


async def test_a_bug_in_handling_an_event_does_not_end_the_stream(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    coordinator = coordinator_of(init_integration)

    def broken(*_: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(coordinator, "_on_software_version", broken)
    events = coordinator.stream_stats["events"]
    for version in ("1.8.0", "1.8.1"):
        await sim.set_software_version(f"instathings/gate:{version}")
    await sim.add_data(SENSOR_ID, {"temperature": 24.5})
    await wait_for(lambda: state_of(hass, TEMPERATURE) == "24.5")
    # Only those events were skipped: the connection stayed, nothing was caught up again.
    assert coordinator.stream_stats["events"] == events + 3
    assert coordinator.stream_stats["item_errors"] == 2
    assert coordinator.stream_stats["drops"] == 0
    assert coordinator.stream_connected
    # Logged with its traceback once; after that at debug level only.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "Skipping an Instathings event (SoftwareVersionEvent) that could not be applied"
    ]
    assert errors[0].exc_info is not None


# --- set-up and unload ------------------------------------------------------------


async def test_refresh_adds_no_requests(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    before = sum(sim.request_counts.values())
    await coordinator_of(init_integration).async_refresh()
    assert sum(sim.request_counts.values()) == before


async def test_device_types_are_optional(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    broken_routes: set[str],
    device_registry: dr.DeviceRegistry,
) -> None:
    # Token, devices and data work; the types request fails: devices still come, plainer.
    broken_routes.add("types")
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    sensor = find_device(hass, (DOMAIN, f"instathings_{SENSOR_ID}"))
    assert sensor is not None
    assert (sensor.name, sensor.manufacturer, sensor.model) == ("Living room", "Instathings", None)
    assert config_entry.state is ConfigEntryState.LOADED
    # Not mid catch-up: closing the socket then trips aiohttp's stale heartbeat timer.
    await wait_for(lambda: coordinator_of(config_entry).stream_connected)
    await hass.config_entries.async_unload(config_entry.entry_id)


# --- switches ---------------------------------------------------------------------


async def _switch(hass: HomeAssistant, service: str, entity: str) -> None:
    await hass.services.async_call("switch", service, {"entity_id": entity}, blocking=True)


async def test_switch_posts_state_and_follows_the_device(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    assert state_of(hass, "switch.kettle_plug") == "on"
    await _switch(hass, "turn_off", "switch.kettle_plug")
    assert sim.control_log[-1]["device_id"] == PLUG_ID
    assert sim.control_log[-1]["body"] == {"state": "OFF"}
    assert state_of(hass, "switch.kettle_plug") == "off"
    # The plug confirmed with a data event: its power follows.
    await wait_for(lambda: state_of(hass, PLUG_POWER) == "0.0")
    await _switch(hass, "turn_on", "switch.kettle_plug")
    assert sim.control_log[-1]["body"] == {"state": "ON"}
    await wait_for(lambda: state_of(hass, PLUG_POWER) != "0.0")
    assert state_of(hass, "switch.kettle_plug") == "on"


async def test_switch_is_optimistic_until_the_device_reports(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    # A relay that takes commands but reports only later.
    await sim.pair_device("Relay", "Relay001")
    await sim.add_data("Relay001", {"state": "OFF"})
    await wait_for(lambda: hass.states.get("switch.relay") is not None)
    assert state_of(hass, "switch.relay") == "off"

    await _switch(hass, "turn_on", "switch.relay")
    assert sim.control_log[-1] == {
        "device_id": "Relay001",
        "body": {"state": "ON"},
        "query": {},
        "path": None,
        "method": None,
    }
    assert state_of(hass, "switch.relay") == "on"  # assumed
    diagnostics = coordinator_of(init_integration).diagnostics()
    relay = next(d for d in diagnostics["devices"] if d["id"] == "Relay001")
    assert relay["optimistic"] == {"state": "ON"}

    # Values without a state leave the assumption alone; a reported state replaces it.
    await sim.add_data("Relay001", {"power": 5.0})
    await wait_for(lambda: hass.states.get("sensor.relay_power") is not None)
    assert state_of(hass, "switch.relay") == "on"
    await sim.add_data("Relay001", {"state": "OFF"})
    await wait_for(lambda: state_of(hass, "switch.relay") == "off")


@pytest.mark.parametrize(
    ("status", "translation_key"),
    [(400, "command_failed"), (500, "action_failed")],
)
async def test_switch_failure_raises_translated_error(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    status: int,
    translation_key: str,
) -> None:
    sim.fail_next(1, status=status)
    with pytest.raises(HomeAssistantError) as err:
        await _switch(hass, "turn_off", "switch.kettle_plug")
    assert err.value.translation_key == translation_key
    assert err.value.translation_domain == DOMAIN
    assert state_of(hass, "switch.kettle_plug") == "on"  # nothing assumed


async def test_switch_after_revoked_client_asks_for_reauth(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    sim.client_secret = "revoked"
    sim.expire_all_tokens()
    with pytest.raises(HomeAssistantError) as err:
        await _switch(hass, "turn_on", "switch.kettle_plug")
    assert err.value.translation_key == "action_auth_failed"
