"""Polling an eGauge meter: one request per poll, energy ledger kept on disk."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
import math
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.storage import Store

from ..api.egauge import EgaugeClient, EgaugeIdentity, EgaugeReading
from ..api.errors import ApiError
from ..api.log_once import LogOnce
from ..const import DOMAIN, LOGGER
from ..coordinator import IotBridgeCoordinator
from ..limits import async_clear_limit, async_report_limit
from ..storage import async_load_state, entry_store_key
from .model import EnergyLedger, MeterState, RegisterLimit

POLL_INTERVAL = timedelta(seconds=30)
METER = "meter"
STORE_VERSION = 1
# The ledger changes every poll; writing it at most once a minute is plenty.
STORE_DELAY = 60
# A longer gap since the last booked reading is filled from the meter's history,
# in rows of at least a minute and at most HISTORY_ROWS of them.
HISTORY_GAP = 300
HISTORY_ROWS = 1440


class EgaugeCoordinator(IotBridgeCoordinator[MeterState]):
    """Polls every register's rate and counter in a single request."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        client: EgaugeClient,
        identity: EgaugeIdentity,
    ) -> None:
        """Set up polling for one meter."""
        super().__init__(
            hass, entry, name=f"eGauge {identity.serial}", update_interval=POLL_INTERVAL
        )
        self.client = client
        self.identity = identity
        self.energy = EnergyLedger()
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, entry_store_key("egauge_energy", entry.entry_id)
        )
        self._register_limit = RegisterLimit()
        # None until the first poll, which also clears a notice left by an earlier run.
        self._refused_registers: int | None = None
        self._register_types: dict[str, str] = {}
        self._log_once = LogOnce(LOGGER)

    async def _async_setup(self) -> None:
        self.energy = await async_load_state(self._store, self._restore_ledger, EnergyLedger)
        self._register_limit = RegisterLimit(admitted=set(self.energy.registers))

    def _restore_ledger(self, data: Any) -> EnergyLedger:
        ledger, dropped = EnergyLedger.restore(data)
        if dropped:
            LOGGER.warning(
                "eGauge %s: ignoring %d stored energy totals that cannot be used",
                self.identity.serial,
                dropped,
            )
        return ledger

    async def _async_fetch(self) -> MeterState:
        reading = self._admit(await self.client.get_readings())
        history_changed, history_bidirectional = await self._book_gap(reading)
        changed, new_bidirectional = self.energy.update(reading)
        changed |= history_changed
        new_bidirectional |= history_bidirectional
        if changed:
            self._store.async_delay_save(self.energy.as_dict, STORE_DELAY)
        register_types = {name: reg.type_code for name, reg in reading.registers.items()}
        if new_bidirectional or register_types != self._register_types:
            self._log_register_changes(register_types)
            self._register_types = register_types
            self.mark_catalog_changed()
        self._warn_missing_values(reading)
        return MeterState(reading=reading, energy=self.energy)

    def _admit(self, reading: EgaugeReading) -> EgaugeReading:
        """Leave out registers past MAX_REGISTERS; tell the user while there are any."""
        admitted = self._register_limit.admit(reading)
        refused = self._register_limit.refused
        if refused != self._refused_registers:
            self._refused_registers = refused
            if refused:
                limit = self._register_limit.limit
                async_report_limit(self.hass, self.config_entry, "registers", limit, refused)
            else:
                async_clear_limit(self.hass, self.config_entry, "registers")
        return admitted

    async def _book_gap(self, reading: EgaugeReading) -> tuple[bool, bool]:
        """Book the meter's history since the last booked reading, when there is a gap.

        Without it a gap would be booked as one net change, and energy exported
        and imported inside it would cancel out.
        """
        bookable = self.energy.bookable(reading)
        since = self.energy.last_booked(bookable)
        now = reading.timestamp
        if since is None or now is None or now - since <= HISTORY_GAP:
            return False, False
        step = max(60, math.ceil((now - since) / HISTORY_ROWS / 60) * 60)
        try:
            rows = await self.client.get_history(since, now, step)
        except ApiError as err:
            LOGGER.warning(
                "eGauge %s: could not read history for the last %d s (%s); "
                "booking that gap as its net change",
                self.identity.serial,
                now - since,
                err,
            )
            return False, False
        return self.energy.book_history(rows, bookable)

    def note_bidirectional(self, names: Collection[str]) -> None:
        """Registers the meter's history shows running backwards get import/export sensors too."""
        if self.energy.mark_bidirectional(names):
            self._store.async_delay_save(self.energy.as_dict, STORE_DELAY)
            self.mark_catalog_changed()

    def _log_register_changes(self, register_types: dict[str, str]) -> None:
        if not self._register_types:
            return
        for name in self._register_types.keys() - register_types.keys():
            LOGGER.warning("eGauge %s: register %s is gone", self.identity.serial, name)
        for name, code in register_types.items():
            old = self._register_types.get(name)
            if old is not None and old != code:
                LOGGER.warning(
                    "eGauge %s: register %s changed type from %s to %s",
                    self.identity.serial,
                    name,
                    old,
                    code,
                )

    def _warn_missing_values(self, reading: EgaugeReading) -> None:
        for name, register in reading.registers.items():
            if register.rate is None:
                self._log_once.warning(
                    "eGauge %s: register %s came without a usable value",
                    self.identity.serial,
                    name,
                    kind="no_value",
                    key=name,
                )

    async def async_shutdown(self) -> None:
        """Write the ledger and log out before the entry goes away."""
        await super().async_shutdown()
        await self._store.async_save(self.energy.as_dict())
        await self.client.close()

    def device_info(self, device_key: str) -> DeviceInfo:
        """The meter itself."""
        identity = self.identity
        return DeviceInfo(
            identifiers={(DOMAIN, f"egauge_{identity.serial}")},
            manufacturer="eGauge Systems",
            model=identity.model,
            name=identity.hostname or f"eGauge {identity.serial}",
            serial_number=identity.serial,
            sw_version=identity.firmware,
            configuration_url=self.client.base_url,
        )

    def device_data(self, device_key: str) -> MeterState:
        """The meter's latest state."""
        return self.data

    def diagnostics(self) -> dict[str, Any]:
        """Registers as last read and the energy ledger."""
        state = self.data
        return {
            "identity": {
                "serial": self.identity.serial,
                "model": self.identity.model,
                "firmware": self.identity.firmware,
            },
            "requests_sent": self.client.requests_sent,
            "timestamp": state.reading.timestamp if state else None,
            "registers": [
                {
                    "name": reg.name,
                    "type": reg.type_code,
                    "rate": reg.rate,
                    "counter": reg.counter,
                }
                for reg in (state.reading.registers.values() if state else ())
            ],
            "energy_ledger": self.energy.as_dict(),
        }
