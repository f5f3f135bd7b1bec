"""Entity snapshot, diagnostics and stale device removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.components.diagnostics import (  # type: ignore[import-untyped]
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.netemera import NetemeraVendor
from simulators.netemera import NetemeraSimulator
from tests.devices import find_device, remove_device

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

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OPTIONS = {
    CLIMATE: {"decoder": "cayenne_lpp"},
    LIGHT: {"decoder": "cayenne_lpp"},
    RELAY: {
        "decoder": "cayenne_lpp",
        "downlink_port": 1,
        "payload_on": "010101",
        "payload_off": "010100",
        "confirmed": True,
    },
}


def _stored_devices(simulator: NetemeraSimulator, hass_storage: dict[str, Any]) -> None:
    """Devices as a previous run stored them, at fixed times, so the snapshot is stable."""
    devices = {}
    for index, dev_eui in enumerate((CLIMATE, LIGHT, RELAY, RAW)):
        uplink = simulator.make_uplink(simulator.devices[dev_eui], T0 - timedelta(minutes=index))
        devices[dev_eui] = {"uplink": uplink, "values": [], "switch_on": index == 2 or None}
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {"last_event_id": None, "last_recv_time": T0.isoformat(), "devices": devices},
    }


@pytest.mark.parametrize("entry_options", [OPTIONS])
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.SWITCH])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_snapshot(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: Platform,
    hass_storage: dict[str, Any],
) -> None:
    _stored_devices(simulator, hass_storage)
    config_entry.add_to_hass(hass)
    with patch.object(NetemeraVendor, "platforms", (platform,)):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.parametrize("entry_options", [OPTIONS])
async def test_diagnostics_redact_credentials(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    simulator.send_uplink(CLIMATE)
    await hass.async_block_till_done()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    data = diagnostics["entry"]["data"]
    assert data["client_secret"] == "**REDACTED**"
    assert data["client_id"] == "**REDACTED**"
    assert data["application_id"] == "sim-app"
    assert "sim-secret" not in str(diagnostics)
    vendor = diagnostics["vendor"]
    assert vendor["connected"] is True
    assert vendor["options"][RELAY]["payload_on"] == "010101"
    assert set(vendor["stats"]) >= {"catch_ups"}


async def test_stale_device_can_be_removed_and_comes_back(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    hass_ws_client: object,
) -> None:
    now = datetime.now(UTC)
    simulator.send_uplink(RAW, now - timedelta(days=2))
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    coord = coordinator(init_integration)

    active = find_device(hass, (DOMAIN, f"netemera_{LIGHT}"))
    stale = find_device(hass, (DOMAIN, f"netemera_{RAW}"))
    assert active is not None
    assert stale is not None
    assert not coord.device_removable(active)
    assert LIGHT in coord.devices
    assert await async_setup_component(hass, "config", {})
    client = await hass_ws_client(hass)  # type: ignore[operator]
    assert await remove_device(client, init_integration.entry_id, stale.id)
    await hass.async_block_till_done()
    assert device_registry.async_get(stale.id) is None
    assert entity_id(entity_registry, RAW, "frame_counter") is None
    assert RAW not in coord.devices

    # It talks again: device and entities are back.
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "2")
    # A device of another integration's identifiers is never ours to remove.
    other = device_registry.async_get_or_create(
        config_entry_id=init_integration.entry_id, identifiers={(DOMAIN, "something-else")}
    )
    assert not coord.device_removable(other)
    # A device the coordinator forgot already (say, after a lost store) is removable.
    ghost = device_registry.async_get_or_create(
        config_entry_id=init_integration.entry_id, identifiers={(DOMAIN, "netemera_00000000")}
    )
    assert coord.device_removable(ghost)
