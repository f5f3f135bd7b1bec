"""An Instathings project kept live by its websocket.

The REST API gives the devices and their newest record at set-up; from then on
the shared stream supervisor (``..stream``: reconnects, backoff, grace period,
re-authentication) follows the websocket, and each event changes the state of
only the devices it touches.

After every (re)connect, and before the first message is read, the supervisor's
catch-up syncs: the device list (pairings missed while away) and every record
newer than the last one seen per device (``start=``). Messages that arrive
meanwhile wait in the socket's buffer; records seen twice (catch-up and live)
are dropped by timestamp and record id. So a drop loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo

from ..api.errors import ApiError
from ..api.instathings import (
    BadMessage,
    ConnectivityEvent,
    DataEvent,
    DataRecord,
    InstathingsClient,
    InstathingsDevice,
    InstathingsEvent,
    InstathingsType,
    PairingEvent,
    SoftwareVersionEvent,
    UnknownEvent,
)
from ..api.log_once import LogOnce
from ..compat import device_by_identifier, via_device
from ..const import DOMAIN, LOGGER
from ..errors import command_errors
from ..stream import OnOpen, StreamCoordinator
from ..vendor import VendorConfigEntry
from .model import STATE_KEY, InstathingsDeviceState, firmware, link_children

# Catch-up requests in flight at once (one per device).
CATCH_UP_CONCURRENCY = 4
IDENTIFIER_PREFIX = "instathings_"

type Devices = dict[str, InstathingsDeviceState]


class InstathingsCoordinator(StreamCoordinator[Devices, InstathingsEvent]):
    """Devices of one project, fed by the websocket."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: VendorConfigEntry[InstathingsCoordinator],
        client: InstathingsClient,
    ) -> None:
        """Set up the (interval-less) coordinator for one project."""
        super().__init__(hass, entry, name=f"Instathings {client.project}")
        self.client = client
        self.devices: Devices = {}
        self.device_types: dict[str, InstathingsType] = {}
        self._device_types_asked: set[str] = set()
        self._log_once = LogOnce(LOGGER)
        self._loaded = False

    # --- REST: first load and catch-up ----------------------------------------

    async def _async_fetch(self) -> Devices:
        if not self._loaded:
            await self._async_sync(initial=True)
            self._loaded = True
        # Later refreshes (``homeassistant.update_entity``) have nothing to add:
        # the stream delivers every change.
        return self.devices

    async def _async_catch_up(self) -> None:
        await self._async_sync(initial=False)

    async def _async_sync(self, *, initial: bool) -> None:
        """Read the device list and every record not seen yet."""
        devices = await self.client.list_devices()
        await self._async_load_device_types(devices)
        self._reconcile(devices, initial=initial)
        semaphore = asyncio.Semaphore(CATCH_UP_CONCURRENCY)

        async def catch_up(key: str, state: InstathingsDeviceState) -> None:
            async with semaphore:
                if initial:
                    record = await self.client.latest_data(key)
                    records = [record] if record is not None else []
                else:
                    records = await self.client.data_since(key, state.catch_up_start)
            # Oldest first, each written as a state of its own: nothing is skipped.
            for record in records:
                self._apply(state, record)
            if records and not initial:
                self.stream_stats["caught_up_records"] += len(records)
                LOGGER.debug("Caught up %d record(s) of %s", len(records), key)

        await asyncio.gather(
            *(catch_up(key, state) for key, state in self.devices.items() if not state.gone)
        )

    async def _async_load_device_types(self, devices: list[InstathingsDevice]) -> None:
        """Fetch device types (manufacturer, model) once for type ids not asked about yet."""
        wanted = {d.type_id for d in devices if d.type_id} - self._device_types_asked
        if not wanted:
            return
        self._device_types_asked |= wanted
        try:
            device_types = await self.client.list_types()
        except ApiError as err:
            # Only names of manufacturer and model depend on it.
            LOGGER.debug("Could not read Instathings device types: %s", err)
            return
        self.device_types.update((item.id, item) for item in device_types)

    @callback
    def _reconcile(self, devices: list[InstathingsDevice], *, initial: bool) -> None:
        """Add listed devices we do not know, mark unlisted ones gone, refresh documents."""
        listed = {device.id for device in devices}
        touched: set[str] = set()
        # Gateways first, so children can name them as via_device.
        for device in sorted(devices, key=lambda d: not d.is_gateway):
            state = self.devices.get(device.id)
            if state is None:
                self._add_device(device, since=0 if initial else (device.created_ms or 0))
            else:
                if state.gone:
                    LOGGER.info("Instathings device %s is listed again", device.id)
                    state.gone = False
                self._update_document(state, device)
            touched.add(device.id)
        for key, state in self.devices.items():
            if key not in listed and not state.gone:
                LOGGER.info("Instathings device %s is no longer listed", key)
                state.gone = True
                touched.add(key)
        touched |= link_children(self.devices)
        self.async_update_devices(touched)

    @callback
    def _add_device(self, device: InstathingsDevice, *, since: int) -> None:
        self.devices[device.id] = InstathingsDeviceState(
            device, since=since, connected=device.connected
        )
        if device.is_gateway:
            # Its cloud connection sensor.
            self.mark_catalog_changed()
        self._register_device(device.id)

    @callback
    def _register_device(self, key: str) -> None:
        # Registered now, not with its first entity, so children can link to it.
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id, **self.device_info(key)
        )

    @callback
    def _update_document(self, state: InstathingsDeviceState, device: InstathingsDevice) -> None:
        if state.update_document(device):
            self._update_registry(device.id)

    @callback
    def _update_registry(self, key: str) -> None:
        registry = dr.async_get(self.hass)
        entry = device_by_identifier(
            self.hass, (DOMAIN, IDENTIFIER_PREFIX + key), self.config_entry.entry_id
        )
        if entry is None:
            return
        info = self.device_info(key)
        registry.async_update_device(
            entry.id,
            name=info.get("name"),
            sw_version=info.get("sw_version"),
            manufacturer=info.get("manufacturer"),
            model=info.get("model"),
        )

    @callback
    def _apply(self, state: InstathingsDeviceState, record: DataRecord) -> None:
        applied, new_keys = state.apply(record)
        if new_keys:
            self.mark_catalog_changed()
        if applied:
            self.async_update_devices((record.device_id,))

    # --- the websocket --------------------------------------------------------

    def _open_stream(self, on_open: OnOpen) -> AsyncGenerator[InstathingsEvent]:
        return self.client.events(on_open)

    @callback
    def _handle_item(self, item: InstathingsEvent) -> bool:
        """Apply one event; documented events about devices count as real data."""
        self.stream_stats["events"] += 1
        if isinstance(item, DataEvent):
            self._on_data(item.record)
        elif isinstance(item, ConnectivityEvent):
            self._on_connectivity(item)
        elif isinstance(item, PairingEvent):
            self._on_pairing(item)
        elif isinstance(item, SoftwareVersionEvent):
            self._on_software_version(item)
        elif isinstance(item, UnknownEvent):
            LOGGER.debug("Ignoring Instathings event %s", item.action)
            return False
        else:
            self._on_bad_message(item)
            return False
        return True

    @callback
    def _on_data(self, record: DataRecord) -> None:
        state = self.devices.get(record.device_id)
        if state is None:
            self._warn_once(
                "unknown_device",
                record.device_id,
                "Skipping data of unknown Instathings device %s",
                record.device_id,
            )
            return
        self._apply(state, record)

    @callback
    def _on_connectivity(self, event: ConnectivityEvent) -> None:
        state = self.devices.get(event.gateway_id)
        if state is None:
            LOGGER.debug("Connectivity of unknown Instathings gateway %s", event.gateway_id)
            return
        LOGGER.info(
            "Instathings gateway %s %s%s",
            event.gateway_id,
            "connected" if event.connected else "disconnected",
            f" ({event.reason})" if event.reason else "",
        )
        self._update_document(state, event.device)
        state.connected = event.connected
        self.async_update_devices({event.gateway_id} | link_children(self.devices))

    @callback
    def _on_pairing(self, event: PairingEvent) -> None:
        device = event.device
        state = self.devices.get(device.id)
        if event.paired:
            if state is None:
                LOGGER.info("Instathings device %s (%s) was paired", device.id, device.name)
                self._add_device(device, since=device.created_ms or 0)
            else:
                state.gone = False
                self._update_document(state, device)
                # The user may have deleted the device while it was gone.
                self._register_device(device.id)
            self.async_update_devices({device.id} | link_children(self.devices))
        elif state is None:
            LOGGER.debug("Pairing of Instathings device %s failed", device.id)
        elif not state.gone:
            LOGGER.info("Instathings device %s was unpaired", device.id)
            state.gone = True
            self.async_update_devices((device.id,))

    @callback
    def _on_software_version(self, event: SoftwareVersionEvent) -> None:
        state = self.devices.get(event.device.id)
        if state is None:
            LOGGER.debug("Software version of unknown Instathings device %s", event.device.id)
            return
        self._update_document(state, event.device)

    @callback
    def _on_bad_message(self, event: BadMessage) -> None:
        self.stream_stats["bad_messages"] += 1
        self._warn_once(
            "bad_message",
            event.reason,
            "Skipping an Instathings message: %s: %s",
            event.reason,
            event.excerpt,
        )

    def _warn_once(self, problem: str, key: str, message: str, *args: object) -> None:
        """A warning the first time, debug lines after that."""
        suffixed = f"{message} (further ones are logged at debug level)"
        if not self._log_once.warning(suffixed, *args, kind=problem, key=key):
            LOGGER.debug(message, *args)

    # --- commands -------------------------------------------------------------

    async def async_set_state(self, device_key: str, *, on: bool) -> None:
        """Send ``{"state": "ON"|"OFF"}``; show it until the device reports its state."""
        state = self.devices[device_key]
        value = "ON" if on else "OFF"
        reports = state.state_reports
        name = state.device.name or device_key
        async with command_errors(f"switch {name} {value.lower()}"):
            await self.client.set_control(device_key, {STATE_KEY: value})
        # "Delivered" is all the answer says. A report that arrived meanwhile wins.
        state.assume_state(value, reports)

    # --- what the entities ask ------------------------------------------------

    def device_info(self, device_key: str) -> DeviceInfo:
        """The device as Instathings names it; sub-devices hang off their gateway."""
        device = self.devices[device_key].device
        device_type = self.device_types.get(device.type_id) if device.type_id else None
        model = device_type.model if device_type is not None else None
        if model is None and device.is_virtual:
            model = "Virtual device"
        info = DeviceInfo(
            identifiers={(DOMAIN, IDENTIFIER_PREFIX + device_key)},
            name=device.name or device_key,
            manufacturer=(device_type.manufacturer if device_type is not None else None)
            or "Instathings",
            model=model,
            sw_version=firmware(device),
        )
        if device.parent_id and device.parent_id in self.devices:
            info.update(
                via_device(
                    self.hass,
                    (DOMAIN, IDENTIFIER_PREFIX + device.parent_id),
                    self.config_entry.entry_id,
                )
            )
        return info

    def device_data(self, device_key: str) -> InstathingsDeviceState:
        """The device's state; value functions read ``values``."""
        return self.devices[device_key]

    def device_available(self, device_key: str) -> bool:
        """Unpaired and unlisted devices are unavailable."""
        state = self.devices.get(device_key)
        return state is not None and not state.gone

    def device_removable(self, device: DeviceEntry) -> bool:
        """A device may be deleted once Instathings no longer has it."""
        for domain, identifier in device.identifiers:
            if domain == DOMAIN and identifier.startswith(IDENTIFIER_PREFIX):
                state = self.devices.get(identifier.removeprefix(IDENTIFIER_PREFIX))
                return state is None or state.gone
        return False

    def diagnostics(self) -> dict[str, Any]:
        """Stream health and every device's document summary and values."""
        return {
            "project": self.client.project,
            "requests_sent": self.client.requests_sent,
            "stream": {
                "connected": self.stream_connected,
                "backoff_attempt": self.backoff.attempt,
                **self.stream_stats,
            },
            "devices": [
                {
                    "id": key,
                    "name": state.device.name,
                    "is_gateway": state.device.is_gateway,
                    "parent": state.device.parent_id,
                    "type": state.device.type_id,
                    "software_version": state.device.software_version,
                    "connected": state.connected,
                    "reachable": state.reachable,
                    "gone": state.gone,
                    "last_ts": state.last_ts,
                    "kinds": dict(state.kinds),
                    "values": dict(state.values),
                    "optimistic": dict(state.optimistic),
                }
                for key, state in self.devices.items()
            ],
        }
