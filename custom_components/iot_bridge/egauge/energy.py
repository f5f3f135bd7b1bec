"""Never-decreasing import and export energy from net power registers.

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
            delta = register.counter - ledger.counter
            if delta:
                ledger.counter = register.counter
                if delta > 0:
                    ledger.imported += delta
                else:
                    ledger.exported -= delta
                changed = True
            running_backwards = delta < 0 or (register.rate is not None and register.rate < 0)
            if running_backwards and not ledger.bidirectional:
                ledger.bidirectional = changed = new_bidirectional = True
        return changed, new_bidirectional

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
                )
            except (KeyError, TypeError, ValueError):
                continue
        return ledger
