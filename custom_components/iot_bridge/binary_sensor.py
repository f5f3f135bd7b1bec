"""Binary sensors of every vendor, built from the vendor's descriptions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .descriptions import IotBridgeBinarySensorEntityDescription
from .entity import IotBridgeEntity, async_setup_platform_entities
from .vendor import IotBridgeConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBridgeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the entry's binary sensors, now and as devices appear."""
    async_setup_platform_entities(
        entry, Platform.BINARY_SENSOR, IotBridgeBinarySensor, async_add_entities
    )


class IotBridgeBinarySensor(IotBridgeEntity, BinarySensorEntity):
    """A binary sensor whose state comes from its description's ``is_on_fn``."""

    entity_description: IotBridgeBinarySensorEntityDescription[Any]

    @property
    def is_on(self) -> bool | None:
        """Return the state its device reports now."""
        return self.entity_description.is_on_fn(self.device_data)
