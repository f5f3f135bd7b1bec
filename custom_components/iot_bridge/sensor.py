"""Sensors of every vendor, built from the vendor's descriptions."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorEntity
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .descriptions import IotBridgeSensorEntityDescription, SensorValue
from .entity import IotBridgeEntity, async_setup_platform_entities
from .vendor import IotBridgeConfigEntry

# Coordinators serialise updates; entities never poll on their own.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IotBridgeConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the entry's sensors, now and as devices appear."""
    async_setup_platform_entities(entry, Platform.SENSOR, IotBridgeSensor, async_add_entities)


class IotBridgeSensor(IotBridgeEntity, SensorEntity):
    """A sensor whose value comes from its description's ``value_fn``."""

    entity_description: IotBridgeSensorEntityDescription[Any]

    @property
    def native_value(self) -> SensorValue:
        """Return the value its device reports now."""
        return self.entity_description.value_fn(self.device_data)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return extra attributes when the description asks for them."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.device_data)
