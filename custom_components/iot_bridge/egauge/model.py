"""A meter's state: the latest registers and the never-decreasing energy ledger.

Plain Python, no Home Assistant: what the meter's entities read.

An eGauge power register's cumulative counter is net: it runs backwards while
a grid register exports. Home Assistant's Energy dashboard needs two totals
that only grow, so each poll's counter change is booked to import when
positive and to export when negative. The ledger is persisted so totals
survive restarts; the first poll after a restart books the change since the
last stored counter (net over the downtime: direction changes inside that gap
cannot be seen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..api.egauge import EgaugeReading

WATT_SECONDS_PER_KWH = 3_600_000.0


@dataclass(slots=True)
class RegisterLedger:
    """Running totals of one power register, in watt-seconds."""

    counter: int
    imported: float = 0.0
    exported: float = 0.0
    bidirectional: bool = False
    # Meter time of ``counter``; None for ledgers stored before it was kept.
    timestamp: float | None = None

    def book(self, counter: int, rate: float | None, timestamp: float | None) -> tuple[bool, bool]:
        """Book the change to ``counter``; return (changed, became bidirectional)."""
        delta = counter - self.counter
        changed = False
        if delta:
            if delta > 0:
                self.imported += delta
            else:
                self.exported -= delta
            changed = True
        self.counter = counter
        if timestamp is not None:
            self.timestamp = timestamp
        running_backwards = delta < 0 or (rate is not None and rate < 0)
        if running_backwards and not self.bidirectional:
            self.bidirectional = True
            return True, True
        return changed, False


@dataclass(slots=True)
class EnergyLedger:
    """Import/export totals of every power register of a meter."""

    registers: dict[str, RegisterLedger] = field(default_factory=dict)

    def update(self, reading: EgaugeReading, power_type: str = "P") -> tuple[bool, bool]:
        """Book one reading; return (changed, a register became bidirectional)."""
        changed = False
        new_bidirectional = False
        for name, register in reading.registers.items():
            if register.type_code != power_type or register.counter is None:
                continue
            ledger = self.registers.get(name)
            if ledger is None:
                ledger = self.registers[name] = RegisterLedger(counter=register.counter)
                changed = True
            booked, became = ledger.book(register.counter, register.rate, reading.timestamp)
            changed |= booked
            new_bidirectional |= became
        return changed, new_bidirectional

    def book_history(self, rows: list[tuple[float, dict[str, int]]]) -> tuple[bool, bool]:
        """Book history rows (oldest first) newer than what each register last booked."""
        changed = False
        new_bidirectional = False
        for timestamp, counters in rows:
            for name, ledger in self.registers.items():
                counter = counters.get(name)
                if counter is None or ledger.timestamp is None or timestamp <= ledger.timestamp:
                    continue
                booked, became = ledger.book(counter, None, timestamp)
                changed |= booked
                new_bidirectional |= became
        return changed, new_bidirectional

    def last_booked(self) -> float | None:
        """The oldest meter time up to which every register is booked."""
        times = [ledger.timestamp for ledger in self.registers.values() if ledger.timestamp]
        return min(times) if times else None

    def import_kwh(self, name: str) -> float | None:
        """Energy drawn through a register so far, in kWh."""
        ledger = self.registers.get(name)
        return None if ledger is None else ledger.imported / WATT_SECONDS_PER_KWH

    def export_kwh(self, name: str) -> float | None:
        """Energy fed back through a register so far, in kWh."""
        ledger = self.registers.get(name)
        return None if ledger is None else ledger.exported / WATT_SECONDS_PER_KWH

    def is_bidirectional(self, name: str) -> bool:
        """Whether the register has ever run backwards."""
        ledger = self.registers.get(name)
        return ledger is not None and ledger.bidirectional

    def as_dict(self) -> dict[str, Any]:
        """Serialise for Home Assistant's Store."""
        return {
            name: {
                "counter": ledger.counter,
                "imported": ledger.imported,
                "exported": ledger.exported,
                "bidirectional": ledger.bidirectional,
                "timestamp": ledger.timestamp,
            }
            for name, ledger in self.registers.items()
        }

    @classmethod
    def from_dict(cls, data: Any) -> EnergyLedger:
        """Restore from the Store, skipping anything malformed."""
        ledger = cls()
        if not isinstance(data, dict):
            return ledger
        for name, item in data.items():
            try:
                ledger.registers[str(name)] = RegisterLedger(
                    counter=int(item["counter"]),
                    imported=float(item["imported"]),
                    exported=float(item["exported"]),
                    bidirectional=bool(item["bidirectional"]),
                    timestamp=_optional_float(item.get("timestamp")),
                )
            except (KeyError, TypeError, ValueError):
                continue
        return ledger


def _optional_float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(slots=True)
class MeterState:
    """What the meter's entities read: the latest registers and the energy ledger."""

    reading: EgaugeReading
    energy: EnergyLedger
