"""A hostile or broken Netemera server, scaled down: nothing it sends breaks the entry.

Each test drives the simulator's hostile knobs end to end through the real client,
the stream supervisor, the coordinator and Home Assistant's registries: absurd
receive times, clocks running ahead, event ids that cannot be sent back, floods of
new DevEUIs and LPP channels (against caps scaled down to a handful), Retry-After
values of any size, oversized answers and unusable stored state.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
import json
import logging
import math
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.json import json_bytes
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.netemera.coordinator import NetemeraCoordinator
from simulators.netemera import NetemeraSimulator, format_time
from tests.devices import entry_devices, find_device, remove_device

from .conftest import (
    CLIMATE,
    LIGHT,
    RAW,
    RELAY,
    STORE_KEY,
    coordinator,
    entity_id,
    state_of,
    wait_for,
)

# Receive times no clock can produce: overflowing, not ISO, numbers, far ahead, long ago.
ABSURD_TIMES: tuple[object, ...] = (
    "9999-12-31T23:59:59-14:00",
    "+275760-09-13T00:00:00Z",
    1e20,
    "2100-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
)
# Caps scaled down: four simulated devices plus two strangers fill the entry.
SMALL_DEVICE_CAP = 6
SMALL_LPP_CAP = 3
# The eight sensors every end-device has.
UPLINK_SENSORS = 8
DEVICES_LIMIT = "end-devices"
LPP_LIMIT = "Cayenne LPP channels on one end-device"


@pytest.fixture
def small_caps() -> Generator[None]:
    with (
        patch("custom_components.iot_bridge.netemera.model.MAX_DEVICES", SMALL_DEVICE_CAP),
        patch("custom_components.iot_bridge.netemera.coordinator.MAX_DEVICES", SMALL_DEVICE_CAP),
        patch("custom_components.iot_bridge.netemera.model.MAX_LPP_VALUES", SMALL_LPP_CAP),
        patch("custom_components.iot_bridge.netemera.coordinator.MAX_LPP_VALUES", SMALL_LPP_CAP),
    ):
        yield


def _issue(hass: HomeAssistant, entry: MockConfigEntry, what: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{what}_limit")


def _entities(entity_registry: er.EntityRegistry, entry: MockConfigEntry) -> list[er.RegistryEntry]:
    return er.async_entries_for_config_entry(entity_registry, entry.entry_id)


def _frame_counter_is(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, dev_eui: str, f_cnt: int
) -> Callable[[], bool]:
    return lambda: state_of(hass, entity_registry, dev_eui, "frame_counter") == str(f_cnt)


async def _reconnect(simulator: NetemeraSimulator, coord: NetemeraCoordinator) -> None:
    """Close the stream and wait until the client has opened a new one and caught up."""
    streams = simulator.request_counts["stream"]
    simulator.drop_streams()
    await wait_for(lambda: simulator.request_counts["stream"] > streams)
    # Down since the drop; up again once the new connection has caught up.
    await wait_for(lambda: coord.stream_connected and simulator.open_streams == 1)


# --- time ---------------------------------------------------------------------------


async def test_absurd_receive_times_are_skipped_and_the_stream_goes_on(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coord = coordinator(init_integration)
    task = coord.stream_task
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    for recv_time in ABSURD_TIMES:
        simulator.send_uplink(RAW, fields={"recv_time": recv_time})
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "2")
    assert coord.stats["bad_events"] == len(ABSURD_TIMES)
    assert RAW not in coord.devices
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("skipped a stream event" in r.getMessage() for r in warnings) == 1

    # A reconnect that resumes from the event id, then one that reads history,
    # where the server files the absurd packets by its own clock.
    await _reconnect(simulator, coord)
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "3")
    coord.data.last_event_id = None
    history = simulator.request_counts["history"]
    await _reconnect(simulator, coord)
    assert simulator.request_counts["history"] > history
    simulator.send_uplink(CLIMATE)
    await wait_for(lambda: state_of(hass, entity_registry, CLIMATE, "frame_counter") == "1")
    assert RAW not in coord.devices
    now = datetime.now(UTC)
    assert coord.data.last_recv_time is not None
    assert coord.data.last_recv_time <= now
    assert coord.data.covered_until is not None
    assert coord.data.covered_until <= now

    # A restart reads the same history: it starts, and the stream follows.
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    restarted = coordinator(init_integration)
    await wait_for(lambda: restarted.stream_connected)
    assert task is not None
    assert restarted.stream_task is not None
    assert not restarted.stream_task.done()


async def test_a_clock_ahead_neither_hides_later_uplinks_nor_moves_the_cursor(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_storage: dict[str, Any],
) -> None:
    coord = coordinator(init_integration)
    # Within the day the API believes, but 20 hours ahead of every real packet.
    simulator.send_uplink(RAW, datetime.now(UTC) + timedelta(hours=20))
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    simulator.send_uplink(RAW)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "3")
    assert coord.stats["late"] == 0
    assert coord.data.last_recv_time is not None
    assert coord.data.last_recv_time <= datetime.now(UTC)

    # Home Assistant is down, the server forgets our event id, the light talks:
    # the restart's history must start before it, not 20 hours ahead.
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    hass_storage[STORE_KEY]["data"]["last_event_id"] = None
    simulator.send_uplink(LIGHT)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, entity_registry, LIGHT, "frame_counter") == "1"
    assert datetime.fromisoformat(simulator.history_from_times[-1]) <= datetime.now(UTC)


# --- stored state ---------------------------------------------------------------------


async def test_restart_with_unusable_stored_state_starts_and_keeps_what_it_can(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = datetime.now(UTC)
    good = {
        "dev_eui": LIGHT,
        "recv_time": format_time(now - timedelta(minutes=10)),
        "f_cnt_up": 7,
        "frm_payload": "01650134",
    }
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {
            # Control characters: the HTTP client would refuse every reconnect with it.
            "last_event_id": "\x01AAAB",
            # From a clock that has since gone back (believable, but ahead of now).
            "last_recv_time": (now + timedelta(hours=20)).isoformat(),
            "covered_until": "9999-12-31T23:59:59-14:00",
            "devices": {
                LIGHT: {"uplink": good, "values": "garbage", "switch_on": "yes"},
                RAW: {"uplink": {"dev_eui": RAW, "recv_time": 1e20, "f_cnt_up": 3}},
                CLIMATE: "garbage",
                RELAY: {"uplink": {**good, "dev_eui": RELAY, "f_cnt_up": 10**30}},
            },
        },
    }
    simulator.send_uplink(CLIMATE)  # only history can bring this one
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    coord = coordinator(config_entry)
    await wait_for(lambda: coord.stream_connected)
    assert simulator.stream_last_event_ids[-1] is None
    assert datetime.fromisoformat(simulator.history_from_times[-1]) <= datetime.now(UTC)
    assert state_of(hass, entity_registry, LIGHT, "frame_counter") == "7"
    assert state_of(hass, entity_registry, CLIMATE, "frame_counter") == "1"
    # The relay's impossible counter reads as missing; its packet is kept.
    assert state_of(hass, entity_registry, RELAY, "frame_counter") == "unknown"
    assert RAW not in coord.devices
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("unusable stored item" in message for message in warnings) == 1
    # What is written back is what Home Assistant's JSON writer accepts.
    await coord.async_shutdown()
    json_bytes(hass_storage[STORE_KEY]["data"])


@pytest.mark.parametrize(
    "stored",
    [
        {"version": 99, "minor_version": 1, "key": STORE_KEY, "data": {}},
        {"version": 1, "minor_version": 1, "key": STORE_KEY, "data": ["not", "an", "object"]},
        {"version": 1, "minor_version": 1, "key": STORE_KEY, "data": {"devices": [1, 2]}},
    ],
)
async def test_a_stored_file_of_another_shape_starts_afresh(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_storage: dict[str, Any],
    stored: dict[str, Any],
) -> None:
    hass_storage[STORE_KEY] = stored
    simulator.send_uplink(RAW)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    assert state_of(hass, entity_registry, RAW, "frame_counter") == "1"


# --- what a server may send -----------------------------------------------------------


async def test_an_event_id_that_cannot_be_sent_back_is_not_resumed_from(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coord = coordinator(init_integration)
    for index, event_id in enumerate(("\x01bad", "x" * 10_000)):
        uplink = simulator.make_uplink(simulator.devices[RAW])
        simulator.emit_raw(f"data:{json.dumps(uplink)}\nid:{event_id}\n\n")
        await wait_for(_frame_counter_is(hass, entity_registry, RAW, index + 1))
        assert coord.data.last_event_id is None
        # The next connection goes without it and fills the gap from history.
        await _reconnect(simulator, coord)
        assert simulator.stream_last_event_ids[-1] is None
        simulator.send_uplink(LIGHT)
        await wait_for(_frame_counter_is(hass, entity_registry, LIGHT, index + 1))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("cannot be sent back" in message for message in warnings) == 1


async def test_values_outside_lorawan_ranges_neither_show_nor_break_saving(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    coord = coordinator(init_integration)
    simulator.send_uplink(
        RAW,
        fields={
            "f_cnt_up": 10**30,  # past 64 bits: Home Assistant's JSON writer refuses it
            "data_rate": 10**300,
            "frm_payload": "AB" * 300,  # more than any LoRaWAN frame
            "gw_info": [{"id": "g" * 5000, "rssi": -80}] * 100,
        },
    )
    simulator.send_uplink(RAW, fields={"dev_eui": "A" * 5000})
    simulator.send_uplink(RAW, fields={"dev_eui": "bad\neui"})
    simulator.send_uplink(LIGHT, fields={"frm_payload": "CD" * 200})  # real, but too long to show
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    assert state_of(hass, entity_registry, RAW, "frame_counter") == "unknown"
    assert state_of(hass, entity_registry, RAW, "data_rate") == "unknown"
    assert state_of(hass, entity_registry, RAW, "payload") == "unknown"
    assert state_of(hass, entity_registry, LIGHT, "payload") == "unknown"
    rssi = hass.states.get(entity_id(entity_registry, RAW, "rssi") or "")
    assert rssi is not None
    assert rssi.attributes["gateway_id"] is None
    assert rssi.attributes["gateways"] == 16
    assert set(coord.devices) == {RAW, LIGHT}
    assert coord.stats["invalid_dev_eui"] == 2
    assert "longer than 255" not in caplog.text
    await coord.async_shutdown()
    json_bytes(hass_storage[STORE_KEY]["data"])


async def test_a_flood_of_new_dev_euis_stops_at_the_cap_until_there_is_room(
    hass: HomeAssistant,
    small_caps: None,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_ws_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coord = coordinator(init_integration)
    simulator.tick()
    await wait_for(lambda: len(coord.devices) == 4)
    stale = simulator.emit_new_devices(2, datetime.now(UTC) - timedelta(days=2))
    refused = simulator.emit_new_devices(20)
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "2")
    assert set(coord.devices) == {CLIMATE, LIGHT, RELAY, RAW, *stale}
    assert len(entry_devices(hass, init_integration.entry_id)) == SMALL_DEVICE_CAP
    assert len(_entities(entity_registry, init_integration)) == SMALL_DEVICE_CAP * UPLINK_SENSORS
    issue = _issue(hass, init_integration, DEVICES_LIMIT)
    assert issue is not None
    assert issue.translation_key == "limit_reached"
    assert issue.translation_placeholders == {
        "name": init_integration.title,
        "what": DEVICES_LIMIT,
        "limit": str(SMALL_DEVICE_CAP),
        "refused": "20",
    }
    assert caplog.text.count(f"past the limit of {SMALL_DEVICE_CAP}") == 1

    # History (a reconnect without an event id) brings the same strangers: still refused.
    coord.data.last_event_id = None
    await _reconnect(simulator, coord)
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "3")
    assert len(coord.devices) == SMALL_DEVICE_CAP
    assert len(entry_devices(hass, init_integration.entry_id)) == SMALL_DEVICE_CAP

    # The user deletes a stale device: there is room, the notice goes.
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    device = find_device(hass, (DOMAIN, f"netemera_{stale[0]}"))
    assert device is not None
    assert await remove_device(client, init_integration.entry_id, device.id)
    await hass.async_block_till_done()
    assert _issue(hass, init_integration, DEVICES_LIMIT) is None
    # A refused DevEUI talks again and is taken in; the next one is refused again.
    for dev_eui in refused[:2]:
        simulator.emit(
            {"dev_eui": dev_eui, "recv_time": format_time(datetime.now(UTC)), "f_cnt_up": 2}
        )
    await wait_for(lambda: refused[0] in coord.devices)
    await wait_for(lambda: _issue(hass, init_integration, DEVICES_LIMIT) is not None)
    assert refused[1] not in coord.devices
    assert len(entry_devices(hass, init_integration.entry_id)) == SMALL_DEVICE_CAP


async def test_a_flood_of_lpp_channels_stops_at_the_cap(
    hass: HomeAssistant,
    small_caps: None,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    coord = coordinator(init_integration)
    simulator.send_uplink(RAW)
    await wait_for(lambda: RAW in coord.devices)
    await _set_decoder(hass, init_integration, RAW, "cayenne_lpp")
    # Temperatures on channels 1..10, one frame.
    payload = b"".join(bytes((channel, 0x67, 0, 200 + channel)) for channel in range(1, 11))
    simulator.send_payload(RAW, payload)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "lpp_1_103") == "20.1")
    lpp = [e for e in _entities(entity_registry, init_integration) if "_lpp_" in e.unique_id]
    assert len(lpp) == SMALL_LPP_CAP
    issue = _issue(hass, init_integration, LPP_LIMIT)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["refused"] == "7"
    # The channels that fit go on updating.
    simulator.send_payload(RAW, bytes((1, 0x67, 0, 250)))
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "lpp_1_103") == "25.0")
    # Decoding turned off: the values go, and with them the notice.
    await _set_decoder(hass, init_integration, RAW, "none")
    assert _issue(hass, init_integration, LPP_LIMIT) is None
    assert not [e for e in _entities(entity_registry, init_integration) if "_lpp_" in e.unique_id]


async def _set_decoder(
    hass: HomeAssistant, entry: MockConfigEntry, dev_eui: str, decoder: str
) -> None:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"device": dev_eui}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"decoder": decoder}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


@pytest.mark.parametrize("retry_after", [math.inf, -5.0, 1e20, 315360000.0])
async def test_any_retry_after_is_bounded_and_the_stream_comes_back(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    retry_after: float,
) -> None:
    coord = coordinator(init_integration)
    coord.data.last_event_id = None  # so the reconnect reads history too
    # Scaled down: the longest wait a server may impose is 50 ms instead of an hour.
    with patch("custom_components.iot_bridge.api.http.MAX_RETRY_AFTER", 0.05):
        simulator.fail_next(1, 429, retry_after=retry_after, route="stream")
        simulator.fail_next(1, 429, retry_after=retry_after, route="history")
        await _reconnect(simulator, coord)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    task = coord.stream_task
    assert task is not None
    assert not task.done()
    assert init_integration.state is ConfigEntryState.LOADED


async def test_an_oversized_history_answer_is_refused_and_the_stream_comes_back(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    coord = coordinator(init_integration)
    coord.data.last_event_id = None
    body = "[" + " " * (17 * 1024 * 1024) + "]"
    simulator.fail_next(1, 200, route="history", body=body, content_type="application/json")
    await _reconnect(simulator, coord)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    assert coord.stream_stats["drops"] >= 2
