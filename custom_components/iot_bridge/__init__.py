"""IoT Bridge: eGauge, Enapter, Efento, Instathings and Netemera in Home Assistant."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.storage import Store
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN
from .coordinator import IotBridgeCoordinator
from .energy_history import STORE_NAME as ENERGY_HISTORY_STORE, EnergyHistory, history_days
from .limits import async_clear_entry_limits
from .services import async_setup_services
from .storage import entry_store_key
from .vendor import IotBridgeConfigEntry, IotBridgeRuntime
from .vendors import vendor_for

# Entries come from the config flow only; nothing is read from configuration.yaml.
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions, once, whether or not an entry loads."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: IotBridgeConfigEntry) -> bool:
    """Set an entry up through the vendor package that owns it."""
    vendor = vendor_for(entry.data)
    coordinator = await vendor.async_setup_entry(hass, entry)
    runtime = IotBridgeRuntime(vendor=vendor, coordinator=coordinator)
    entry.runtime_data = runtime
    await hass.config_entries.async_forward_entry_setups(entry, vendor.platforms)
    if (source := vendor.energy_history(coordinator)) is not None:
        runtime.history = EnergyHistory(hass, entry, source, history_days(entry.options))
        await runtime.history.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: IotBridgeConfigEntry) -> bool:
    """Unload the entry's platforms; the coordinator shuts itself down with the entry."""
    return await hass.config_entries.async_unload_platforms(
        entry, entry.runtime_data.vendor.platforms
    )


async def async_remove_entry(hass: HomeAssistant, entry: IotBridgeConfigEntry) -> None:
    """Delete what the entry kept on disk and its notices, so removing it leaves nothing behind."""
    async_clear_entry_limits(hass, entry)
    for name in (*vendor_for(entry.data).store_names, ENERGY_HISTORY_STORE):
        await Store[Any](hass, 1, entry_store_key(name, entry.entry_id)).async_remove()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: IotBridgeConfigEntry, device_entry: DeviceEntry
) -> bool:
    """Let the user delete a device its vendor no longer reports."""
    coordinator: IotBridgeCoordinator[Any] = entry.runtime_data.coordinator
    return coordinator.device_removable(device_entry)
