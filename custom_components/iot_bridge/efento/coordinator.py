"""Efento is pushed to us: the HTTP view feeds this coordinator, which has no interval."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
import re
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..api.efento import HeartbeatMessage, Measurement, MeasurementsMessage
from ..api.log_once import LogOnce
from ..compat import device_by_identifier, via_device
from ..const import DOMAIN, LOGGER
from ..coordinator import IotBridgeCoordinator
from ..late_readings import LateReading
from ..limits import async_clear_limit, async_report_limit
from ..storage import async_load_state, entry_store_key
from ..vendor import VendorConfigEntry
from .const import (
    BAD_MESSAGES_ISSUE_THRESHOLD,
    ISSUE_BAD_MESSAGES,
    STORE_DELAY,
    STORE_NAME,
    STORE_VERSION,
)
from .model import (
    MAX_CHANNELS,
    MAX_LOGGERS,
    MAX_NEW_LOGGERS_PER_MESSAGE,
    EfentoState,
    GatewayState,
    LoggerState,
    MeasurementsOutcome,
    late_values,
)
from .registry_ids import gateway_identifier, logger_identifier, logger_serial_of

# Device keys end up in unique ids: "gateway", and "logger_<serial>" per logger.
GATEWAY_KEY: Final = "gateway"
_SERIAL_KEY_PREFIX: Final = "logger_"
# Faults are logged once per reason without its indexes: a bad third and a bad
# seventh measurement are one fault.
_INDEX = re.compile(r"\[\d+\]")

# What the limits repair issue names (``limits.async_report_limit``): "too many new <what>".
LIMIT_LOGGERS: Final = "loggers"
LIMIT_LOGGERS_PER_MESSAGE: Final = "loggers in one message"
LIMIT_CHANNELS: Final = "channels of one logger"


# An Efento entry, its runtime data typed with this coordinator.
type EfentoConfigEntry = VendorConfigEntry[EfentoCoordinator]


def logger_device_key(serial: str) -> str:
    """The device key of the logger with this serial."""
    return f"{_SERIAL_KEY_PREFIX}{serial}"


def logger_serial(device_key: str) -> str:
    """The serial of the logger with this device key."""
    return device_key.removeprefix(_SERIAL_KEY_PREFIX)


class EfentoCoordinator(IotBridgeCoordinator[EfentoState]):
    """Holds one gateway's state; every message wakes only the devices it changed.

    ``data`` is set before the first refresh (restored from the store) and then
    changed in place by every message: there is nothing to fetch.
    """

    def __init__(self, hass: HomeAssistant, entry: EfentoConfigEntry) -> None:
        """Set up an empty state; ``_async_setup`` loads the stored one."""
        super().__init__(hass, entry, name=f"Efento {entry.title}")
        self.data = EfentoState()
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, entry_store_key(STORE_NAME, entry.entry_id)
        )
        self._unsub_timer: CALLBACK_TYPE | None = None
        self._timer_at: datetime | None = None
        # Devices whose entities were last told they are stale.
        self._expired: set[str] = set()
        # Bad bodies in a row, for the repair issue.
        self._bad_in_row = 0
        self._issue_raised = False
        self._log_once = LogOnce(LOGGER)
        # Loggers whose new channels a cap refused; the notice goes when none is left.
        self._crowded: set[str] = set()
        self.counters: dict[str, int] = {
            "measurements": 0,
            "heartbeats": 0,
            "bad_messages": 0,
            "stale_messages": 0,
            "late_measurements": 0,
        }
        self.last_fault: str | None = None

    # --- lifecycle --------------------------------------------------------------

    async def _async_setup(self) -> None:
        self.data = await async_load_state(self._store, self._restore, EfentoState)
        now = dt_util.utcnow()
        # What went stale while Home Assistant was down is already known to be stale.
        self._expired = {key for key, deadline in self._deadlines() if deadline <= now}

    def _restore(self, raw: Any) -> EfentoState:
        dropped: list[str] = []
        state = EfentoState.from_dict(raw, dropped)
        if dropped:
            LOGGER.warning(
                "Efento %s: left out of the stored state what cannot be used (%s);"
                " it comes back with the next message",
                self.config_entry.title,
                ", ".join(f"{dropped.count(what)} {what}" for what in dict.fromkeys(dropped)),
            )
        return state

    async def _async_fetch(self) -> EfentoState:
        """Nothing to fetch: the first refresh publishes the restored state."""
        self._async_schedule_timer()
        return self.data

    async def async_shutdown(self) -> None:
        """Stop the timer and write the state before the entry goes away."""
        await super().async_shutdown()
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        if self._issue_raised:
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
            self._issue_raised = False
        for what in (LIMIT_LOGGERS, LIMIT_LOGGERS_PER_MESSAGE, LIMIT_CHANNELS):
            async_clear_limit(self.hass, self.config_entry, what)
        await self._store.async_save(self.data.as_dict())

    # --- messages ---------------------------------------------------------------

    @callback
    def async_handle_message(
        self, message: MeasurementsMessage | HeartbeatMessage
    ) -> dict[str, list[int]] | None:
        """Apply a parsed message; return the Y/N reply for measurements."""
        self._note_good_message()
        now = dt_util.utcnow()
        if isinstance(message, HeartbeatMessage):
            self.counters["heartbeats"] += 1
            if self.data.gateway.apply(message, now):
                self._update_gateway_device()
                self._touch([GATEWAY_KEY])
            else:
                self.counters["stale_messages"] += 1
            return None
        self.counters["measurements"] += 1
        outcome = self.data.apply_measurements(message, now)
        self._note_outcome(outcome)
        self._record_late(outcome.late)
        if outcome.catalog_changed:
            self.mark_catalog_changed()
        if not outcome.touched:
            self.counters["stale_messages"] += 1
        self._touch([logger_device_key(serial) for serial in outcome.touched])
        return outcome.reply

    @callback
    def _note_outcome(self, outcome: MeasurementsOutcome) -> None:
        """Warn once per kind of unusable item; tell the user what a cap refused."""
        title = self.config_entry.title
        for kind in sorted(outcome.ignored):
            self._log_once.warning(
                "Efento gateway %s sent a measurement that cannot be used (%s); it was"
                " ignored and the rest of the message applied",
                title,
                kind,
                kind="ignored",
                key=kind,
            )
        hass, entry = self.hass, self.config_entry
        if outcome.refused_by_entry:
            async_report_limit(hass, entry, LIMIT_LOGGERS, MAX_LOGGERS, outcome.refused_by_entry)
        if outcome.refused_by_message:
            async_report_limit(
                hass,
                entry,
                LIMIT_LOGGERS_PER_MESSAGE,
                MAX_NEW_LOGGERS_PER_MESSAGE,
                outcome.refused_by_message,
            )
        else:
            # The loggers it refused were answered N; they are created as they come again.
            async_clear_limit(hass, entry, LIMIT_LOGGERS_PER_MESSAGE)
        if outcome.crowded:
            self._crowded.update(outcome.crowded)
            async_report_limit(hass, entry, LIMIT_CHANNELS, MAX_CHANNELS, outcome.refused_channels)

    @callback
    def _record_late(self, late: Iterable[Measurement]) -> None:
        """Measurements older than a logger shows: statistics of its sensors, not states."""
        per_sensor: dict[tuple[str, str], tuple[str | None, list[LateReading]]] = {}
        for item in late:
            self.counters["late_measurements"] += 1
            device_key = logger_device_key(item.serial)
            for key, unit, value in late_values(item):
                readings = per_sensor.setdefault((device_key, key), (unit, []))[1]
                readings.append(LateReading(item.measured_at, value))
        for (device_key, key), (unit, readings) in per_sensor.items():
            self.async_record_late(device_key, key, readings, unit=unit)

    @callback
    def _touch(self, keys: list[str]) -> None:
        if keys:
            self._expired.difference_update(keys)
            self._save()
            self._async_schedule_timer()
        # Always flush: a logger may be new even when it sent nothing newer.
        self.async_update_devices(keys)

    def _save(self) -> None:
        self._store.async_delay_save(self.data.as_dict, STORE_DELAY)

    @callback
    def async_note_bad_message(self, reason: str) -> None:
        """Count a body we answered 400; log each fault once; raise an issue when it persists."""
        self.counters["bad_messages"] += 1
        self._bad_in_row += 1
        self.last_fault = reason
        if not self._log_once.warning(
            "Efento gateway %s sent a body that is not a documented message (%s);"
            " answered 400 and the gateway will resend it. Further bodies with this"
            " fault are logged at debug level",
            self.config_entry.title,
            reason,
            kind="bad_body",
            key=_INDEX.sub("[]", reason),
        ):
            LOGGER.debug("Efento gateway %s: bad body again (%s)", self.config_entry.title, reason)
        if self._bad_in_row >= BAD_MESSAGES_ISSUE_THRESHOLD and not self._issue_raised:
            self._issue_raised = True
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_BAD_MESSAGES,
                translation_placeholders={
                    "name": self.config_entry.title,
                    "count": str(self._bad_in_row),
                    "reason": reason,
                },
            )

    def _note_good_message(self) -> None:
        if not self._bad_in_row:
            return
        LOGGER.info(
            "Efento gateway %s sends valid messages again after %d bad ones",
            self.config_entry.title,
            self._bad_in_row,
        )
        self._bad_in_row = 0
        if self._issue_raised:
            self._issue_raised = False
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)

    @property
    def _issue_id(self) -> str:
        return f"{ISSUE_BAD_MESSAGES}_{self.config_entry.entry_id}"

    # --- the accept switch ------------------------------------------------------

    def set_accept(self, device_key: str, accept: bool) -> None:
        """Answer this logger's measurements Y (keep syncing) or N from now on."""
        self.data.set_accept(logger_serial(device_key), accept)
        self._save()

    # --- staleness --------------------------------------------------------------

    def _deadlines(self) -> Iterable[tuple[str, datetime]]:
        if (deadline := self.data.gateway.deadline) is not None:
            yield GATEWAY_KEY, deadline
        for serial, logger_state in self.data.loggers.items():
            if (deadline := logger_state.deadline) is not None:
                yield logger_device_key(serial), deadline

    @callback
    def _async_schedule_timer(self) -> None:
        """Wake at the earliest deadline not yet passed (one timer per entry)."""
        upcoming = [d for key, d in self._deadlines() if key not in self._expired]
        if not upcoming:
            return
        when = min(upcoming)
        if self._unsub_timer is not None and self._timer_at is not None:
            if self._timer_at <= when:
                return  # the timer will fire first and reschedule
            self._unsub_timer()
        self._timer_at = when
        self._unsub_timer = async_track_point_in_utc_time(self.hass, self._async_on_timer, when)

    @callback
    def _async_on_timer(self, now: datetime) -> None:
        self._unsub_timer = None
        self._timer_at = None
        now = max(now, dt_util.utcnow())
        gone = [
            key
            for key, deadline in self._deadlines()
            if deadline <= now and key not in self._expired
        ]
        if gone:
            LOGGER.debug("Efento %s: no news from %s", self.config_entry.title, gone)
            self._expired.update(gone)
            self.async_update_devices(gone)
        self._async_schedule_timer()

    # --- devices ----------------------------------------------------------------

    def _gateway_identifier(self) -> tuple[str, str]:
        return gateway_identifier(self.config_entry.entry_id)

    @callback
    def async_register_gateway_device(self) -> None:
        """Create the gateway's device first, so loggers can point at it."""
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id, **self.device_info(GATEWAY_KEY)
        )
        self._update_gateway_device()

    def _update_gateway_device(self) -> None:
        registry = dr.async_get(self.hass)
        device = device_by_identifier(
            self.hass, self._gateway_identifier(), self.config_entry.entry_id
        )
        if device is None:  # pragma: no cover - created at set-up
            return
        gateway = self.data.gateway
        changes: dict[str, Any] = {}
        if gateway.model and device.model != gateway.model:
            changes["model"] = gateway.model
        if gateway.software_version and device.sw_version != gateway.software_version:
            changes["sw_version"] = gateway.software_version
        if gateway.name and device.name != gateway.name:
            changes["name"] = gateway.name
        if gateway.mac:
            connection = (dr.CONNECTION_NETWORK_MAC, dr.format_mac(gateway.mac))
            if connection not in device.connections:
                changes["new_connections"] = {*device.connections, connection}
        if not changes:
            return
        try:
            registry.async_update_device(device.id, **changes)
        except dr.DeviceConnectionCollisionError:
            # Another device (a router's tracker, another entry) already owns this MAC;
            # the gateway stays without it rather than failing every heartbeat.
            self._log_once.warning(
                "Efento %s: MAC address %s already belongs to another device; "
                "the gateway's device is kept without it",
                self.config_entry.title,
                gateway.mac,
                kind="mac_collision",
            )
            del changes["new_connections"]
            if changes:
                registry.async_update_device(device.id, **changes)

    def device_info(self, device_key: str) -> DeviceInfo:
        """The gateway, or a logger linked to it."""
        if device_key == GATEWAY_KEY:
            gateway = self.data.gateway
            # The MAC address is added by _update_gateway_device, which tolerates a
            # collision with another integration's device.
            return DeviceInfo(
                identifiers={self._gateway_identifier()},
                manufacturer="Efento",
                model=gateway.model,
                name=gateway.name or self.config_entry.title,
                sw_version=gateway.software_version,
            )
        serial = logger_serial(device_key)
        return DeviceInfo(
            identifiers={logger_identifier(self.config_entry.entry_id, serial)},
            manufacturer="Efento",
            model="Wireless logger",
            name=f"Efento {serial}",
            serial_number=serial,
            **via_device(self.hass, self._gateway_identifier(), self.config_entry.entry_id),
        )

    def device_data(self, device_key: str) -> GatewayState | LoggerState:
        """The gateway's or a logger's state."""
        if device_key == GATEWAY_KEY:
            return self.data.gateway
        return self.data.loggers[logger_serial(device_key)]

    def device_available(self, device_key: str) -> bool:
        """A logger the user removed has no data; staleness is per entity (``available_fn``)."""
        return device_key == GATEWAY_KEY or logger_serial(device_key) in self.data.loggers

    def device_removable(self, device: DeviceEntry) -> bool:
        """A logger that missed its schedule may go; it comes back if it reports again."""
        serial = logger_serial_of(self.config_entry.entry_id, device)
        if serial is None:
            return False
        logger_state = self.data.loggers.get(serial)
        if logger_state is not None and logger_state.fresh(dt_util.utcnow()):
            return False
        if self.data.loggers.pop(serial, None) is not None:
            self._expired.discard(logger_device_key(serial))
            self.mark_catalog_changed()
            self._save()
        self._note_room(serial)
        return True

    def _note_room(self, removed: str) -> None:
        """A logger was deleted: drop the notices of the caps that have room now."""
        if len(self.data.loggers) < MAX_LOGGERS:
            async_clear_limit(self.hass, self.config_entry, LIMIT_LOGGERS)
        if self._crowded:
            self._crowded.discard(removed)
            if not self._crowded:
                async_clear_limit(self.hass, self.config_entry, LIMIT_CHANNELS)

    def diagnostics(self) -> dict[str, Any]:
        """Gateway, loggers, counters and the last fault (no token, no path)."""
        return {
            "gateway": self.data.gateway.as_dict(),
            "loggers": [logger_state.as_dict() for logger_state in self.data.loggers.values()],
            "counters": dict(self.counters),
            "bad_messages_in_a_row": self._bad_in_row,
            "last_fault": self.last_fault,
            "stale_devices": sorted(self._expired),
        }
