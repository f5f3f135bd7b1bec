"""Selects of every vendor (operating modes and other choices), built from descriptions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import SelectEntity
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .descriptions import IotBridgeSelectEntityDescription
from .entity import IotBridgeEntity, async_setup_platform_entities
from .vendor import IotBridgeConfigEntry

# One command at a time per entry: vendors' device APIs are not built for bursts.
PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBridgeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the entry's selects, now and as devices appear."""
    async_setup_platform_entities(entry, Platform.SELECT, IotBridgeSelect, async_add_entities)


class IotBridgeSelect(IotBridgeEntity, SelectEntity, RestoreEntity):
    """A select; choosing an option runs the vendor's action, whose effect device data shows."""

    entity_description: IotBridgeSelectEntityDescription[Any, Any]
    # The names of all options change with the blueprint only: no need to record each state's.
    _unrecorded_attributes = frozenset({"option_names"})

    async def async_added_to_hass(self) -> None:
        """Give a select nothing confirms its option from before the restart."""
        await super().async_added_to_hass()
        self._attr_assumed_state = self.entity_description.assumed_state
        restore_fn = self.entity_description.restore_fn
        if restore_fn is None or (last := await self.async_get_last_state()) is None:
            return
        if last.state in self.options:
            restore_fn(self.coordinator, self.device_key, last.state)

    @property
    def current_option(self) -> str | None:
        """Return the option its device reports (or the vendor assumes) now."""
        return self.entity_description.current_fn(self.device_data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return extra attributes (the options' display names) when the description has them."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.device_data)

    async def async_select_option(self, option: str) -> None:
        """Choose the option through the vendor."""
        await self.entity_description.select_fn(self.coordinator, self.device_key, option)
        self.async_write_ha_state()
