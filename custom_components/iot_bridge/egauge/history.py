"""An eGauge meter's own minute history as the source of its energy statistics.

The meter keeps a year of minute rows of every register's counter. Each chunk
of hours is one request (``time=<start>:60:<end>``, only the power registers the
entry admitted); ``model.split_hours`` turns the rows into complete hours with
integer arithmetic, so the hours add up to the meter's own counters exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
import hashlib
import re

from ..energy_history import EnergySeries, HourlyEnergy
from .coordinator import EgaugeCoordinator
from .model import POWER_TYPE, WATT_SECONDS_PER_KWH, HourEnergy, split_hours

# Minute rows: the finest the meter keeps for a year.
HISTORY_STEP = 60
# One day of minute rows (1,441 per request) bounds both the answer and memory.
HISTORY_CHUNK = timedelta(days=1)


def register_key(serial: str, register: str) -> str:
    """A series key for ``register`` of meter ``serial``, stable and unique.

    Statistic ids keep only ``[a-z0-9_]``, and eGauge names such as ``Solar`` and
    ``Solar+`` would meet there: a name that is not already its own slug carries a
    short digest of itself.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", register.lower()).strip("_")
    if slug != register:
        digest = hashlib.sha256(register.encode()).hexdigest()[:8]
        slug = f"{slug}_{digest}" if slug else digest
    return f"egauge_{serial}_{slug}"


class EgaugeEnergyHistory:
    """Hourly energy of every power register, and import/export of the net ones."""

    chunk = HISTORY_CHUNK

    def __init__(self, coordinator: EgaugeCoordinator) -> None:
        """Read through the coordinator's client: the same session and token."""
        self._coordinator = coordinator
        # Registers whose history ran backwards (the live ledger may not know yet).
        self._reversing: set[str] = set()

    def _power_registers(self) -> dict[str, int]:
        """Name → index of the admitted power registers, as last polled."""
        return {
            name: register.idx
            for name, register in self._coordinator.data.reading.registers.items()
            if register.type_code == POWER_TYPE
        }

    def _bidirectional(self, name: str) -> bool:
        return name in self._reversing or self._coordinator.energy.is_bidirectional(name)

    def _device_name(self) -> str:
        identity = self._coordinator.identity
        return identity.hostname or f"eGauge {identity.serial}"

    def series(self) -> Sequence[EnergySeries]:
        """Each power register's energy; import and export too once it has run backwards."""
        device, serial = self._device_name(), self._coordinator.identity.serial
        found: list[EnergySeries] = []
        for name in self._power_registers():
            key = register_key(serial, name)
            found.append(EnergySeries(key, f"{device} {name} energy"))
            if self._bidirectional(name):
                found.append(EnergySeries(f"{key}_import", f"{device} {name} energy import"))
                found.append(EnergySeries(f"{key}_export", f"{device} {name} energy export"))
        return found

    async def async_read(self, start: datetime, end: datetime) -> HourlyEnergy:
        """The complete hours in ``[start, end)`` from the meter's minute rows."""
        registers = self._power_registers()
        if not registers or end <= start:
            return {}
        first, last = int(start.timestamp()), int(end.timestamp())
        rows = await self._coordinator.client.get_history(
            first, last, HISTORY_STEP, registers.values()
        )
        split = split_hours(rows, registers, first, last)
        if new := split.reversing - self._reversing:
            self._reversing |= new
            self._coordinator.note_bidirectional(new)
        serial = self._coordinator.identity.serial
        energy: dict[str, Mapping[datetime, float]] = {}
        for name, hours in split.hours.items():
            key = register_key(serial, name)
            energy[key] = _kwh(hours, lambda hour: hour.net)
            if self._bidirectional(name):
                energy[f"{key}_import"] = _kwh(hours, lambda hour: hour.imported)
                energy[f"{key}_export"] = _kwh(hours, lambda hour: hour.exported)
        return energy


def _kwh(
    hours: Mapping[int, HourEnergy], part: Callable[[HourEnergy], int]
) -> dict[datetime, float]:
    return {
        datetime.fromtimestamp(second, UTC): part(hour) / WATT_SECONDS_PER_KWH
        for second, hour in hours.items()
    }
