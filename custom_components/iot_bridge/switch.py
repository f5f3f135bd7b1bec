"""Switches of every vendor, built from the vendor's descriptions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

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


class IotBridgeSwitch(IotBridgeEntity, SwitchEntity, RestoreEntity):
    """A switch; the vendor's functions update device data, which this reads back."""

    entity_description: IotBridgeSwitchEntityDescription[Any, Any]

    async def async_added_to_hass(self) -> None:
        """Give a switch nothing confirms its state from before the restart."""
        await super().async_added_to_hass()
        self._attr_assumed_state = self.entity_description.assumed_state
        restore_fn = self.entity_description.restore_fn
        if restore_fn is None or (last := await self.async_get_last_state()) is None:
            return
        if last.state in (STATE_ON, STATE_OFF):
            restore_fn(self.coordinator, self.device_key, last.state == STATE_ON)

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
