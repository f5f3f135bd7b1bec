"""A Netemera application's uplinks: SSE stream, history catch-up, devices kept on disk.

Nothing is polled. Set-up reads the history since the last packet seen (or the
last hour on the first start), then a background task follows the SSE stream,
reconnecting with capped exponential backoff and ``Last-Event-ID``. Whenever it
has to connect without an event id, it catches up from history as soon as the
server has accepted the stream, so the two overlap instead of leaving a gap;
the overlap is dropped as duplicates (same device and frame counter).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..api.backoff import Backoff
from ..api.errors import (
    ApiAuthError,
    ApiCommandError,
    ApiError,
    ApiForbiddenError,
    ApiRateLimitError,
)
from ..api.netemera import BadEvent, KeepAlive, NetemeraClient, StreamItem, Uplink
from ..const import DOMAIN, LOGGER
from ..coordinator import IotBridgeCoordinator
from ..errors import update_error_for
from ..storage import entry_store_key
from ..vendor import IotBridgeConfigEntry
from .entities import DOWNLINK_SWITCH, device_sensor_descriptions
from .model import Decoder, EndDevice, Outcome
from .settings import device_settings

STORE_VERSION = 1
# Uplinks arrive all the time; writing the device list every 10 s at most is plenty
# (a pending write is flushed when Home Assistant stops).
STORE_DELAY = 10
# The first start has nothing to resume from: show what the last hour brought.
FIRST_CATCH_UP = timedelta(hours=1)
# Uplinks of different devices arrive in no total order: look back a little
# before the newest packet seen (repeats are dropped anyway).
CATCH_UP_MARGIN = timedelta(minutes=5)
# After a long downtime only the recent past matters (and the answer stays small).
MAX_CATCH_UP = timedelta(days=7)
# A device that sent nothing for this long may be deleted by the user.
STALE_AFTER = timedelta(days=1)
RECONNECT_INITIAL = 1.0
RECONNECT_MAX = 300.0


@dataclass(slots=True)
class NetemeraData:
    """The coordinator's data: every end-device of the application, by DevEUI."""

    devices: dict[str, EndDevice]


class NetemeraCoordinator(IotBridgeCoordinator[NetemeraData]):
    """Follows one application's uplink stream; wakes only the device a packet is for."""

    def __init__(
        self, hass: HomeAssistant, entry: IotBridgeConfigEntry, client: NetemeraClient
    ) -> None:
        """Set up the stream follower for one application."""
        super().__init__(hass, entry, name=f"Netemera {client.application_id}")
        self.client = client
        self.devices: dict[str, EndDevice] = {}
        self.data = NetemeraData(self.devices)
        self.options: dict[str, Any] = dict(entry.options)
        self.last_event_id: str | None = None
        # The newest receive time of any uplink applied.
        self.last_recv_time: datetime | None = None
        # Everything the server had before this moment has been received.
        self.covered_until: datetime | None = None
        self.connected = False
        self.stats: Counter[str] = Counter()
        self.backoff = Backoff(initial=RECONNECT_INITIAL, maximum=RECONNECT_MAX)
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, entry_store_key("netemera", entry.entry_id)
        )
        self._stream_task: asyncio.Task[None] | None = None
        self._warned_decode: set[str] = set()
        self._bad_event_logged = False

    # --- persistence ------------------------------------------------------------

    async def _async_setup(self) -> None:
        self._restore(await self._store.async_load())
        # Settings may have changed while unloaded: decode the stored payloads again.
        for device in self.devices.values():
            self._decode(device)

    def _restore(self, stored: Any) -> None:
        if not isinstance(stored, dict):
            return
        devices = stored.get("devices")
        if isinstance(devices, dict):
            for dev_eui, item in devices.items():
                device = EndDevice.from_dict(str(dev_eui), item)
                if device.uplink is not None:
                    self.devices[device.dev_eui] = device
        event_id = stored.get("last_event_id")
        self.last_event_id = event_id if isinstance(event_id, str) and event_id else None
        self.last_recv_time = _parse_time(stored.get("last_recv_time"))
        self.covered_until = _parse_time(stored.get("covered_until"))

    def _data_to_save(self) -> dict[str, Any]:
        return {
            "last_event_id": self.last_event_id,
            "last_recv_time": _format_time(self.last_recv_time),
            "covered_until": _format_time(self.covered_until),
            "devices": {dev_eui: device.as_dict() for dev_eui, device in self.devices.items()},
        }

    def _schedule_save(self) -> None:
        self._store.async_delay_save(self._data_to_save, STORE_DELAY)

    # --- catch-up from history --------------------------------------------------

    async def _async_fetch(self) -> NetemeraData:
        """The first refresh: prove access and catch up with what happened meanwhile."""
        await self._async_catch_up()
        return self.data

    def catch_up_start(self, now: datetime) -> datetime:
        """Where history must start so nothing since the last packet seen is missing."""
        known = [moment for moment in (self.last_recv_time, self.covered_until) if moment]
        if not known:
            return now - FIRST_CATCH_UP
        return max(max(known) - CATCH_UP_MARGIN, now - MAX_CATCH_UP)

    async def _async_catch_up(self) -> None:
        now = dt_util.utcnow()
        uplinks = await self.client.history(self.catch_up_start(now))
        self.stats["catch_ups"] += 1
        changed: set[str] = set()
        for uplink in uplinks:
            if self._apply(uplink):
                changed.add(uplink.dev_eui)
        self.stats["history_uplinks"] += len(uplinks)
        self._cover(now)
        if changed:
            self.async_update_devices(changed)
            self._schedule_save()

    def _cover(self, moment: datetime) -> None:
        if self.covered_until is None or moment > self.covered_until:
            self.covered_until = moment

    # --- the stream -------------------------------------------------------------

    @callback
    def async_start(self) -> None:
        """Start following the stream in a task the entry owns (cancelled on unload and stop)."""
        self._stream_task = self.config_entry.async_create_background_task(
            self.hass, self.async_run_stream(), f"{self.name} uplink stream"
        )

    async def async_run_stream(self) -> None:
        """Follow the stream until cancelled or the credentials are refused."""
        while True:
            catch_up = self.last_event_id is None
            delay_floor: float | None = None

            async def on_open(catch_up: bool = catch_up) -> None:
                if catch_up:
                    await self._async_catch_up()
                self._set_connected(True)

            try:
                async with aclosing(
                    self.client.stream(self.last_event_id, on_open=on_open)
                ) as stream:
                    async for item in stream:
                        self._handle(item)
            except (ApiAuthError, ApiForbiddenError) as err:
                self._set_connected(False)
                self.async_set_update_error(update_error_for(err))
                self.config_entry.async_start_reauth(self.hass)
                return
            except ApiError as err:
                if isinstance(err, ApiRateLimitError):
                    delay_floor = err.retry_after
                if "Last-Event-ID" in str(err) and self.last_event_id is not None:
                    # The server forgot that id: start afresh and fill the gap from history.
                    LOGGER.info("%s: the server refused the last event id; catching up", self.name)
                    self.last_event_id = None
                was_connected = self.connected
                self._set_connected(False)
                self.stats["reconnects"] += 1
                if was_connected:
                    LOGGER.debug("%s: uplink stream dropped: %s", self.name, err)
                else:
                    # Connecting failed: the source is unreachable, entities go unavailable.
                    self.async_set_update_error(update_error_for(err))
            await asyncio.sleep(self.backoff.next_delay(delay_floor))

    def _set_connected(self, connected: bool) -> None:
        if connected and not self.last_update_success:
            LOGGER.info("%s: uplink stream is back", self.name)
            self.async_set_updated_data(self.data)
        self.connected = connected

    def _handle(self, item: StreamItem) -> None:
        if item.event_id:
            self.last_event_id = item.event_id
        if self.backoff.attempt:
            self.backoff.reset()
        self._cover(dt_util.utcnow())
        if isinstance(item, KeepAlive):
            return
        if isinstance(item, BadEvent):
            self.stats["bad_events"] += 1
            log = LOGGER.debug if self._bad_event_logged else LOGGER.warning
            self._bad_event_logged = True
            log("%s: skipped a stream event: %s: %s", self.name, item.reason, item.excerpt)
            return
        self._bad_event_logged = False
        if self._apply(item):
            self.async_update_devices((item.dev_eui,))
            self._schedule_save()

    def _apply(self, uplink: Uplink) -> bool:
        """Take one uplink into the device's state; return whether its entities must update."""
        device = self.devices.get(uplink.dev_eui)
        is_new = device is None
        if device is None:
            device = EndDevice(uplink.dev_eui)
        outcome = device.accept(uplink)
        if outcome is Outcome.DUPLICATE:
            self.stats["duplicates"] += 1
            return False
        if uplink.recv_time is not None and (
            self.last_recv_time is None or uplink.recv_time > self.last_recv_time
        ):
            self.last_recv_time = uplink.recv_time
        if outcome is Outcome.LATE:
            self.stats["late"] += 1
            return False
        self.stats["uplinks"] += 1
        if is_new:
            self.devices[uplink.dev_eui] = device
            LOGGER.debug("%s: new end-device %s", self.name, uplink.dev_eui)
            self.mark_catalog_changed()
        self._decode(device)
        return True

    def _decode(self, device: EndDevice) -> None:
        decoder = device_settings(self.options, device.dev_eui).decoder
        if device.decode(decoder):
            self.mark_catalog_changed()
        if device.decode_error is None:
            self._warned_decode.discard(device.dev_eui)
        elif device.dev_eui not in self._warned_decode:
            self._warned_decode.add(device.dev_eui)
            LOGGER.warning(
                "%s: payload of %s is not Cayenne LPP: %s",
                self.name,
                device.dev_eui,
                device.decode_error,
            )

    # --- options, downlinks, devices --------------------------------------------

    @callback
    def async_apply_options(self, options: Mapping[str, Any]) -> None:
        """Use new device settings at once: decode, add or remove entities, keep state."""
        if dict(options) == self.options:
            return
        self.options = dict(options)
        changed: set[str] = set()
        for dev_eui, device in self.devices.items():
            if device_settings(self.options, dev_eui).decoder is Decoder.NONE:
                if device.values:
                    device.values.clear()
                    changed.add(dev_eui)
            else:
                self._decode(device)
                changed.add(dev_eui)
        self._remove_unwanted_entities()
        self.mark_catalog_changed()
        self.async_update_devices(changed)
        self._schedule_save()

    def _remove_unwanted_entities(self) -> None:
        """Delete the registry entries of entities the current settings no longer create."""
        prefix = f"{self.config_entry.unique_id}_"
        wanted = {
            f"{prefix}{device_key}_{description.key}"
            for platform in (Platform.SENSOR, Platform.SWITCH)
            for device_key, description in self.entity_descriptions(platform)
        }
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(registry, self.config_entry.entry_id):
            key = entity.unique_id.removeprefix(prefix)
            dev_eui = key.split("_", 1)[0]
            if entity.unique_id not in wanted and dev_eui in self.devices:
                registry.async_remove(entity.entity_id)

    async def async_send_switch_downlink(self, dev_eui: str, on: bool) -> None:
        """Send the device's configured on or off downlink; remember the assumed state."""
        settings = device_settings(self.options, dev_eui).downlink
        device = self.devices.get(dev_eui)
        if settings is None or device is None:
            raise ApiCommandError("downlink", "no downlink is configured for this device")
        await self.client.send_downlink(
            dev_eui,
            settings.port,
            settings.payload_on if on else settings.payload_off,
            settings.confirmed,
        )
        device.switch_on = on
        self._schedule_save()

    def device_removable(self, device: DeviceEntry) -> bool:
        """An end-device silent for a day (or unknown) may go; it is forgotten with it."""
        dev_euis = [
            identifier.removeprefix("netemera_")
            for domain, identifier in device.identifiers
            if domain == DOMAIN and identifier.startswith("netemera_")
        ]
        if not dev_euis:
            return False
        cutoff = dt_util.utcnow() - STALE_AFTER
        for dev_eui in dev_euis:
            known = self.devices.get(dev_eui)
            if known is not None and (known.recv_time is None or known.recv_time > cutoff):
                return False
        for dev_eui in dev_euis:
            if self.devices.pop(dev_eui, None) is not None:
                LOGGER.debug("%s: forgetting end-device %s", self.name, dev_eui)
        self._schedule_save()
        return True

    # --- what the platforms ask -------------------------------------------------

    def entity_descriptions(self, platform: Platform) -> Iterable[tuple[str, EntityDescription]]:
        """Sensors for every device; a switch for devices with a downlink configured."""
        if platform is Platform.SENSOR:
            return [
                (dev_eui, description)
                for dev_eui, device in self.devices.items()
                for description in device_sensor_descriptions(device)
            ]
        if platform is Platform.SWITCH:
            return [
                (dev_eui, DOWNLINK_SWITCH)
                for dev_eui in self.devices
                if device_settings(self.options, dev_eui).downlink is not None
            ]
        return ()

    def device_info(self, device_key: str) -> DeviceInfo:
        """The end-device, named by its DevEUI."""
        return DeviceInfo(
            identifiers={(DOMAIN, f"netemera_{device_key}")},
            name=f"End-device {device_key}",
            model="LoRaWAN end-device",
            serial_number=device_key,
        )

    def device_data(self, device_key: str) -> EndDevice:
        """The end-device's state (a forgotten device reads as empty)."""
        return self.devices.get(device_key) or EndDevice(device_key)

    def device_available(self, device_key: str) -> bool:
        """A device is there while it is known."""
        return device_key in self.devices

    def diagnostics(self) -> dict[str, Any]:
        """Stream state, counters and every device's latest uplink and values."""
        return {
            "application_id": self.client.application_id,
            "connected": self.connected,
            "last_event_id": self.last_event_id,
            "last_recv_time": _format_time(self.last_recv_time),
            "covered_until": _format_time(self.covered_until),
            "requests_sent": self.client.requests_sent,
            "stats": dict(self.stats),
            "options": self.options,
            "devices": {
                dev_eui: {**device.as_dict(), "decode_error": device.decode_error}
                for dev_eui, device in self.devices.items()
            },
        }

    async def async_shutdown(self) -> None:
        """Stop the stream and write the devices before the entry goes away."""
        if self._stream_task is not None:
            self._stream_task.cancel()
            await asyncio.gather(self._stream_task, return_exceptions=True)
            self._stream_task = None
        await super().async_shutdown()
        await self._store.async_save(self._data_to_save())


def _format_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = dt_util.parse_datetime(value)
    return None if parsed is None or parsed.tzinfo is None else parsed
