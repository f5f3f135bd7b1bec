"""Entries registered with the webhook id in their names are renamed to the entry id."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge import efento as efento_package
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.efento import EfentoVendor, coordinator as efento_coordinator
from tests.devices import entry_devices

from .conftest import ENTRY_ID, WEBHOOK_ID, GatewayFactory

B1 = "sensor.efento_282c024fffb1_temperature"


def _old_unique_id_base(vendor: EfentoVendor, entry: ConfigEntry[Any]) -> str:
    return entry.unique_id or ""


def _registered(hass: HomeAssistant) -> dict[str, tuple[str, str | None]]:
    """Entity id -> (registry id, device id) of the entry's entities."""
    return {
        entity.entity_id: (entity.id, entity.device_id)
        for entity in er.async_entries_for_config_entry(er.async_get(hass), ENTRY_ID)
    }


async def test_entry_registered_with_the_webhook_id_is_renamed(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    make_gateway: GatewayFactory,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    config_entry.add_to_hass(hass)
    # As the versions before did: unique ids and device identifiers from the webhook id.
    with (
        patch.object(EfentoVendor, "unique_id_base", _old_unique_id_base),
        patch.object(
            efento_coordinator,
            "gateway_identifier",
            lambda entry_id: (DOMAIN, f"efento_gateway_{WEBHOOK_ID}"),
        ),
        patch.object(
            efento_coordinator,
            "logger_identifier",
            lambda entry_id, serial: (DOMAIN, f"efento_{WEBHOOK_ID}_{serial}"),
        ),
        patch.object(efento_package, "async_migrate"),
    ):
        assert await hass.config_entries.async_setup(ENTRY_ID)
        await hass.async_block_till_done()
        gateway = await make_gateway()
        assert await gateway.send_doc_examples()
        await hass.async_block_till_done()
        assert await hass.config_entries.async_unload(ENTRY_ID)
        await hass.async_block_till_done()
    old = entity_registry.async_get(B1)
    assert old is not None
    assert old.unique_id == f"{WEBHOOK_ID}_logger_282C024FFFB1_ch1_temperature"
    entity_registry.async_update_entity(B1, name="Fridge")
    before = _registered(hass)
    devices = {device.id for device in entry_devices(hass, ENTRY_ID)}
    assert len(before) > 20
    assert len(devices) == 5

    assert await hass.config_entries.async_setup(ENTRY_ID)
    await hass.async_block_till_done()

    # Same entities (so the same history) and devices, under names without the secret.
    assert _registered(hass) == before
    assert {device.id for device in entry_devices(hass, ENTRY_ID)} == devices
    migrated = entity_registry.async_get(B1)
    assert migrated is not None
    assert migrated.unique_id == f"{ENTRY_ID}_logger_282C024FFFB1_ch1_temperature"
    assert migrated.name == "Fridge"
    entities = er.async_entries_for_config_entry(entity_registry, ENTRY_ID)
    assert [e.unique_id for e in entities if WEBHOOK_ID in e.unique_id] == []
    identifiers = {i for device in entry_devices(hass, ENTRY_ID) for i in device.identifiers}
    assert (DOMAIN, f"efento_gateway_{ENTRY_ID}") in identifiers
    assert (DOMAIN, f"efento_{ENTRY_ID}_282C024FFFB1") in identifiers
    assert [i for i in identifiers if WEBHOOK_ID in i[1]] == []
    # The gateway's next message lands on those entities, and nothing is doubled.
    gateway.enqueue("measurements", gateway.measurements_path, gateway.measurements_payload())
    assert await gateway.flush()
    await hass.async_block_till_done()
    assert hass.states.get(B1).state == str(round(gateway.loggers[0].values[0], 1))
    assert _registered(hass) == before
    # A second start has nothing left to rename.
    assert await hass.config_entries.async_reload(ENTRY_ID)
    await hass.async_block_till_done()
    assert _registered(hass) == before


async def test_a_name_already_taken_does_not_stop_the_start(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Left over from an interrupted start: the old entity keeps its name, the entry starts."""
    config_entry.add_to_hass(hass)
    for base in (WEBHOOK_ID, ENTRY_ID):
        entity_registry.async_get_or_create(
            "sensor",
            DOMAIN,
            f"{base}_gateway_uptime",
            config_entry=config_entry,
            suggested_object_id=f"uptime_{base[:4]}",
        )
    device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, f"efento_gateway_{WEBHOOK_ID}")}
    )
    device_registry.async_get_or_create(
        config_entry_id=ENTRY_ID, identifiers={(DOMAIN, f"efento_gateway_{ENTRY_ID}")}
    )
    assert await hass.config_entries.async_setup(ENTRY_ID)
    await hass.async_block_till_done()
    assert config_entry.state.name == "LOADED"
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"{WEBHOOK_ID}_gateway_uptime")
    assert "kept its old unique id" in caplog.text
    assert "kept its old identifier" in caplog.text
