"""How an Efento entry's devices and entities are named in Home Assistant's registries.

Names are built from the config entry's id. Entries registered before were named
after the entry's unique id, which is the webhook id: half of what lets anyone post
measurements to Home Assistant, and not something to copy into registries that the
frontend lists, backups carry and users paste into bug reports. ``async_migrate``
renames what an entry registered that way; entity ids, and with them the history,
settings and automations, stay as they are.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er

from ..const import DOMAIN, LOGGER

_GATEWAY_PREFIX = "efento_gateway_"
_LOGGER_PREFIX = "efento_"


def gateway_identifier(entry_id: str) -> tuple[str, str]:
    """The device identifier of the entry's gateway."""
    return (DOMAIN, f"{_GATEWAY_PREFIX}{entry_id}")


def logger_identifier(entry_id: str, serial: str) -> tuple[str, str]:
    """The device identifier of one of the entry's loggers."""
    return (DOMAIN, f"{_LOGGER_PREFIX}{entry_id}_{serial}")


def logger_serial_of(entry_id: str, device: dr.DeviceEntry) -> str | None:
    """The serial of the logger this device is, or None for the gateway or a stranger."""
    prefix = f"{_LOGGER_PREFIX}{entry_id}_"
    for domain, identifier in device.identifiers:
        if domain == DOMAIN and identifier.startswith(prefix):
            return identifier.removeprefix(prefix)
    return None


def _renamed_identifier(identifier: tuple[str, str], old: str, new: str) -> tuple[str, str]:
    domain, name = identifier
    if domain != DOMAIN:
        return identifier
    if name == f"{_GATEWAY_PREFIX}{old}":
        return gateway_identifier(new)
    if name.startswith(f"{_LOGGER_PREFIX}{old}_"):
        return logger_identifier(new, name.removeprefix(f"{_LOGGER_PREFIX}{old}_"))
    return identifier


@callback
def async_migrate(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Rename the entry's devices and entities from the webhook id to the entry id.

    Runs at every set-up before anything is registered; a second run finds nothing
    to rename. A name already taken (left over from an interrupted run) is left
    alone rather than failing the set-up.
    """
    old, new = entry.unique_id, entry.entry_id
    if not old or old == new:
        return
    devices = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(devices, entry.entry_id):
        renamed = {_renamed_identifier(i, old, new) for i in device.identifiers}
        if renamed == device.identifiers:
            continue
        try:
            devices.async_update_device(device.id, new_identifiers=renamed)
        except dr.DeviceCollisionError:
            LOGGER.warning("Efento %s: device %s kept its old identifier", entry.title, device.id)
    entities = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(entities, entry.entry_id):
        if not entity.unique_id.startswith(f"{old}_"):
            continue
        unique_id = f"{new}_{entity.unique_id.removeprefix(f'{old}_')}"
        if entities.async_get_entity_id(entity.domain, entity.platform, unique_id):
            LOGGER.warning("Efento %s: %s kept its old unique id", entry.title, entity.entity_id)
            continue
        entities.async_update_entity(entity.entity_id, new_unique_id=unique_id)
