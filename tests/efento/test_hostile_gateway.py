"""A broken or hostile gateway cannot break an Efento entry.

Each test plays one misbehaviour end to end: the emulated gateway posts it over
real HTTP, and the entry must answer 201, apply what it can use, keep every
other logger working, and start again afterwards from what it stored.
"""

from __future__ import annotations

from datetime import timedelta
import logging
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.efento import coordinator as efento_coordinator, model
from custom_components.iot_bridge.efento.const import MAX_BODY_BYTES, STORE_DELAY
from simulators.efento_gateway import EmulatedGateway
from tests.devices import entry_devices, find_device, remove_device

from .conftest import ENTRY_ID, NOW, WEBHOOK_ID, GatewayFactory

MAC = "28:2c:02:4f:03:0a"
B1 = "sensor.efento_282c024fffb1_temperature"
B2 = "sensor.efento_282c024fffb2_temperature"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def _restart(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


def _answer(gateway: EmulatedGateway, reply: int = -1) -> dict[str, list[int]]:
    """A reply's Y and N, each sorted: the gateway reads them as sets of loggers."""
    answer = gateway.replies[reply].json()
    return {key: sorted(answer[key]) for key in ("Y", "N")}


def _sent(gateway: EmulatedGateway, index: int) -> str:
    """The state of a logger's first (temperature) channel after its last message."""
    return str(round(gateway.loggers[index].values[0], 1))


def _limit_issue(hass: HomeAssistant, what: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{ENTRY_ID}_{what}_limit")


def _stored(hass_storage: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = hass_storage[f"{DOMAIN}.efento.{ENTRY_ID}"]["data"]
    return data


# --- times, intervals and uptimes that cannot be real ---------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"measured_at": "9999-12-31T23:59:59-14:00"},
        {"measured_at": 1e20},
        {"measurement_interval": 1e15, "next_measurement_at": None},
        {"measurement_interval": 10**15},
        {"next_measurement_at": "9999-12-31 23:59:59 UTC"},
    ],
    ids=["measured_at_overflows", "measured_at_1e20", "interval_1e15", "interval_10e15", "next"],
)
async def test_absurd_time_or_interval_touches_only_its_own_logger(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
    overrides: dict[str, Any],
) -> None:
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    gateway.loggers[0].overrides = overrides
    assert await gateway.send_measurements()
    # Every logger is answered; the gateway resends nothing.
    assert _answer(gateway) == {"Y": [1, 2, 3], "N": []}
    assert gateway.pending == ()
    await hass.async_block_till_done()
    assert _state(hass, B2) == _sent(gateway, 1)
    # What was kept can be written, and read back at the next start.
    freezer.tick(timedelta(seconds=STORE_DELAY + 1))
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()
    assert _stored(hass_storage)["loggers"]
    await _restart(hass, init_integration)
    assert _state(hass, B2) == _sent(gateway, 1)
    gateway.loggers[0].overrides = {}
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    assert _state(hass, B1) == _sent(gateway, 0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"uptime": 10**12},
        {"uptime": 1e12},
        {"current_time": 10**15},
        {"next_communication_at": 1e300},
        {"current_time": "9999-12-31T23:59:59-14:00", "next_communication_at": 10**15},
    ],
)
async def test_absurd_heartbeat_times_are_answered_and_survive_a_restart(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    overrides: dict[str, Any],
) -> None:
    gateway.heartbeat_overrides = overrides
    assert await gateway.send_heartbeat()
    await hass.async_block_till_done()
    assert _state(hass, "binary_sensor.efento_gateway_connectivity") == "on"
    await _restart(hass, init_integration)
    gateway.heartbeat_overrides = {}
    assert await gateway.send_heartbeat()
    assert _state(hass, "binary_sensor.efento_gateway_connectivity") == "on"


async def test_store_holding_absurd_values_cannot_stop_a_start(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    make_gateway: GatewayFactory,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store written by an older version, or edited by hand, is read item by item."""
    recent = (NOW - timedelta(minutes=1)).isoformat()
    hass_storage[f"{DOMAIN}.efento.{ENTRY_ID}"] = {
        "version": 1,
        "key": f"{DOMAIN}.efento.{ENTRY_ID}",
        "data": {
            "gateway": {
                "current_time": recent,
                "uptime": 10**15,
                "next_communication_at": "9999-12-31T23:59:59-14:00",
                "loggers_in_range": 10**30,
                "name": "\ud800" * 10,
            },
            "loggers": [
                {
                    "serial": "AAAA",
                    "measured_at": recent,
                    "measurement_interval": 10**15,
                    "signal": 10**30,
                    "channels": {"1": {"type": "temperature", "status": "ok", "value": 4.5}},
                },
                {
                    "serial": "282C024FFFB1",
                    "measured_at": "2100-01-01T00:00:00+00:00",
                    "measurement_interval": "1000000000000000",
                    "next_measurement_at": "9999-12-31T23:59:59-14:00",
                    "signal": 10**30,
                    "channels": {"1": {"type": "temperature", "status": "ok", "value": 99}},
                },
                {"serial": "x" * 10_000, "received_at": recent},
                ["not", "a", "logger"],
            ],
        },
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    # The deadline of an interval of 10**15 s is clamped: AAAA is fresh.
    assert _state(hass, "sensor.efento_aaaa_temperature") == "4.5"
    assert "left out of the stored state what cannot be used (2 logger)" in caplog.text
    # The reading from 2100 was dropped: a genuine one is newer again.
    gateway = await make_gateway(loggers=1)
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    assert _state(hass, B1) == _sent(gateway, 0)
    assert await gateway.send_heartbeat()
    # Everything kept can be written (64-bit integers, valid UTF-8).
    freezer.tick(timedelta(seconds=STORE_DELAY + 1))
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()
    assert "Error writing config" not in caplog.text
    stored = _stored(hass_storage)
    assert {item["serial"] for item in stored["loggers"]} == {"AAAA", "282C024FFFB1"}
    assert stored["gateway"]["uptime"] < 10**12


async def test_reading_from_2100_is_refused_and_later_readings_shown(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    shown = _state(hass, B1)
    last = _state(hass, "sensor.efento_282c024fffb1_last_measurement")
    gateway.loggers[0].overrides = {"measured_at": "2100-01-01 00:00:00 UTC"}
    for _ in range(2):
        assert await gateway.send_measurements()
        # Y: the logger stays synchronised; N would make the gateway stop keeping its
        # genuine readings. The 201 already ends the gateway's interest in this one.
        assert _answer(gateway) == {"Y": [1, 2, 3], "N": []}
    await hass.async_block_till_done()
    assert _state(hass, B1) == shown
    assert _state(hass, "sensor.efento_282c024fffb1_last_measurement") == last
    assert caplog.text.count("cannot be used (measured_at in the future)") == 1
    gateway.loggers[0].overrides = {}
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    assert _state(hass, B1) == _sent(gateway, 0)
    assert _state(hass, "sensor.efento_282c024fffb1_last_measurement") != last


# --- a MAC address that another device already holds ----------------------------


@pytest.mark.parametrize("holder", ["other_integration", "second_efento_entry", "same_entry"])
async def test_mac_held_by_another_device_never_fails_a_heartbeat(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    device_registry: dr.DeviceRegistry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    holder: str,
) -> None:
    """A router's tracker, another Efento entry, a leftover device: the gateway does without.

    Home Assistant before 2026.8 refuses a MAC held by any device; later releases
    only one held within the same entry.
    """
    if holder == "same_entry":
        owner_entry_id = init_integration.entry_id
    else:
        domain = DOMAIN if holder == "second_efento_entry" else "router"
        other = MockConfigEntry(domain=domain, data={"vendor": "efento"})
        other.add_to_hass(hass)
        owner_entry_id = other.entry_id
    owner = device_registry.async_get_or_create(
        config_entry_id=owner_entry_id,
        identifiers={(DOMAIN, "another device")},
        connections={(dr.CONNECTION_NETWORK_MAC, MAC)},
    )
    for version in ("01.00.00-c723d", "01.00.01-aaaaa"):
        gateway.software_version = version
        assert await gateway.send_heartbeat()
        freezer.tick(timedelta(minutes=15))
    gateway_device = find_device(hass, (DOMAIN, f"efento_gateway_{ENTRY_ID}"))
    assert gateway_device is not None
    # Everything else of the heartbeat is applied.
    assert gateway_device.sw_version == "01.00.01-aaaaa"
    assert gateway_device.model == "HG6-v1.2-LECH"
    assert device_registry.async_get(owner.id) == owner
    if (dr.CONNECTION_NETWORK_MAC, MAC) not in gateway_device.connections:
        assert caplog.text.count("already belongs to another device") == 1


# --- what a gateway may create ----------------------------------------------------


async def test_one_huge_message_of_invented_serials_creates_at_most_the_cap(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_gateway: GatewayFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """4,000 new serials in one message of nearly 1 MiB: 128 loggers, quickly."""
    gateway = await make_gateway(loggers=0)
    gateway.add_loggers(4000, types=("temperature",))
    gateway.compact_json = True
    for item in gateway.loggers:
        item.omitted = {"next_measurement_at"}
    gateway.enqueue("measurements", gateway.measurements_path, gateway.measurements_payload())
    body = gateway.pending[0].body
    assert MAX_BODY_BYTES * 0.8 < len(body) <= MAX_BODY_BYTES
    # CPU time of this thread, which runs Home Assistant's event loop (and the gateway).
    started = time.thread_time()
    assert await gateway.flush()
    await hass.async_block_till_done()
    elapsed = time.thread_time() - started
    reply = gateway.replies[-1]
    answer = reply.json()
    cap = model.MAX_NEW_LOGGERS_PER_MESSAGE
    assert answer["Y"] == list(range(1, cap + 1))
    assert answer["N"] == list(range(cap + 1, 4001))
    assert len(entry_devices(hass, ENTRY_ID)) == cap + 1  # and the gateway
    entities = er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    # Signal, last measurement, battery, accept and temperature per logger; the gateway's 8.
    assert len(entities) == cap * 5 + 8
    issue = _limit_issue(hass, "loggers in one message")
    assert issue is not None
    assert issue.translation_placeholders == {
        "name": "Efento gateway",
        "what": "loggers in one message",
        "limit": str(cap),
        "refused": str(4000 - cap),
    }
    # Generous for a shared test machine: entities for all 4,000 loggers blocked the
    # loop for many seconds; the capped 128 take well under one here.
    assert elapsed < 4, elapsed
    # The next message brings the next ones, up to what the entry holds.
    assert (await gateway.post_once(gateway.measurements_path, body)).status == 201
    third = await gateway.post_once(gateway.measurements_path, body)
    assert len(third.json()["Y"]) == model.MAX_LOGGERS
    assert _limit_issue(hass, "loggers in one message") is None
    issue = _limit_issue(hass, "loggers")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["refused"] == str(4000 - model.MAX_LOGGERS)


async def test_full_entry_refuses_new_loggers_until_one_is_deleted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_gateway: GatewayFactory,
    hass_ws_client: WebSocketGenerator,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Scaled down: an entry of four loggers."""
    for module in (model, efento_coordinator):
        monkeypatch.setattr(module, "MAX_LOGGERS", 4)
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    gateway = await make_gateway(loggers=3)
    assert await gateway.send_measurements()
    first = gateway.loggers[0].serial
    gateway.add_loggers(2)
    fourth, fifth = (item.serial for item in gateway.loggers[3:])
    assert await gateway.send_measurements()
    assert _answer(gateway) == {"Y": [1, 2, 3, 4], "N": [5]}
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    assert find_device(hass, (DOMAIN, f"efento_{ENTRY_ID}_{fourth}")) is not None
    assert find_device(hass, (DOMAIN, f"efento_{ENTRY_ID}_{fifth}")) is None
    issue = _limit_issue(hass, "loggers")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["limit"] == "4"
    assert caplog.text.count("past the limit of 4") == 1
    # The loggers that exist keep working.
    assert _state(hass, B1) == _sent(gateway, 0)
    # The first logger goes silent and is deleted: room again.
    freezer.tick(timedelta(minutes=14))
    assert await gateway.send_measurements([item.serial for item in gateway.loggers[1:]])
    device = find_device(hass, (DOMAIN, f"efento_{ENTRY_ID}_{first}"))
    assert device is not None
    assert await remove_device(client, ENTRY_ID, device.id)
    assert _limit_issue(hass, "loggers") is None
    assert await gateway.send_measurements([fifth])
    assert _answer(gateway) == {"Y": [5], "N": []}
    await hass.async_block_till_done()
    assert find_device(hass, (DOMAIN, f"efento_{ENTRY_ID}_{fifth}")) is not None


async def test_logger_with_too_many_channels_keeps_the_first_ones(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_gateway: GatewayFactory,
    hass_ws_client: WebSocketGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    gateway = await make_gateway(loggers=2)
    crowded = gateway.loggers[0]
    crowded.types = ("temperature",) * 12
    crowded.values = [20.0 + channel for channel in range(12)]
    assert await gateway.send_measurements()
    # The logger is wanted: its channels within the cap are kept, so it stays Y.
    assert _answer(gateway) == {"Y": [1, 2], "N": []}
    await hass.async_block_till_done()
    names = [f"sensor.efento_282c024fffb1_temperature_{n}" for n in range(1, 13)]
    assert [hass.states.get(name) is not None for name in names] == [True] * 8 + [False] * 4
    issue = _limit_issue(hass, "channels of one logger")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["refused"] == "4"
    # Deleting the logger makes room: the notice goes.
    freezer.tick(timedelta(minutes=14))
    device = find_device(hass, (DOMAIN, f"efento_{ENTRY_ID}_{crowded.serial}"))
    assert device is not None
    assert await remove_device(client, ENTRY_ID, device.id)
    assert _limit_issue(hass, "channels of one logger") is None


async def test_invented_names_do_not_reach_the_registries(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Serials, type names, channel numbers and gateway texts are bounded."""
    caplog.set_level(logging.WARNING)
    gateway.loggers[0].overrides = {"serial": "A" * 100_000}
    gateway.loggers[1].overrides = {
        "params": [
            {"channel": 10**30, "type": "temperature", "value": 1, "status": "ok"},
            {"channel": 2, "type": "<script>" * 100, "value": 1, "status": "ok"},
            {"channel": 3, "type": "humidity", "value": 50, "status": "ok"},
        ]
    }
    gateway.name = "N" * 100_000
    gateway.mac = "not a mac" * 1000
    assert await gateway.send_measurements()
    assert await gateway.send_heartbeat()
    assert _answer(gateway, -2) == {"Y": [1, 2, 3], "N": []}
    await hass.async_block_till_done()
    assert _state(hass, "sensor.efento_282c024fffb2_humidity") == "50.0"
    devices = entry_devices(hass, ENTRY_ID)
    assert len(devices) == 3  # the gateway, the second and the third logger
    assert all(len(device.name or "") <= 64 for device in devices)
    assert all(not device.connections for device in devices)
    assert [
        entity.entity_id
        for entity in er.async_entries_for_config_entry(er.async_get(hass), ENTRY_ID)
        if len(entity.unique_id) > 80
    ] == []
    for kind in ("serial not usable", "channel number out of range", "type name not usable"):
        assert f"cannot be used ({kind})" in caplog.text


# --- the webhook id is a secret ----------------------------------------------------


async def test_webhook_id_is_in_no_registry(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    entity_registry: er.EntityRegistry,
) -> None:
    assert await gateway.send_doc_examples()
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    devices = entry_devices(hass, ENTRY_ID)
    assert len(entities) > 20
    assert len(devices) == 5
    assert [e.unique_id for e in entities if WEBHOOK_ID in e.unique_id] == []
    assert [d.identifiers for d in devices if WEBHOOK_ID in repr(d.identifiers)] == []
    assert all(e.unique_id.startswith(f"{ENTRY_ID}_") for e in entities)
    assert all(
        identifier.startswith(("efento_gateway_", "efento_")) and ENTRY_ID in identifier
        for device in devices
        for _, identifier in device.identifiers
    )
    assert _state(hass, B1) != STATE_UNAVAILABLE
