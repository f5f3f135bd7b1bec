"""Entity snapshots of every Enapter platform, built from the simulator's manifests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

Setup = Callable[[], Awaitable[MockConfigEntry]]


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "platforms",
    [
        (Platform.SENSOR,),
        (Platform.BINARY_SENSOR,),
        (Platform.SWITCH,),
        (Platform.BUTTON,),
        (Platform.NUMBER,),
        (Platform.SELECT,),
    ],
    ids=["sensor", "binary_sensor", "switch", "button", "number", "select"],
)
async def test_entities(
    hass: HomeAssistant,
    setup_entry: Setup,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    entry = await setup_entry()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)


async def test_devices(
    hass: HomeAssistant,
    setup_entry: Setup,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    entry = await setup_entry()
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    via = {device.id: device.name for device in devices}
    assert [
        (d.name, d.manufacturer, d.model, d.serial_number, d.sw_version, via.get(d.via_device_id))
        for d in sorted(devices, key=lambda d: d.name or "")
    ] == snapshot
