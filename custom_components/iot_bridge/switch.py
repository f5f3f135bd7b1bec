"""Switches of every vendor, built from the vendor's descriptions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .descriptions import IotBridgeSwitchEntityDescription
from .entity import IotBridgeEntity, async_setup_platform_entities
from .vendor import IotBridgeConfigEntry

# One command at a time per entry: vendors' device APIs are not built for bursts.
PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBridgeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the entry's switches, now and as devices appear."""
    async_setup_platform_entities(entry, Platform.SWITCH, IotBridgeSwitch, async_add_entities)


class IotBridgeSwitch(IotBridgeEntity, SwitchEntity):
    """A switch; the vendor's functions update device data, which this reads back."""

    entity_description: IotBridgeSwitchEntityDescription[Any, Any]

    @property
    def is_on(self) -> bool | None:
        """Return the state its device reports (or the vendor assumes) now."""
        return self.entity_description.is_on_fn(self.device_data)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch on through the vendor."""
        await self.entity_description.turn_on_fn(self.coordinator, self.device_key)
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off through the vendor."""
        await self.entity_description.turn_off_fn(self.coordinator, self.device_key)
        self.async_write_ha_state()
