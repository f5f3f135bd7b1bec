"""A Netemera application's uplinks: SSE stream, history catch-up, devices kept on disk.

Nothing is polled. Set-up reads the history since the last packet seen (or the
last hour on the first start), then the shared stream supervisor follows the
SSE stream, resuming with ``Last-Event-ID``. Whenever it has to connect without
an event id, it catches up from history as soon as the server has accepted the
stream, so the two overlap instead of leaving a gap; the overlap is dropped as
duplicates (same device and frame counter).

Only the newest uplink of a catch-up becomes a device's state, once: history read
after a gap, and the burst the server replays after a resume (uplinks it received
before the stream reopened, until the first live one, a keep-alive or
``REPLAY_QUIET`` seconds without more). Uplinks superseded within a catch-up, and
packets older than what a device shows (``Outcome.LATE``), go to the long-term
statistics of the device's sensors instead (``async_record_late``).

What the server sends can create devices and entities: new end-devices stop at
``MAX_DEVICES`` and decoded LPP channels at ``MAX_LPP_VALUES`` per device; past
either, a repair issue says what was refused until there is room again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..api.errors import ApiCommandError, ApiPayloadError
from ..api.log_once import LogOnce
from ..api.netemera import BadEvent, KeepAlive, NetemeraClient, StreamItem, Uplink
from ..const import DOMAIN, LOGGER
from ..late_readings import LateReading
from ..limits import async_clear_limit, async_report_limit
from ..storage import async_load_state, entry_store_key
from ..stream import OnOpen, StreamCoordinator
from .model import (
    MAX_DEVICES,
    MAX_LPP_VALUES,
    ApplicationState,
    Decoder,
    EndDevice,
    Outcome,
    uplink_readings,
    usable_event_id,
)
from .settings import device_settings

STORE_VERSION = 1
# Uplinks arrive all the time; writing the device list every 10 s at most is plenty
# (a pending write is flushed when Home Assistant stops).
STORE_DELAY = 10
DEVICE_PREFIX = "netemera_"
# What the repair issue calls the things a cap refused ("too many new ...").
LIMIT_DEVICES = "end-devices"
LIMIT_LPP_VALUES = "Cayenne LPP channels on one end-device"
# A resumed stream's replay is over after this long without a replayed uplink (a
# keep-alive or a live uplink ends it sooner); then its newest uplinks are shown.
REPLAY_QUIET = 1.0


class NetemeraCoordinator(StreamCoordinator[ApplicationState, StreamItem]):
    """Follows one application's uplink stream; wakes only the device a packet is for."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry[Any], client: NetemeraClient
    ) -> None:
        """Set up the stream follower for one application."""
        super().__init__(hass, entry, name=f"Netemera {client.application_id}")
        self.client = client
        self.data = ApplicationState()
        self.options: dict[str, Any] = dict(entry.options)
        self.stats: Counter[str] = Counter()
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, entry_store_key("netemera", entry.entry_id)
        )
        # Whether the current connection resumes from an event id (the server replays).
        self._resuming = False
        self._log_once = LogOnce(LOGGER)
        # What each cap refused when last reported (0: no repair issue; -1: not yet
        # checked, so set-up drops a notice a reloaded entry no longer has reason for).
        self._reported: dict[str, int] = {LIMIT_DEVICES: -1, LIMIT_LPP_VALUES: -1}
        # While a catch-up runs: the uplink each device would show, not shown yet.
        self._unshown: dict[str, Uplink] | None = None
        # A resumed stream's replay: uplinks received before this moment belong to it.
        self._replay_before: datetime | None = None
        self._replay_timer: CALLBACK_TYPE | None = None

    @property
    def devices(self) -> dict[str, EndDevice]:
        """Every end-device heard of, by DevEUI."""
        return self.data.devices

    # --- persistence ------------------------------------------------------------

    async def _async_setup(self) -> None:
        self.data = await async_load_state(self._store, self._restore, ApplicationState)
        # Settings may have changed while unloaded: decode the stored payloads again.
        for device in self.devices.values():
            self._decode(device)
        self._check_limits()

    def _restore(self, stored: Any) -> ApplicationState:
        """The stored state; what cannot be used is dropped with one warning."""
        problems: list[str] = []
        state = ApplicationState.from_dict(stored, problems)
        if problems:
            LOGGER.warning(
                "%s: ignored %d unusable stored item(s), e.g. %s",
                self.name,
                len(problems),
                "; ".join(problems[:3]),
            )
        return state

    def _schedule_save(self) -> None:
        self._store.async_delay_save(self.data.as_dict, STORE_DELAY)

    # --- catch-up from history --------------------------------------------------

    async def _async_fetch(self) -> ApplicationState:
        """The first refresh: prove access and catch up with what happened meanwhile."""
        await self._async_read_history()
        return self.data

    async def _async_catch_up(self) -> None:
        """A stream resumed from an event id replays the gap itself; otherwise history fills it."""
        # What a dropped stream's replay brought is shown before anything else.
        self._end_catch_up()
        if self._resuming:
            self._start_replay()
        else:
            await self._async_read_history()

    async def _async_read_history(self) -> None:
        now = dt_util.utcnow()
        uplinks = await self.client.history(self.data.catch_up_start(now))
        self.stats["catch_ups"] += 1
        self._begin_catch_up()
        for uplink in uplinks:
            self._apply(uplink, now)
        self.stats["history_uplinks"] += len(uplinks)
        self.data.cover(now)
        self._end_catch_up()

    # --- catch-ups: only the newest becomes the state, once ------------------------

    @callback
    def _begin_catch_up(self) -> None:
        if self._unshown is None:
            self._unshown = {}

    @callback
    def _end_catch_up(self) -> None:
        """Show what the catch-up brought: each device's newest uplink, in one update."""
        self._end_replay()
        unshown, self._unshown = self._unshown, None
        self._check_limits()
        if unshown:
            self.async_update_devices(unshown)
            self._schedule_save()

    @callback
    def _start_replay(self) -> None:
        """A resumed stream first replays what it missed: one catch-up until it is over."""
        self._replay_before = dt_util.utcnow()
        self._begin_catch_up()
        self._restart_replay_timer()

    @callback
    def _restart_replay_timer(self) -> None:
        if self._replay_timer is not None:
            self._replay_timer()
        self._replay_timer = async_call_later(self.hass, REPLAY_QUIET, self._async_replay_quiet)

    @callback
    def _async_replay_quiet(self, _now: datetime) -> None:
        self._replay_timer = None
        self._end_catch_up()

    @callback
    def _end_replay(self) -> None:
        self._replay_before = None
        if self._replay_timer is not None:
            self._replay_timer()
            self._replay_timer = None

    def _replayed(self, uplink: Uplink) -> bool:
        """Whether an uplink belongs to the replay (the server had it before we reconnected)."""
        before = self._replay_before
        return before is not None and uplink.recv_time is not None and uplink.recv_time < before

    @callback
    def _record_late(self, uplink: Uplink) -> None:
        """An uplink that is not shown: its numbers go to the statistics of its sensors."""
        decoder = device_settings(self.options, uplink.dev_eui).decoder
        for key, unit, value in uplink_readings(uplink, decoder):
            if uplink.recv_time is not None:
                reading = LateReading(uplink.recv_time, value)
                self.async_record_late(uplink.dev_eui, key, (reading,), unit=unit)

    # --- the stream -------------------------------------------------------------

    async def _open_stream(self, on_open: OnOpen) -> AsyncGenerator[StreamItem]:
        event_id = self.data.last_event_id
        self._resuming = event_id is not None
        try:
            async with aclosing(self.client.stream(event_id, on_open=on_open)) as stream:
                async for item in stream:
                    yield item
        except ApiPayloadError as err:
            if event_id is not None and "Last-Event-ID" in str(err):
                # The server forgot that id: the next attempt starts afresh and
                # fills the gap from history.
                LOGGER.info("%s: the server refused the last event id; catching up", self.name)
                self.data.last_event_id = None
            raise

    def _handle_item(self, item: StreamItem) -> bool:
        if item.event_id:
            self._note_event_id(item.event_id)
        now = dt_util.utcnow()
        self.data.cover(now)
        if isinstance(item, KeepAlive):
            if self._replay_before is not None:
                self._end_catch_up()  # the server has nothing more to replay
            return False
        if isinstance(item, BadEvent):
            self.stats["bad_events"] += 1
            args = (self.name, item.reason, item.excerpt)
            message = "%s: skipped a stream event: %s: %s"
            if not self._log_once.warning(message, *args, kind="bad_event"):
                LOGGER.debug(message, *args)
            return False
        self._log_once.forget("bad_event")
        if self._replay_before is not None:
            if self._replayed(item):
                self._apply(item, now)
                self._restart_replay_timer()
                return True
            self._end_catch_up()
        applied = self._apply(item, now)
        self._check_limits()
        if applied:
            self.async_update_devices((item.dev_eui,))
            self._schedule_save()
        return True

    def _note_event_id(self, event_id: str) -> None:
        """Resume from this id after a drop, if it can be sent back at all.

        An id that cannot (control characters, kilobytes) would make every
        reconnect fail; without one, the next connect catches up from history.
        """
        if usable_event_id(event_id):
            self.data.last_event_id = event_id
            return
        self.data.last_event_id = None
        self._log_once.warning(
            "%s: the server sent an event id that cannot be sent back (%r); "
            "reconnects catch up from history instead",
            self.name,
            event_id[:40],
            kind="event_id",
        )

    def _apply(self, uplink: Uplink, now: datetime) -> bool:
        """Take one uplink into the state; return whether its device's entities must update.

        During a catch-up the device is noted instead (``_end_catch_up`` updates it),
        and the uplink it would have shown so far is superseded: a late one.
        """
        outcome = self.data.apply(uplink, now)
        if outcome is Outcome.DUPLICATE:
            self.stats["duplicates"] += 1
            return False
        if outcome is Outcome.LATE:
            self.stats["late"] += 1
            self._record_late(uplink)
            return False
        if outcome is Outcome.REFUSED:
            self.stats["refused"] += 1
            return False
        if outcome is Outcome.INVALID:
            self.stats["invalid_dev_eui"] += 1
            self._log_once.warning(
                "%s: ignoring uplinks whose DevEUI cannot name a device: %r",
                self.name,
                uplink.dev_eui[:40],
                kind="invalid_dev_eui",
            )
            return False
        self.stats["uplinks"] += 1
        if outcome is Outcome.NEW_DEVICE:
            LOGGER.debug("%s: new end-device %s", self.name, uplink.dev_eui)
            self.mark_catalog_changed()
        self._decode(self.devices[uplink.dev_eui])
        if self._unshown is None:
            return True
        superseded = self._unshown.get(uplink.dev_eui)
        if superseded is not None:
            self.stats["superseded"] += 1
            self._record_late(superseded)
        self._unshown[uplink.dev_eui] = uplink
        return False

    def _decode(self, device: EndDevice) -> None:
        decoder = device_settings(self.options, device.dev_eui).decoder
        if device.decode(decoder):
            self.mark_catalog_changed()
        if device.decode_error is None:
            self._log_once.forget("decode", device.dev_eui)
            return
        self._log_once.warning(
            "%s: payload of %s is not Cayenne LPP: %s",
            self.name,
            device.dev_eui,
            device.decode_error,
            kind="decode",
            key=device.dev_eui,
        )

    @callback
    def _check_limits(self) -> None:
        """Report what a cap refused (a repair issue); drop the report once there is room."""
        refused = {
            LIMIT_DEVICES: (MAX_DEVICES, len(self.data.refused)),
            LIMIT_LPP_VALUES: (
                MAX_LPP_VALUES,
                sum(len(device.refused_values) for device in self.devices.values()),
            ),
        }
        for what, (limit, count) in refused.items():
            if count == self._reported[what]:
                continue
            self._reported[what] = count
            if count:
                async_report_limit(self.hass, self.config_entry, what, limit, count)
            else:
                async_clear_limit(self.hass, self.config_entry, what)

    # --- options, downlinks, devices --------------------------------------------

    @callback
    def async_set_options(self, options: Mapping[str, Any]) -> bool:
        """Use new device settings at once: decode, keep state; return whether they changed.

        New entities appear with the update; the caller removes those no longer wanted.
        """
        if dict(options) == self.options:
            return False
        self.options = dict(options)
        changed: set[str] = set()
        for dev_eui, device in self.devices.items():
            if device_settings(self.options, dev_eui).decoder is Decoder.NONE:
                if device.values:
                    device.clear_values()
                    changed.add(dev_eui)
            else:
                self._decode(device)
                changed.add(dev_eui)
        self._check_limits()
        self.mark_catalog_changed()
        self.async_update_devices(changed)
        self._schedule_save()
        return True

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
            identifier.removeprefix(DEVICE_PREFIX)
            for domain, identifier in device.identifiers
            if domain == DOMAIN and identifier.startswith(DEVICE_PREFIX)
        ]
        now = dt_util.utcnow()
        if not dev_euis or not all(self.data.may_forget(eui, now) for eui in dev_euis):
            return False
        for dev_eui in dev_euis:
            if self.data.forget(dev_eui):
                LOGGER.debug("%s: forgetting end-device %s", self.name, dev_eui)
        self._check_limits()
        self._schedule_save()
        return True

    # --- what the platforms ask -------------------------------------------------

    def device_info(self, device_key: str) -> DeviceInfo:
        """The end-device, named by its DevEUI."""
        return DeviceInfo(
            identifiers={(DOMAIN, f"{DEVICE_PREFIX}{device_key}")},
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
        saved = self.data.as_dict()
        return {
            "application_id": self.client.application_id,
            "connected": self.stream_connected,
            "last_event_id": saved["last_event_id"],
            "last_recv_time": saved["last_recv_time"],
            "covered_until": saved["covered_until"],
            "requests_sent": self.client.requests_sent,
            "stats": {**self.stats, **self.stream_stats},
            "options": self.options,
            "devices": {
                dev_eui: {**saved["devices"][dev_eui], "decode_error": device.decode_error}
                for dev_eui, device in self.devices.items()
            },
        }

    async def async_shutdown(self) -> None:
        """Stop the stream and write the devices before the entry goes away."""
        self._end_replay()
        await super().async_shutdown()
        await self._store.async_save(self.data.as_dict())
