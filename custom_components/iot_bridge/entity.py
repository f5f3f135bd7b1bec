"""The one base entity and the helper that feeds entities to each platform."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import callback
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import IotBridgeCoordinator
from .descriptions import IotBridgeEntityDescription
from .vendor import IotBridgeConfigEntry


class IotBridgeEntity(CoordinatorEntity[IotBridgeCoordinator[Any]]):
    """An entity of one vendor device, named by its description."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: IotBridgeCoordinator[Any],
        device_key: str,
        description: IotBridgeEntityDescription,
    ) -> None:
        """Bind the entity to its device; the context limits updates to that device."""
        super().__init__(coordinator, context=device_key)
        self.device_key = device_key
        self.entity_description = description
        self._available_fn = description.available_fn
        entry = coordinator.config_entry
        base = entry.runtime_data.vendor.unique_id_base(entry)
        self._attr_unique_id = f"{base}_{device_key}_{description.key}"
        self._attr_device_info = coordinator.device_info(device_key)

    @property
    def device_data(self) -> Any:
        """What this entity's device currently reports."""
        return self.coordinator.device_data(self.device_key)

    @property
    def available(self) -> bool:
        """Unavailable when the refresh failed, the device is gone, or the value's source is."""
        if not super().available or not self.coordinator.device_available(self.device_key):
            return False
        return self._available_fn is None or self._available_fn(self.device_data)


type EntityFactory = Callable[[IotBridgeCoordinator[Any], str, Any], Entity]


@callback
def async_setup_platform_entities(
    entry: IotBridgeConfigEntry,
    platform: Platform,
    factory: EntityFactory,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the platform's entities now, and later ones as devices appear."""
    vendor = entry.runtime_data.vendor
    coordinator = entry.runtime_data.coordinator
    known: set[tuple[str, str]] = set()

    @callback
    def add_new_entities() -> None:
        new: list[Entity] = []
        for device_key, description in vendor.entity_descriptions(coordinator, platform):
            identity = (device_key, description.key)
            if identity in known:
                continue
            known.add(identity)
            entity = factory(coordinator, device_key, description)
            # A removed device's entities may be created again if the device comes back.
            entity.async_on_remove(partial(known.discard, identity))
            new.append(entity)
        if new:
            async_add_entities(new)

    add_new_entities()
    entry.async_on_unload(coordinator.async_add_catalog_listener(add_new_entities))
