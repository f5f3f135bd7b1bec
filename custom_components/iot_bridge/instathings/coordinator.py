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

A catch-up is not replayed as states: its records are merged oldest first and each
device's entities update once, with the newest value of every key. The numbers the
later records replaced, and live records older than the last one seen, go to the
long-term statistics of their sensors (``async_record_late``).

What the project's data may create is capped (``model.MAX_DEVICES``,
``MAX_KEYS_PER_DEVICE``, ``MAX_KEYS_PER_PROJECT``): past a cap the extra devices or
keys are ignored, with one warning and a repair issue (``..limits``) that goes away
once deleting devices made room again. One event or record that trips a bug is
skipped (logged once with its traceback); it never costs the connection, and a
record kept in the cloud's history cannot fail every catch-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from typing import Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.util import dt as dt_util

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
from ..late_readings import LateReading
from ..limits import async_clear_limit, async_report_limit
from ..stream import OnOpen, StreamCoordinator
from ..vendor import VendorConfigEntry
from .model import (
    MAX_DEVICES,
    MAX_KEYS_PER_DEVICE,
    MAX_KEYS_PER_PROJECT,
    STATE_KEY,
    Applied,
    InstathingsDeviceState,
    firmware,
    link_children,
    numbers_of,
)
from .numbers import number_unit

# Catch-up requests in flight at once (one per device).
CATCH_UP_CONCURRENCY = 4
IDENTIFIER_PREFIX = "instathings_"
# What the repair issue names when a cap refused something ("too many new ...").
LIMIT_DEVICES: Final = "devices"
LIMIT_KEYS: Final = "data keys"
LIMIT_DEVICE_KEYS: Final = "data keys of one device"

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
        # Limits reported and not cleared since; devices that refused keys.
        self._limits_reported: set[str] = set()
        self._full_devices: set[str] = set()
        self._bug_logged = False

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
        devices = self._admit(await self.client.list_devices())
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
            self._merge(key, state, records)
            if records and not initial:
                self.stream_stats["caught_up_records"] += len(records)
                LOGGER.debug("Caught up %d record(s) of %s", len(records), key)

        await asyncio.gather(
            *(catch_up(key, state) for key, state in self.devices.items() if not state.gone)
        )

    async def _async_load_device_types(self, devices: list[InstathingsDevice]) -> None:
        """Fetch device types (manufacturer, model) once for type ids not asked about yet."""
        listed = {d.type_id for d in devices if d.type_id}
        wanted = listed - self._device_types_asked
        if not wanted:
            return
        # Only the types of the devices we keep: the sets follow the device list.
        self._device_types_asked = (self._device_types_asked & listed) | wanted
        try:
            device_types = await self.client.list_types()
        except ApiError as err:
            # Only names of manufacturer and model depend on it.
            LOGGER.debug("Could not read Instathings device types: %s", err)
            return
        self.device_types.update((item.id, item) for item in device_types if item.id in wanted)

    @callback
    def _admit(self, devices: Iterable[InstathingsDevice]) -> list[InstathingsDevice]:
        """The listed devices we keep: known ones, and new ones while the project has room.

        Gateways first, so that children can name them as via_device.
        """
        room = MAX_DEVICES - len(self.devices)
        new: set[str] = set()
        admitted: list[InstathingsDevice] = []
        refused = 0
        for device in sorted(devices, key=lambda d: not d.is_gateway):
            if device.id not in self.devices and device.id not in new:
                if room <= 0:
                    refused += 1
                    continue
                room -= 1
                new.add(device.id)
            admitted.append(device)
        if refused:
            self._refuse(LIMIT_DEVICES, MAX_DEVICES, refused)
        return admitted

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
    def _merge(
        self, key: str, state: InstathingsDeviceState, records: Iterable[DataRecord]
    ) -> None:
        """Apply a catch-up's records oldest first; the device's entities update once.

        Each key shows its newest value; what a later record replaced is history.
        """
        late: list[tuple[str, int, float]] = []
        latest: dict[str, tuple[int, float]] = {}
        applied = False
        for record in records:
            try:
                result = self._apply(state, record, wake=False)
            except Exception:  # noqa: BLE001 - one record must not fail every catch-up
                self._log_bug(f"record of {key}")
                continue
            if result.older:
                late.extend(
                    (name, record.ts, number) for name, number in numbers_of(state, record).items()
                )
            if not result.applied:
                continue
            applied = True
            for name in record.data:
                if (replaced := latest.pop(name, None)) is not None:
                    late.append((name, *replaced))
            latest.update(
                (name, (record.ts, number)) for name, number in numbers_of(state, record).items()
            )
        if applied:
            self.async_update_devices((key,))
        self._record_late(key, late)

    @callback
    def _record_late(self, key: str, late: Iterable[tuple[str, int, float]]) -> None:
        """Numbers not shown as states: to the statistics of their sensors."""
        per_sensor: dict[str, list[LateReading]] = {}
        for name, ts, number in late:
            when = dt_util.utc_from_timestamp(ts / 1000)
            per_sensor.setdefault(name, []).append(LateReading(when, number))
        for name, readings in per_sensor.items():
            self.stream_stats["late_values"] += len(readings)
            self.async_record_late(key, name, readings, unit=number_unit(name))

    @callback
    def _apply(
        self, state: InstathingsDeviceState, record: DataRecord, *, wake: bool = True
    ) -> Applied:
        device_room = state.key_room
        project_room: int | None = None
        if any(key not in state.values for key in record.data):
            project_room = max(0, MAX_KEYS_PER_PROJECT - self._key_count())
        result = state.apply(record, room=project_room)
        if result.refused:
            self.stream_stats["refused_keys"] += result.refused
            if project_room is not None and project_room < device_room:
                self._refuse(LIMIT_KEYS, MAX_KEYS_PER_PROJECT, result.refused)
            elif record.device_id not in self._full_devices:
                # Said once per device: a full device may send its extra keys every time.
                self._full_devices.add(record.device_id)
                self._limits_reported.discard(LIMIT_DEVICE_KEYS)
                self._refuse(LIMIT_DEVICE_KEYS, MAX_KEYS_PER_DEVICE, result.refused)
        if result.new_kinds:
            self.mark_catalog_changed()
        if result.applied and wake:
            self.async_update_devices((record.device_id,))
        return result

    def _key_count(self) -> int:
        return sum(len(state.values) for state in self.devices.values())

    # --- limits ---------------------------------------------------------------

    @callback
    def _refuse(self, what: str, limit: int, refused: int) -> None:
        """Tell the user (once until there is room again) that a cap refused ``what``."""
        if what == LIMIT_DEVICES:
            self.stream_stats["refused_devices"] += refused
        if what in self._limits_reported:
            return
        self._limits_reported.add(what)
        async_report_limit(self.hass, self.config_entry, what, limit, refused)

    @callback
    def _clear_limits(self, whats: Iterable[str]) -> None:
        for what in whats:
            self._limits_reported.discard(what)
            async_clear_limit(self.hass, self.config_entry, what)

    @callback
    def _forget_device(self, key: str) -> None:
        """Drop a device the user deleted; clear the notices it made room for."""
        if self.devices.pop(key, None) is None:
            return
        self._full_devices.discard(key)
        room: list[str] = []
        if len(self.devices) < MAX_DEVICES:
            room.append(LIMIT_DEVICES)
        if self._key_count() < MAX_KEYS_PER_PROJECT:
            room.append(LIMIT_KEYS)
        if not self._full_devices:
            room.append(LIMIT_DEVICE_KEYS)
        self._clear_limits(room)

    def _log_bug(self, what: str) -> None:
        """A bug met one event or record: its traceback once, then debug lines."""
        self.stream_stats["item_errors"] += 1
        if self._bug_logged:
            LOGGER.debug("Skipping an Instathings %s", what, exc_info=True)
        else:
            self._bug_logged = True
            LOGGER.exception("Skipping an Instathings %s that could not be applied", what)

    # --- the websocket --------------------------------------------------------

    def _open_stream(self, on_open: OnOpen) -> AsyncGenerator[InstathingsEvent]:
        return self.client.events(on_open)

    @callback
    def _handle_item(self, item: InstathingsEvent) -> bool:
        """Apply one event; documented events about devices count as real data.

        A bug met while applying it skips that event only: the connection stays.
        """
        self.stream_stats["events"] += 1
        try:
            return self._handle_event(item)
        except Exception:  # noqa: BLE001 - one event must not cost the connection
            self._log_bug(f"event ({type(item).__name__})")
            return False

    @callback
    def _handle_event(self, item: InstathingsEvent) -> bool:
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
        if self._apply(state, record).older:
            late = numbers_of(state, record).items()
            self._record_late(record.device_id, ((name, record.ts, n) for name, n in late))

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
            if state is None and len(self.devices) >= MAX_DEVICES:
                self._refuse(LIMIT_DEVICES, MAX_DEVICES, 1)
                return
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

    async def async_shutdown(self) -> None:
        """Stop the stream; the entry's limit notices go with it (set-up says them again)."""
        await super().async_shutdown()
        self._clear_limits(tuple(self._limits_reported))

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
        # A document naming the device as its own parent must not make it its own via device.
        if device.parent_id and device.parent_id != device_key and device.parent_id in self.devices:
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
        """A device may be deleted once Instathings no longer has it.

        Asked only when the user deletes it, so its state goes too: that makes room
        under the caps (and clears their notices) for devices that are real.
        """
        for domain, identifier in device.identifiers:
            if domain == DOMAIN and identifier.startswith(IDENTIFIER_PREFIX):
                key = identifier.removeprefix(IDENTIFIER_PREFIX)
                state = self.devices.get(key)
                if state is not None and not state.gone:
                    return False
                self._forget_device(key)
                return True
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
