"""IoT Bridge: eGauge, Enapter, Efento, Instathings and Netemera in Home Assistant."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.storage import Store

from .coordinator import IotBridgeCoordinator
from .limits import async_clear_entry_limits
from .storage import entry_store_key
from .vendor import IotBridgeConfigEntry, IotBridgeRuntime
from .vendors import vendor_for


async def async_setup_entry(hass: HomeAssistant, entry: IotBridgeConfigEntry) -> bool:
    """Set an entry up through the vendor package that owns it."""
    vendor = vendor_for(entry.data)
    coordinator = await vendor.async_setup_entry(hass, entry)
    entry.runtime_data = IotBridgeRuntime(vendor=vendor, coordinator=coordinator)
    await hass.config_entries.async_forward_entry_setups(entry, vendor.platforms)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IotBridgeConfigEntry) -> bool:
    """Unload the entry's platforms; the coordinator shuts itself down with the entry."""
    return await hass.config_entries.async_unload_platforms(
        entry, entry.runtime_data.vendor.platforms
    )


async def async_remove_entry(hass: HomeAssistant, entry: IotBridgeConfigEntry) -> None:
    """Delete what the entry kept on disk and its notices, so removing it leaves nothing behind."""
    async_clear_entry_limits(hass, entry)
    for name in vendor_for(entry.data).store_names:
        await Store[Any](hass, 1, entry_store_key(name, entry.entry_id)).async_remove()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IotBridgeConfigEntry, device_entry: DeviceEntry
) -> bool:
    """Let the user delete a device its vendor no longer reports."""
    coordinator: IotBridgeCoordinator[Any] = entry.runtime_data.coordinator
    return coordinator.device_removable(device_entry)
