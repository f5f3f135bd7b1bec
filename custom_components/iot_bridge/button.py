"""Buttons of every vendor, built from the vendor's descriptions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.button import ButtonEntity
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .descriptions import IotBridgeButtonEntityDescription
from .entity import IotBridgeEntity, async_setup_platform_entities
from .vendor import IotBridgeConfigEntry

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBridgeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the entry's buttons, now and as devices appear."""
    async_setup_platform_entities(entry, Platform.BUTTON, IotBridgeButton, async_add_entities)


class IotBridgeButton(IotBridgeEntity, ButtonEntity):
    """A button that runs its description's ``press_fn``."""

    entity_description: IotBridgeButtonEntityDescription[Any, Any]

    async def async_press(self) -> None:
        """Run the vendor action."""
        await self.entity_description.press_fn(self.coordinator, self.device_key)
