"""Device registry look-ups that read the same on every supported Home Assistant."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.iot_bridge.const import DOMAIN


def find_device(hass: HomeAssistant, identifier: tuple[str, str]) -> dr.DeviceEntry | None:
    """Return the integration's device with this identifier, from any of its entries."""
    registry = dr.async_get(hass)
    for entry in hass.config_entries.async_entries(DOMAIN):
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
            if identifier in device.identifiers:
                return device
    return None


def entry_devices(hass: HomeAssistant, entry_id: str) -> list[dr.DeviceEntry]:
    """Every device of one config entry."""
    return dr.async_entries_for_config_entry(dr.async_get(hass), entry_id)


async def remove_device(client: Any, entry_id: str, device_id: str) -> bool:
    """Ask, as the device page's delete button does, to remove a device from an entry."""
    await client.send_json_auto_id(
        {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": entry_id,
            "device_id": device_id,
        }
    )
    response = await client.receive_json()
    return bool(response["success"])
