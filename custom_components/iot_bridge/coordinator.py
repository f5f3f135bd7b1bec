"""The coordinator every vendor's data flows through."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util.json import JsonObjectType

from .api.errors import ApiError, ApiRateLimitError
from .const import LOGGER
from .errors import update_error_for
from .late_readings import LateReading, LateStatistics

# Runs a command with its arguments on one device; returns what the device answered.
type BoundCommandRunner = Callable[[str, Mapping[str, Any]], Awaitable[JsonObjectType]]


class IotBridgeCoordinator[DataT](DataUpdateCoordinator[DataT]):
    """A DataUpdateCoordinator that also knows its devices and their entities.

    Two additions over Home Assistant's coordinator:
    - entities subscribe with their device as context, so a push vendor can
      wake only the entities of the devices a message touched
      (``async_update_devices``) instead of every entity of the entry;
    - the set of entities is a catalog that may grow at runtime (dynamic
      devices); platforms listen for ``async_catalog_changed``.
    """

    # The entry's runtime data holds this coordinator; typed per vendor in vendor.py.
    config_entry: ConfigEntry[Any]

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        *,
        name: str,
        update_interval: timedelta | None = None,
    ) -> None:
        """Set up the coordinator for one config entry."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=name,
            update_interval=update_interval,
            # Entities decide themselves whether their state changed.
            always_update=update_interval is None,
        )
        self._normal_interval = update_interval
        self._device_listeners: dict[Any, set[CALLBACK_TYPE]] = {}
        self._catalog_listeners: set[CALLBACK_TYPE] = set()
        self._catalog_changed = False
        self._late: LateStatistics | None = None

    # --- what a vendor coordinator provides -----------------------------------

    @abstractmethod
    def device_info(self, device_key: str) -> DeviceInfo:
        """Return the device registry entry for a device key."""

    @abstractmethod
    def device_data(self, device_key: str) -> Any:
        """Return what a device's value functions read."""

    def device_available(self, device_key: str) -> bool:
        """Return whether a device's source is reachable (beyond the last refresh)."""
        return True

    def device_removable(self, device: DeviceEntry) -> bool:
        """Return whether the user may delete a device (it is no longer reported)."""
        return False

    def diagnostics(self) -> dict[str, Any]:
        """Return vendor data for diagnostics; secrets are redacted by the caller."""
        return {}

    def command_runner(self, device_id: str) -> BoundCommandRunner | None:
        """What runs any command of a device (registry id) for ``run_command``; None if none."""
        return None

    async def _async_fetch(self) -> DataT:
        """Fetch fresh data from the vendor; raise ApiError on failure."""
        raise NotImplementedError

    # --- polling with the shared error mapping --------------------------------

    async def _async_update_data(self) -> DataT:
        try:
            data = await self._async_fetch()
        except ApiRateLimitError as err:
            self._slow_down(err.retry_after)
            raise update_error_for(err) from err
        except ApiError as err:
            raise update_error_for(err) from err
        if self.update_interval != self._normal_interval:
            self.update_interval = self._normal_interval
        return data

    def _slow_down(self, retry_after: float | None) -> None:
        """Wait at least as long as the vendor asked before the next poll."""
        if self._normal_interval is None or retry_after is None:
            return
        self.update_interval = max(self._normal_interval, timedelta(seconds=retry_after))

    # --- device-scoped listeners ----------------------------------------------

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Subscribe like the base class, and remember the device it is for."""
        remove = super().async_add_listener(update_callback, context)
        listeners = self._device_listeners.setdefault(context, set())
        listeners.add(update_callback)

        @callback
        def remove_listener() -> None:
            remove()
            listeners.discard(update_callback)

        return remove_listener

    @callback
    def async_update_listeners(self) -> None:
        """Create entities that appeared with this data, then update all entities."""
        self._async_flush_catalog()
        super().async_update_listeners()

    @callback
    def async_update_devices(self, device_keys: Iterable[str]) -> None:
        """Wake only the entities of the given devices (push vendors)."""
        self._async_flush_catalog()
        for key in set(device_keys):
            for update_callback in list(self._device_listeners.get(key, ())):
                update_callback()

    # --- late readings (late_readings.py) -------------------------------------

    @callback
    def async_record_late(
        self,
        device_key: str,
        description_key: str,
        readings: Iterable[LateReading],
        *,
        unit: str | None,
    ) -> None:
        """Put late readings of one sensor into its own long-term statistics (in the background).

        For readings that must not become its state (older than what it shows, or
        superseded within a catch-up); ``unit`` is the unit the values are in (the
        sensor's native unit). Never raises; see late_readings.py for what is written.
        """
        if self._late is None:
            self._late = LateStatistics(self.hass, self.config_entry)
        self._late.async_add(device_key, description_key, readings, unit)

    # --- dynamic entity catalog -----------------------------------------------

    @callback
    def async_add_catalog_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` whenever new entities may exist."""
        self._catalog_listeners.add(listener)

        @callback
        def remove_listener() -> None:
            self._catalog_listeners.discard(listener)

        return remove_listener

    def mark_catalog_changed(self) -> None:
        """Note that new entities exist; platforms hear of it with the next update.

        Deferring to the update means new entities are created against the data
        that revealed them, not the data before it.
        """
        self._catalog_changed = True

    @callback
    def _async_flush_catalog(self) -> None:
        if not self._catalog_changed:
            return
        self._catalog_changed = False
        for listener in list(self._catalog_listeners):
            listener()
