"""Numbers of every vendor (set points), built from the vendor's descriptions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.number import RestoreNumber
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .descriptions import IotBridgeNumberEntityDescription
from .entity import IotBridgeEntity, async_setup_platform_entities
from .vendor import IotBridgeConfigEntry

# One command at a time per entry: vendors' device APIs are not built for bursts.
PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBridgeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the entry's numbers, now and as devices appear."""
    async_setup_platform_entities(entry, Platform.NUMBER, IotBridgeNumber, async_add_entities)


class IotBridgeNumber(IotBridgeEntity, RestoreNumber):
    """A number; setting it runs the vendor's action, whose effect device data shows."""

    entity_description: IotBridgeNumberEntityDescription[Any, Any]

    async def async_added_to_hass(self) -> None:
        """Give a number nothing confirms its value from before the restart."""
        await super().async_added_to_hass()
        self._attr_assumed_state = self.entity_description.assumed_state
        restore_fn = self.entity_description.restore_fn
        if restore_fn is None or (last := await self.async_get_last_number_data()) is None:
            return
        if last.native_value is not None:
            restore_fn(self.coordinator, self.device_key, last.native_value)

    @property
    def native_value(self) -> float | None:
        """Return the value its device reports (or the vendor assumes) now."""
        return self.entity_description.value_fn(self.device_data)

    async def async_set_native_value(self, value: float) -> None:
        """Set the value through the vendor."""
        await self.entity_description.set_fn(self.coordinator, self.device_key, value)
        self.async_write_ha_state()
