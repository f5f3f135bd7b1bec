"""The uplink stream: live updates, reconnects without loss, restart catch-up, duplicates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import itertools
import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.api.backoff import Backoff
from custom_components.iot_bridge.const import DOMAIN
from simulators.netemera import NetemeraSimulator, format_time
from tests.devices import find_device

from .conftest import CLIMATE, LIGHT, RAW, RELAY, coordinator, entity_id, state_of, wait_for


async def test_history_of_the_last_hour_creates_devices_at_first_start(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    old = datetime.now(UTC) - timedelta(hours=2)
    simulator.send_uplink(LIGHT, old)  # too old for the first catch-up
    simulator.tick()
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    for dev_eui in (CLIMATE, LIGHT, RELAY, RAW):
        device = find_device(hass, (DOMAIN, f"netemera_{dev_eui}"))
        assert device is not None
        assert device.serial_number == dev_eui
    # The light's newest frame is 2 (the old one is 1).
    assert state_of(hass, entity_registry, LIGHT, "frame_counter") == "2"
    assert state_of(hass, entity_registry, RAW, "payload") == "CAFE0001"


async def test_live_uplink_updates_only_its_device(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.tick()
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    before = {
        dev_eui: hass.states.get(entity_id(entity_registry, dev_eui, "frame_counter") or "")
        for dev_eui in (CLIMATE, LIGHT, RELAY)
    }
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "2")
    for dev_eui, state in before.items():
        after = hass.states.get(entity_id(entity_registry, dev_eui, "frame_counter") or "")
        assert after is not None
        assert state is not None
        assert after.last_updated == state.last_updated, dev_eui
    uplink = simulator.events[-1][1]
    assert state_of(hass, entity_registry, RAW, "payload") == uplink["frm_payload"]
    assert float(state_of(hass, entity_registry, RAW, "frequency") or 0) == uplink["ul_freq"]
    assert state_of(hass, entity_registry, RAW, "port") == "10"
    assert state_of(hass, entity_registry, RAW, "data_rate") == str(uplink["data_rate"])


async def test_best_gateway_radio_values(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    # Device 0 is heard by two gateways; the second has the better SNR.
    simulator.send_uplink(CLIMATE)
    await wait_for(lambda: state_of(hass, entity_registry, CLIMATE, "snr") not in (None, "unknown"))
    assert state_of(hass, entity_registry, CLIMATE, "snr") == "7.25"
    assert state_of(hass, entity_registry, CLIMATE, "rssi") == "-97.0"
    state = hass.states.get(entity_id(entity_registry, CLIMATE, "rssi") or "")
    assert state is not None
    assert state.attributes["gateway_id"] == "7276ff002e0400e9"
    assert state.attributes["gateways"] == 2


async def test_new_device_appears_while_running(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    assert entity_id(entity_registry, CLIMATE, "rssi") is None
    (added,) = simulator.add_devices(1)
    simulator.send_uplink(added.dev_eui)
    await wait_for(lambda: state_of(hass, entity_registry, added.dev_eui, "frame_counter") == "1")


async def test_duplicates_are_dropped(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    coord = coordinator(init_integration)
    simulator.duplicate_next = 1
    simulator.send_uplink(LIGHT)
    simulator.resend_last(LIGHT)
    simulator.send_uplink(RAW)  # a marker: once it is here, the repeats were handled
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    assert coord.stats["duplicates"] == 2
    assert coord.stats["uplinks"] == 2


async def test_older_packet_never_overwrites_newer(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    now = datetime.now(UTC)
    device = simulator.devices[RAW]
    simulator.emit(simulator.make_uplink(device, now))  # f_cnt 1
    late = simulator.make_uplink(device, now - timedelta(minutes=1))  # f_cnt 2, but older
    simulator.emit(late)
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    assert state_of(hass, entity_registry, RAW, "frame_counter") == "1"
    assert coordinator(init_integration).stats["late"] == 1


async def test_frame_counter_reset_after_rejoin_is_accepted(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    for _ in range(3):
        simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "3")
    simulator.devices[RAW].f_cnt = 0  # the device rejoined
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "2")
    assert coordinator(init_integration).stats["duplicates"] == 0


async def test_drop_reconnects_with_last_event_id_and_loses_nothing(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    last_id = coordinator(init_integration).data.last_event_id
    assert last_id is not None
    history = simulator.request_counts["history"]
    simulator.fail_next(1, 503, route="stream")  # the first reconnect fails too
    simulator.drop_streams(abort=True)
    await wait_for(lambda: simulator.open_streams == 0)
    # Sent while nobody listens: the reconnect's Last-Event-ID brings them back.
    simulator.send_uplink(RAW)
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    assert state_of(hass, entity_registry, RAW, "frame_counter") == "2"
    assert simulator.stream_last_event_ids[-1] == last_id
    assert simulator.request_counts["history"] == history  # the id was enough


async def test_refused_event_id_reconnects_without_it_and_catches_up(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    coord = coordinator(init_integration)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    coord.data.last_event_id = "not-an-id"  # as if the server had forgotten ours
    simulator.drop_streams()
    await wait_for(lambda: simulator.open_streams == 0)
    simulator.send_uplink(LIGHT)  # only history can bring this one back
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    assert simulator.stream_last_event_ids[-2:] == ["not-an-id", None]
    assert coord.stats["catch_ups"] == 3  # set-up, first connect, and the gap
    assert "refused the last event id" in caplog.text


async def test_stream_without_any_id_catches_up_once_connected(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    # No packet yet, so no event id: a drop is bridged by history.
    assert coordinator(init_integration).data.last_event_id is None
    simulator.drop_streams()
    await wait_for(lambda: simulator.open_streams == 0)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")


async def test_restart_restores_devices_and_catches_up_from_history(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(RAW)
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    stored_id = coordinator(init_integration).data.last_event_id
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    # The server notices the closed connection on its next turn of the loop.
    await wait_for(lambda: simulator.open_streams == 0)
    assert state_of(hass, entity_registry, RAW, "frame_counter") == STATE_UNAVAILABLE

    # Home Assistant is down: the raw device sends three times.
    for _ in range(3):
        simulator.send_uplink(RAW)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    coord = coordinator(init_integration)
    await wait_for(lambda: coord.stream_connected)
    # History at set-up applied the three frames before the stream opened; the
    # stream then resumed from the stored event id and replayed them as repeats.
    assert coord.stats["catch_ups"] == 1
    assert simulator.stream_last_event_ids[-1] == stored_id
    await wait_for(lambda: coord.stats["duplicates"] >= 3)
    assert coord.stats["uplinks"] == 3
    assert state_of(hass, entity_registry, RAW, "frame_counter") == "4"
    # The light sent nothing meanwhile: it came back from the store.
    assert state_of(hass, entity_registry, LIGHT, "frame_counter") == "1"


async def test_restart_without_history_access_still_shows_stored_devices(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    simulator.events.clear()
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, entity_registry, LIGHT, "frame_counter") == "1"
    assert state_of(hass, entity_registry, LIGHT, "payload") not in (None, "unknown")


async def test_expired_token_is_renewed_on_reconnect(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    tokens_before = simulator.request_counts["token"]
    simulator.expire_tokens()
    simulator.drop_streams()
    await wait_for(lambda: simulator.open_streams == 0)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    assert simulator.request_counts["token"] == tokens_before + 1
    assert init_integration.state is ConfigEntryState.LOADED


async def test_revoked_client_while_running_starts_reauth(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    simulator.client_secret = "rotated"
    simulator.expire_tokens()
    simulator.drop_streams()
    await wait_for(hass.config_entries.flow.async_progress)
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    assert state_of(hass, entity_registry, RAW, "frame_counter") == STATE_UNAVAILABLE
    # The task gave up: no reconnect storm with refused credentials.
    streams = simulator.request_counts["stream"]
    task = coordinator(init_integration).stream_task
    assert task is not None
    await wait_for(task.done)
    assert simulator.request_counts["stream"] == streams


async def test_missing_permission_while_running_starts_reauth(
    hass: HomeAssistant, simulator: NetemeraSimulator, init_integration: MockConfigEntry
) -> None:
    simulator.forbidden = True
    simulator.drop_streams()
    await wait_for(hass.config_entries.flow.async_progress)


async def test_outage_keeps_values_for_the_grace_period_then_unavailable_and_recovers(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    coord = coordinator(init_integration)
    coord.stream_grace = 0.5
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    streams = simulator.request_counts["stream"]
    failures = 60
    simulator.fail_next(failures, 502, route="stream")
    simulator.drop_streams()
    # Reconnecting fails, but a short outage keeps the last values.
    await wait_for(lambda: simulator.request_counts["stream"] > streams + 1)
    assert state_of(hass, entity_registry, RAW, "frame_counter") == "1"
    await wait_for(
        lambda: state_of(hass, entity_registry, RAW, "frame_counter") == STATE_UNAVAILABLE
    )
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("has been down" in r.getMessage() for r in warnings) == 1
    assert caplog.text.count("Error requesting") == 1
    assert caplog.text.count("stream is back") == 1
    assert simulator.request_counts["stream"] >= streams + failures + 1


async def test_stream_that_only_keeps_alive_backs_off(
    hass: HomeAssistant, simulator: NetemeraSimulator, init_integration: MockConfigEntry
) -> None:
    """A server that accepts, sends one keep-alive and closes is not a healthy connection.

    The waits between attempts double (the backoff is not reset by a keep-alive),
    and each attempt costs at most one history request.
    """
    coord = coordinator(init_integration)
    assert coord.data.last_event_id is None  # so every attempt catches up from history
    # Without jitter: reconnects after 0.05, 0.1, 0.2, 0.4, 0.8 s (1.55 s in all).
    coord.backoff = Backoff(initial=0.05, maximum=60.0, jitter=False)
    simulator.close_after_keepalive = True
    streams = simulator.request_counts["stream"]
    history = simulator.request_counts["history"]
    first = len(simulator.stream_times)
    simulator.drop_streams()
    await asyncio.sleep(1.5)
    attempts = simulator.request_counts["stream"] - streams
    # Starting the backoff over after every keep-alive would reconnect every 0.05 s.
    assert 3 <= attempts <= 6
    times = simulator.stream_times[first:]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # A wait never ends early, so each gap is at least the doubled delay.
    for index, gap in enumerate(gaps):
        assert gap >= 0.05 * 2 ** (index + 1) * 0.95, gaps
    assert simulator.request_counts["history"] - history <= attempts
    # Well inside the grace period: the entities keep their values.
    assert coord.last_update_success
    # The server is well again: the stream comes back by itself.
    simulator.close_after_keepalive = False
    await wait_for(lambda: coord.stream_connected and simulator.open_streams == 1)


async def test_a_drop_alone_keeps_entities_available(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    streams = simulator.request_counts["stream"]
    simulator.drop_streams()
    await wait_for(lambda: simulator.request_counts["stream"] > streams)
    await wait_for(lambda: simulator.open_streams == 1)
    assert init_integration.runtime_data.coordinator.last_update_success


async def test_bad_events_are_logged_once_and_skipped(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.emit_raw("data: not json\nid: AAAAAAAAAAE=\n\n")
    simulator.emit_raw('data: {"no": "dev_eui"}\n\n')
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    coord = coordinator(init_integration)
    assert coord.stats["bad_events"] == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("skipped a stream event" in r.getMessage() for r in warnings) == 1
    assert "data is not JSON" in caplog.text


async def test_oversized_event_reconnects(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    streams = simulator.request_counts["stream"]
    simulator.emit_raw("data: " + "x" * 70000)
    await wait_for(lambda: simulator.request_counts["stream"] > streams)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")


async def test_rate_limited_reconnect_waits(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.fail_next(1, 429, retry_after=0.05, route="stream")
    simulator.drop_streams()
    await wait_for(lambda: simulator.open_streams == 0)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")


async def test_history_recv_time_format_round_trips(simulator: NetemeraSimulator) -> None:
    # The simulator writes nanosecond digits like the doc; the store writes isoformat.
    assert format_time(datetime(2024, 1, 1, tzinfo=UTC)).endswith("000Z")
