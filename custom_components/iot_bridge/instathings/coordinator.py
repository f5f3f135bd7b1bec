"""An Instathings project kept live by its websocket.

A push coordinator: the REST API gives the devices and their newest record at
set-up; from then on an entry-owned background task reads the websocket and
changes the state of only the devices a message touched.

After every (re)connect, and before the first message is read, the task syncs:
the device list (pairings missed while away) and every record newer than the
last one seen per device (``start=``). Messages that arrive meanwhile wait in
the socket's buffer; records seen twice (catch-up and live) are dropped by
timestamp and record id. So a drop loses nothing.

While the stream is down the entities keep their last values for
``STREAM_GRACE`` seconds, enough for the first few reconnect attempts; if the
stream is still down then, every entity goes unavailable (logged once) until
the stream is back and has caught up.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import aclosing, suppress
from dataclasses import dataclass, field, replace
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import UpdateFailed

from ..api.backoff import Backoff
from ..api.errors import ApiAuthError, ApiError, ApiForbiddenError, ApiRateLimitError
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
from ..compat import device_by_identifier, via_device
from ..const import DOMAIN, LOGGER
from ..coordinator import IotBridgeCoordinator
from ..errors import command_errors, update_error_for
from ..vendor import IotBridgeConfigEntry
from .entities import (
    CLOUD_CONNECTION,
    STATE_KEY,
    Kind,
    flag_description,
    kind_of,
    sensor_description,
    switch_description,
)

# Keep last values this long after a drop before entities go unavailable.
STREAM_GRACE = 120.0
# Catch-up requests in flight at once (one per device).
CATCH_UP_CONCURRENCY = 4
IDENTIFIER_PREFIX = "instathings_"


def firmware(device: InstathingsDevice) -> str | None:
    """The gateway software's version: ``instathings/gate:1.7.1`` -> ``1.7.1``."""
    image = device.software_version
    if not image:
        return None
    return image.rsplit(":", 1)[-1] if ":" in image else image


@dataclass(slots=True)
class DeviceState:
    """One device: its document, its values and where its records stand."""

    device: InstathingsDevice
    # The device's values, merged record by record (a record may carry only some keys).
    values: dict[str, Any] = field(default_factory=dict)
    # The entity kind each key got when first seen (it stays, so unique ids do).
    kinds: dict[str, Kind] = field(default_factory=dict)
    last_ts: int | None = None
    ids_at_last_ts: set[str] = field(default_factory=set)
    # Where catch-up starts while no record was seen (a newly paired device: its creation).
    since: int = 0
    # A gateway's cloud link (None: not known); children follow their gateway's.
    connected: bool | None = None
    parent_connected: bool | None = None
    # Unpaired or no longer listed: entities unavailable, device removable.
    gone: bool = False
    # Values set by a command and not yet confirmed by the device.
    optimistic: dict[str, Any] = field(default_factory=dict)
    state_reports: int = 0

    @property
    def reachable(self) -> bool:
        """Whether the device's own values are current (its gateway is online)."""
        return self.connected is not False and self.parent_connected is not False

    def apply(self, record: DataRecord) -> tuple[bool, bool]:
        """Take a record unless it is older than, or the same as, the last one.

        Returns (applied, new keys appeared).
        """
        if self.last_ts is not None:
            if record.ts < self.last_ts:
                return False, False
            if record.ts == self.last_ts and (
                record.record_id is None or record.record_id in self.ids_at_last_ts
            ):
                return False, False
        if record.ts != self.last_ts:
            self.ids_at_last_ts.clear()
        self.last_ts = record.ts
        if record.record_id is not None:
            self.ids_at_last_ts.add(record.record_id)
        self.values.update(record.data)
        if STATE_KEY in record.data:
            # The device reported its state: that, not our assumption, is shown now.
            self.optimistic.pop(STATE_KEY, None)
            self.state_reports += 1
        new_keys = False
        for key, value in record.data.items():
            if key not in self.kinds and (kind := kind_of(key, value)) is not None:
                self.kinds[key] = kind
                new_keys = True
        return True, new_keys


async def _turn_on(coordinator: IotBridgeCoordinator[Any], device_key: str) -> None:
    assert isinstance(coordinator, InstathingsCoordinator)
    await coordinator.async_set_state(device_key, on=True)


async def _turn_off(coordinator: IotBridgeCoordinator[Any], device_key: str) -> None:
    assert isinstance(coordinator, InstathingsCoordinator)
    await coordinator.async_set_state(device_key, on=False)


SWITCH = switch_description(_turn_on, _turn_off)


class InstathingsCoordinator(IotBridgeCoordinator[dict[str, DeviceState]]):
    """Devices of one project, fed by the websocket task."""

    def __init__(
        self, hass: HomeAssistant, entry: IotBridgeConfigEntry, client: InstathingsClient
    ) -> None:
        """Set up the (interval-less) coordinator for one project."""
        super().__init__(hass, entry, name=f"Instathings {client.project}")
        self.client = client
        self.devices: dict[str, DeviceState] = {}
        self.types: dict[str, InstathingsType] = {}
        self._types_asked: set[str] = set()
        self.backoff = Backoff(initial=1.0, maximum=300.0)
        self.stream_grace = STREAM_GRACE
        self.stats: Counter[str] = Counter()
        self._stream_up = False
        self._outage_logged = False
        self._grace_unsub: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._warned: set[str] = set()
        self._loaded = False

    # --- REST: first load and catch-up ----------------------------------------

    async def _async_fetch(self) -> dict[str, DeviceState]:
        if not self._loaded:
            await self._async_sync(initial=True)
            self._loaded = True
        # Later refreshes (``homeassistant.update_entity``) have nothing to add:
        # the stream delivers every change.
        return self.devices

    async def _async_sync(self, *, initial: bool) -> None:
        """Read the device list and every record not seen yet."""
        devices = await self.client.list_devices()
        await self._async_load_types(devices)
        self._reconcile(devices, initial=initial)
        semaphore = asyncio.Semaphore(CATCH_UP_CONCURRENCY)

        async def catch_up(key: str, state: DeviceState) -> None:
            async with semaphore:
                if initial:
                    record = await self.client.latest_data(key)
                    records = [record] if record is not None else []
                else:
                    start = state.last_ts if state.last_ts is not None else state.since
                    records = await self.client.data_since(key, start)
            # Oldest first, each written as a state of its own: nothing is skipped.
            for record in records:
                self._apply(state, record)
            if records and not initial:
                self.stats["caught_up_records"] += len(records)
                LOGGER.debug("Caught up %d record(s) of %s", len(records), key)

        await asyncio.gather(
            *(catch_up(key, state) for key, state in self.devices.items() if not state.gone)
        )

    async def _async_load_types(self, devices: list[InstathingsDevice]) -> None:
        """Fetch device types (manufacturer, model) once for type ids not asked about yet."""
        wanted = {d.type_id for d in devices if d.type_id} - self._types_asked
        if not wanted:
            return
        self._types_asked |= wanted
        try:
            types = await self.client.list_types()
        except ApiError as err:
            # Only names of manufacturer and model depend on it.
            LOGGER.debug("Could not read Instathings device types: %s", err)
            return
        self.types.update((item.id, item) for item in types)

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
        touched |= self._link_children()
        self.async_update_devices(touched)

    @callback
    def _add_device(self, device: InstathingsDevice, *, since: int) -> None:
        self.devices[device.id] = DeviceState(device, since=since, connected=device.connected)
        if device.is_gateway:
            self.mark_catalog_changed()
        self._register_device(device.id)

    @callback
    def _register_device(self, key: str) -> None:
        # Registered now, not with its first entity, so children can link to it.
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id, **self.device_info(key)
        )

    @callback
    def _update_document(self, state: DeviceState, device: InstathingsDevice) -> None:
        """Take a newer device document; keep what it does not say (status, version)."""
        old = state.device
        if device.software_version is None and old.software_version is not None:
            device = _with_version(device, old)
        state.device = device
        if device.connected is not None:
            state.connected = device.connected
        if (old.name, firmware(old), old.type_id) != (
            device.name,
            firmware(device),
            device.type_id,
        ):
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
    def _link_children(self) -> set[str]:
        """Give every child its gateway's connectivity; return the devices that changed."""
        changed: set[str] = set()
        for key, state in self.devices.items():
            parent_id = state.device.parent_id
            parent = self.devices.get(parent_id) if parent_id else None
            connected = parent.connected if parent is not None else None
            if state.parent_connected != connected:
                state.parent_connected = connected
                changed.add(key)
        return changed

    @callback
    def _apply(self, state: DeviceState, record: DataRecord) -> None:
        applied, new_keys = state.apply(record)
        if new_keys:
            self.mark_catalog_changed()
        if applied:
            self.async_update_devices((record.device_id,))

    # --- the websocket task ---------------------------------------------------

    @property
    def stream_connected(self) -> bool:
        """Whether the websocket is open and caught up."""
        return self._stream_up

    @callback
    def async_start_stream(self) -> None:
        """Start the entry-owned task that keeps the devices live."""
        self._task = self.config_entry.async_create_background_task(
            self.hass, self._async_run_stream(), f"{DOMAIN} instathings {self.client.project}"
        )

    async def _async_run_stream(self) -> None:
        """Read events forever: reconnect with backoff, catch up after each connect."""
        while True:
            floor: float | None = None
            try:
                async with aclosing(self.client.events(self._async_on_connected)) as stream:
                    async for event in stream:
                        self._handle_event(event)
            except (ApiAuthError, ApiForbiddenError) as err:
                # The client already retried with a fresh token: the credentials are refused.
                self._stream_lost(err)
                self._auth_failed(err)
                return
            except ApiRateLimitError as err:
                floor = err.retry_after
                self._stream_lost(err)
            except ApiError as err:
                self._stream_lost(err)
            except Exception as err:  # noqa: BLE001 - a bug must not end the stream for good
                LOGGER.exception("Unexpected error in the Instathings event stream")
                self._stream_lost(err)
            delay = self.backoff.next_delay(floor)
            LOGGER.debug("Reconnecting to the Instathings websocket in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _async_on_connected(self) -> None:
        """The socket is open: catch up on what happened while it was not, then go live."""
        await self._async_sync(initial=False)
        self.backoff.reset()
        self._stream_up = True
        self.stats["connects"] += 1
        self._cancel_grace()
        if self._outage_logged or not self.last_update_success:
            LOGGER.info("Instathings event stream of %s is back", self.client.project)
            self._outage_logged = False
        if not self.last_update_success:
            self.async_set_updated_data(self.devices)

    @callback
    def _stream_lost(self, err: Exception) -> None:
        self.stats["drops"] += 1
        if self._stream_up:
            self._stream_up = False
            self._outage_logged = True
            LOGGER.warning(
                "Lost the Instathings event stream of %s (%s); reconnecting",
                self.client.project,
                err,
            )
        else:
            LOGGER.debug("Instathings event stream still down: %s", err)
        if self._grace_unsub is None and self.last_update_success:
            self._grace_unsub = async_call_later(
                self.hass, self.stream_grace, self._async_grace_expired
            )

    @callback
    def _async_grace_expired(self, _now: Any) -> None:
        self._grace_unsub = None
        self.async_set_update_error(
            UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="stream_lost",
                translation_placeholders={"seconds": str(round(self.stream_grace))},
            )
        )

    @callback
    def _cancel_grace(self) -> None:
        if self._grace_unsub is not None:
            self._grace_unsub()
            self._grace_unsub = None

    @callback
    def _auth_failed(self, err: ApiError) -> None:
        self._cancel_grace()
        self.async_set_update_error(update_error_for(err))
        self.config_entry.async_start_reauth(self.hass)

    async def async_shutdown(self) -> None:
        """Stop the stream task and timers before the entry goes away."""
        self._cancel_grace()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await super().async_shutdown()

    # --- events ---------------------------------------------------------------

    @callback
    def _handle_event(self, event: InstathingsEvent) -> None:
        self.stats["events"] += 1
        if isinstance(event, DataEvent):
            self._on_data(event.record)
        elif isinstance(event, ConnectivityEvent):
            self._on_connectivity(event)
        elif isinstance(event, PairingEvent):
            self._on_pairing(event)
        elif isinstance(event, SoftwareVersionEvent):
            self._on_software_version(event)
        elif isinstance(event, UnknownEvent):
            LOGGER.debug("Ignoring Instathings event %s", event.action)
        else:
            self._on_bad_message(event)

    @callback
    def _on_data(self, record: DataRecord) -> None:
        state = self.devices.get(record.device_id)
        if state is None:
            self._warn_once(
                f"unknown:{record.device_id}",
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
        self.async_update_devices({event.gateway_id} | self._link_children())

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
            self.async_update_devices({device.id} | self._link_children())
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
        self.stats["bad_messages"] += 1
        self._warn_once(
            f"bad:{event.reason}",
            "Skipping an Instathings message: %s: %s",
            event.reason,
            event.excerpt,
        )

    def _warn_once(self, kind: str, message: str, *args: Any) -> None:
        """A warning the first time, debug lines after that."""
        if kind in self._warned:
            LOGGER.debug(message, *args)
            return
        self._warned.add(kind)
        LOGGER.warning(message + " (further ones are logged at debug level)", *args)

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
        if state.state_reports == reports:
            state.optimistic[STATE_KEY] = value

    # --- what the platforms ask -----------------------------------------------

    def entity_descriptions(self, platform: Platform) -> Iterable[tuple[str, EntityDescription]]:
        """Each device's entities: one per data key, plus a gateway's cloud connection."""
        for key, state in list(self.devices.items()):
            if platform is Platform.BINARY_SENSOR and state.device.is_gateway:
                yield key, CLOUD_CONNECTION
            for data_key, kind in list(state.kinds.items()):
                if platform is Platform.SENSOR and kind in (Kind.NUMBER, Kind.TEXT):
                    yield key, sensor_description(data_key, kind)
                elif platform is Platform.BINARY_SENSOR and kind is Kind.FLAG:
                    yield key, flag_description(data_key)
                elif platform is Platform.SWITCH and kind is Kind.SWITCH:
                    yield key, SWITCH

    def device_info(self, device_key: str) -> DeviceInfo:
        """The device as Instathings names it; sub-devices hang off their gateway."""
        device = self.devices[device_key].device
        kind = self.types.get(device.type_id) if device.type_id else None
        model = kind.model if kind is not None else None
        if model is None and device.is_virtual:
            model = "Virtual device"
        info = DeviceInfo(
            identifiers={(DOMAIN, IDENTIFIER_PREFIX + device_key)},
            name=device.name or device_key,
            manufacturer=(kind.manufacturer if kind is not None else None) or "Instathings",
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

    def device_data(self, device_key: str) -> DeviceState:
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
                "connected": self._stream_up,
                "backoff_attempt": self.backoff.attempt,
                **self.stats,
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


def _with_version(device: InstathingsDevice, old: InstathingsDevice) -> InstathingsDevice:
    """A document without ``version`` keeps the version we knew."""
    return replace(device, software_version=old.software_version, versions=old.versions)
