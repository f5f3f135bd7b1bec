"""Stale loggers and gateway, restart restore, device removal, diagnostics, snapshot."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory

# Diagnostics import this on demand; its models cannot be built under frozen time.
import homeassistant.components.hassio  # noqa: F401
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.efento import EfentoVendor
from simulators.efento_gateway import EmulatedGateway
from tests.devices import find_device, remove_device

from .conftest import ENTRY_ID, NOW, TOKEN, WEBHOOK_ID, GatewayFactory

B1 = "sensor.efento_282c024fffb1_temperature"
CONNECTIVITY = "binary_sensor.efento_gateway_connectivity"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def _advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass, dt_util.utcnow())
    await hass.async_block_till_done()


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR, Platform.SWITCH])
async def test_entities_snapshot(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    make_gateway: GatewayFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    with patch.object(EfentoVendor, "platforms", (platform,)):
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    init_integration = config_entry
    gateway = await make_gateway()
    assert await gateway.send_doc_examples()
    await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_gateway_without_heartbeat_yet(hass: HomeAssistant) -> None:
    assert _state(hass, CONNECTIVITY) == "unknown"
    assert _state(hass, "sensor.efento_gateway_software_version") == STATE_UNAVAILABLE


@pytest.mark.usefixtures("init_integration")
async def test_logger_stale_after_its_schedule_and_back(
    hass: HomeAssistant, gateway: EmulatedGateway, freezer: FrozenDateTimeFactory
) -> None:
    gateway.measurement_interval = 180
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    temp = "sensor.efento_282c024fffb1_temperature"
    assert _state(hass, temp) != STATE_UNAVAILABLE
    # Next measurement due in 3 minutes; 10 minutes of grace on top.
    await _advance(hass, freezer, timedelta(minutes=12))
    assert _state(hass, temp) != STATE_UNAVAILABLE
    await _advance(hass, freezer, timedelta(minutes=1, seconds=1))
    assert _state(hass, temp) == STATE_UNAVAILABLE
    assert _state(hass, "binary_sensor.efento_282c024fffb1_battery") == STATE_UNAVAILABLE
    assert _state(hass, "sensor.efento_282c024fffb1_signal_strength") == STATE_UNAVAILABLE
    # The time of the last measurement and the switch stay.
    assert _state(hass, "sensor.efento_282c024fffb1_last_measurement") != STATE_UNAVAILABLE
    assert _state(hass, "switch.efento_282c024fffb1_accept_measurements") == "on"
    # Only the late ones: another logger that reported since stays.
    assert await gateway.send_measurements([gateway.loggers[1].serial])
    assert _state(hass, "sensor.efento_282c024fffb2_temperature") != STATE_UNAVAILABLE
    assert _state(hass, temp) == STATE_UNAVAILABLE
    assert await gateway.send_measurements([gateway.loggers[0].serial])
    assert _state(hass, temp) != STATE_UNAVAILABLE


@pytest.mark.usefixtures("init_integration")
async def test_gateway_connectivity_follows_heartbeats(
    hass: HomeAssistant, gateway: EmulatedGateway, freezer: FrozenDateTimeFactory
) -> None:
    gateway.heartbeat_interval = 900
    assert await gateway.send_heartbeat()
    await hass.async_block_till_done()
    assert _state(hass, CONNECTIVITY) == "on"
    assert _state(hass, "sensor.efento_gateway_loggers_in_range") == "3"
    assert _state(hass, "binary_sensor.efento_gateway_usb_power") == "on"
    await _advance(hass, freezer, timedelta(minutes=24))
    assert _state(hass, CONNECTIVITY) == "on"
    await _advance(hass, freezer, timedelta(minutes=1, seconds=1))
    assert _state(hass, CONNECTIVITY) == "off"
    assert _state(hass, "sensor.efento_gateway_loggers_in_range") == STATE_UNAVAILABLE
    assert _state(hass, "sensor.efento_gateway_last_heartbeat") != STATE_UNAVAILABLE
    gateway.is_usb_connected = False
    gateway.is_charging = False
    assert await gateway.send_heartbeat()
    assert _state(hass, CONNECTIVITY) == "on"
    assert _state(hass, "binary_sensor.efento_gateway_usb_power") == "off"
    assert _state(hass, "binary_sensor.efento_gateway_charging") == "off"
    assert _state(hass, "sensor.efento_gateway_battery") == "80"


async def test_state_survives_a_restart(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    freezer: FrozenDateTimeFactory,
) -> None:
    assert await gateway.send_doc_examples()
    await hass.async_block_till_done()
    await hass.services.async_call(
        "switch",
        "turn_off",
        {"entity_id": "switch.efento_282c024fffb2_accept_measurements"},
        blocking=True,
    )
    before = {
        s.entity_id: s.state
        for s in hass.states.async_all()
        if s.entity_id.startswith(("sensor.efento", "binary_sensor.efento", "switch.efento"))
    }
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    after = {entity_id: _state(hass, entity_id) for entity_id in before}
    assert after == before
    assert after[B1] == "6.0"
    assert after["switch.efento_282c024fffb2_accept_measurements"] == "off"
    # The Y/N choice is remembered too.
    gateway.enqueue("measurements", gateway.measurements_path, gateway.doc_measurements_payload())
    assert await gateway.flush()
    assert gateway.replies[-1].json() == {"Y": [1, 3, 4], "N": [2]}


async def test_restored_from_storage_before_any_message(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    hass_storage[f"{DOMAIN}.efento.{config_entry.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.efento.{config_entry.entry_id}",
        "data": {
            "gateway": {"name": "Stored gateway", "received_at": NOW.isoformat()},
            "loggers": [
                {
                    "serial": "AAAA",
                    "accept": True,
                    "measured_at": (NOW - timedelta(minutes=1)).isoformat(),
                    "next_measurement_at": (NOW + timedelta(minutes=2)).isoformat(),
                    "channels": {"1": {"type": "temperature", "status": "ok", "value": 4.5}},
                },
                {
                    "serial": "BBBB",
                    "measured_at": (NOW - timedelta(hours=3)).isoformat(),
                    "next_measurement_at": (NOW - timedelta(hours=2)).isoformat(),
                    "channels": {"1": {"type": "humidity", "status": "ok", "value": 40}},
                },
            ],
        },
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, "sensor.efento_aaaa_temperature") == "4.5"
    # Went quiet while Home Assistant was down.
    assert _state(hass, "sensor.efento_bbbb_humidity") == STATE_UNAVAILABLE
    await _advance(hass, freezer, timedelta(minutes=13))
    assert _state(hass, "sensor.efento_aaaa_temperature") == STATE_UNAVAILABLE


async def test_stale_logger_can_be_removed_and_comes_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    make_gateway: GatewayFactory,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
    hass_ws_client: WebSocketGenerator,
) -> None:
    # Before the test server starts: it freezes the routes (Home Assistant's own does not).
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)
    gateway = await make_gateway()
    assert await gateway.send_measurements()
    assert await gateway.send_heartbeat()
    await hass.async_block_till_done()

    async def remove(device_id: str) -> bool:
        return await remove_device(client, init_integration.entry_id, device_id)

    serial = gateway.loggers[0].serial
    identifier = (DOMAIN, f"efento_{ENTRY_ID}_{serial}")
    logger = find_device(hass, identifier)
    assert logger is not None
    gateway_device = device_registry.async_get(logger.via_device_id or "")
    assert gateway_device is not None
    assert not await remove(logger.id)  # still reporting
    assert not await remove(gateway_device.id)
    await _advance(hass, freezer, timedelta(minutes=14))
    assert await remove(logger.id)
    await hass.async_block_till_done()
    assert find_device(hass, identifier) is None
    assert hass.states.get(B1) is None
    # It reports again: device and entities are back.
    assert await gateway.send_measurements([serial])
    await hass.async_block_till_done()
    assert find_device(hass, identifier) is not None
    assert _state(hass, B1) != STATE_UNAVAILABLE


async def test_diagnostics_redact_token_and_path(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    make_gateway: GatewayFactory,
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    gateway = await make_gateway()
    assert await gateway.send_doc_examples()
    await gateway.post_once(gateway.measurements_path, "{bad")
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["entry"]["data"]["token"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["webhook_id"] == "**REDACTED**"
    vendor = diagnostics["vendor"]
    assert vendor["counters"]["measurements"] == 1
    assert vendor["counters"]["heartbeats"] == 1
    assert vendor["counters"]["bad_messages"] == 1
    assert vendor["last_fault"] == "measurements: not JSON"
    assert {logger["serial"] for logger in vendor["loggers"]} == {
        "282C024FFFB1",
        "282C024FFFB2",
        "282C024FFFB3",
        "282C024FFFB4",
    }
    text = json.dumps(diagnostics)
    assert TOKEN not in text
    assert WEBHOOK_ID not in text
