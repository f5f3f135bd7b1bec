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

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
import itertools
import math
from typing import Any, Final

from ..api.egauge import EgaugeReading, EgaugeRegister
from ..api.timestamps import InvalidTimestampError, check_epoch

WATT_SECONDS_PER_KWH = 3_600_000.0
POWER_TYPE: Final = "P"
# The meter keeps its counters as 64-bit integers. A number beyond that is no
# counter (a firmware bug, a hostile device, a hand-edited file) and, booked,
# would overflow the float totals it is added to.
COUNTER_LIMIT: Final = 2**63
# A meter has a few dozen physical registers plus virtual ones (the benchmark
# meter has 64), and each register makes up to four sensors. 300 is beyond any
# real configuration and still keeps a meter that invents register names to
# about 1,200 entities.
MAX_REGISTERS: Final = 300


def is_counter(value: int | None) -> bool:
    """Whether ``value`` can be a register's raw counter."""
    return value is not None and -COUNTER_LIMIT < value < COUNTER_LIMIT


def net_energy_kwh(register: EgaugeRegister) -> float | None:
    """A power register's own (net) counter in kWh; None without a believable counter."""
    if not is_counter(register.counter) or (cumulative := register.cumulative()) is None:
        return None
    return cumulative / WATT_SECONDS_PER_KWH


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
        if timestamp is not None and math.isfinite(timestamp):
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

    def update(self, reading: EgaugeReading, power_type: str = POWER_TYPE) -> tuple[bool, bool]:
        """Book one reading; return (changed, a register became bidirectional)."""
        changed = False
        new_bidirectional = False
        for name, register in reading.registers.items():
            counter = register.counter
            if register.type_code != power_type or counter is None or not is_counter(counter):
                continue
            ledger = self.registers.get(name)
            if ledger is None:
                ledger = self.registers[name] = RegisterLedger(counter=counter)
                changed = True
            booked, became = ledger.book(counter, register.rate, reading.timestamp)
            changed |= booked
            new_bidirectional |= became
        return changed, new_bidirectional

    def bookable(self, reading: EgaugeReading, power_type: str = POWER_TYPE) -> frozenset[str]:
        """The ledger's registers that ``reading`` carries as power registers with a counter.

        Only these can be booked from the meter's history: a register that vanished,
        lost its counter or changed type has no rows to book.
        """
        return frozenset(
            name
            for name, register in reading.registers.items()
            if name in self.registers
            and register.type_code == power_type
            and is_counter(register.counter)
        )

    def book_history(
        self, rows: list[tuple[float, dict[str, int]]], names: Collection[str] | None = None
    ) -> tuple[bool, bool]:
        """Book history rows (oldest first) newer than what each register last booked.

        ``names`` limits booking to those registers (see ``bookable``).
        """
        changed = False
        new_bidirectional = False
        for timestamp, counters in rows:
            if not math.isfinite(timestamp):
                continue
            for name, ledger in self.registers.items():
                if names is not None and name not in names:
                    continue
                counter = counters.get(name)
                if counter is None or not is_counter(counter):
                    continue
                if ledger.timestamp is None or timestamp <= ledger.timestamp:
                    continue
                booked, became = ledger.book(counter, None, timestamp)
                changed |= booked
                new_bidirectional |= became
        return changed, new_bidirectional

    def last_booked(self, names: Collection[str] | None = None) -> float | None:
        """The oldest meter time up to which every register (of ``names``) is booked.

        Pass ``bookable(reading)``: a register the meter no longer reports would
        otherwise hold this time back for good, and every poll would ask for history.
        """
        times = [
            ledger.timestamp
            for name, ledger in self.registers.items()
            if ledger.timestamp and (names is None or name in names)
        ]
        return min(times) if times else None

    def mark_bidirectional(self, names: Collection[str]) -> bool:
        """Note that these registers ran backwards (seen in history); True if that is news."""
        changed = False
        for name in names:
            ledger = self.registers.get(name)
            if ledger is not None and not ledger.bidirectional:
                ledger.bidirectional = changed = True
        return changed

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
        """Restore from the Store, skipping anything malformed (see ``restore``)."""
        return cls.restore(data)[0]

    @classmethod
    def restore(cls, data: Any) -> tuple[EnergyLedger, int]:
        """Restore from the Store; return the ledger and how many stored registers were dropped.

        The file may come from another version or a hand edit: each register is
        taken only if every total is a number this ledger can keep adding to, and
        at most MAX_REGISTERS of them. No stored data (None) is an empty ledger;
        data that is not a mapping at all raises TypeError.
        """
        ledger = cls()
        if data is None:
            return ledger, 0
        if not isinstance(data, dict):
            raise TypeError(f"stored energy ledger is a {type(data).__name__}, not a mapping")
        dropped = 0
        for name, item in data.items():
            restored = _restore_register(item)
            if restored is None or len(ledger.registers) >= MAX_REGISTERS:
                dropped += 1
                continue
            ledger.registers[str(name)] = restored
        return ledger, dropped


def _restore_register(item: Any) -> RegisterLedger | None:
    if not isinstance(item, dict):
        return None
    counter = item.get("counter")
    imported, exported = _total(item.get("imported")), _total(item.get("exported"))
    bidirectional = item.get("bidirectional")
    if (
        not isinstance(counter, int)
        or isinstance(counter, bool)
        or not is_counter(counter)
        or imported is None
        or exported is None
        or not isinstance(bidirectional, bool)
    ):
        return None
    return RegisterLedger(
        counter=counter,
        imported=imported,
        exported=exported,
        bidirectional=bidirectional,
        timestamp=_meter_time(item.get("timestamp")),
    )


def _total(value: Any) -> float | None:
    """A stored total: a finite, non-negative number of watt-seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        total = float(value)
    except OverflowError:  # an int beyond any float
        return None
    return total if math.isfinite(total) and total >= 0 else None


def _meter_time(value: Any) -> float | None:
    """A stored meter time; None (not known) unless it is a believable Unix time."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(check_epoch(value))
    except (InvalidTimestampError, OverflowError):
        return None


# One hour in seconds; UTC hours start at multiples of it.
HOUR_SECONDS: Final = 3600
# No meter measures a gigawatt: a step between two history rows implying more is
# no energy (a counter reset, a hostile or broken device) and voids its hour.
MAX_HISTORY_WATTS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class HourEnergy:
    """One register's energy in one complete hour, in raw counter units (watt-seconds).

    ``net`` is the counter's change over the hour; ``imported`` and ``exported``
    add up the rises and falls between the hour's rows, so an hour with both
    directions shows both (``net == imported - exported``).
    """

    net: int
    imported: int
    exported: int


@dataclass(slots=True)
class HourlySplit:
    """History rows turned into complete hours, per register."""

    hours: dict[str, dict[int, HourEnergy]] = field(default_factory=dict)
    # Registers whose counter fell between two rows: they export as well as import.
    reversing: set[str] = field(default_factory=set)


def split_hours(
    rows: Iterable[tuple[float, Mapping[str, int]]],
    names: Collection[str],
    start: int,
    end: int,
) -> HourlySplit:
    """The complete UTC hours in ``[start, end)`` that ``rows`` cover, per register of ``names``.

    An hour is complete when the register has a row exactly at its start and at its
    end and every step between its rows is believable (see MAX_HISTORY_WATTS);
    anything else (before the meter's history starts, holes, conflicting rows for one
    time, impossible counters) leaves the hour out. Rows may come in any order.
    Integers throughout: the hours add up exactly to the counters' differences.
    """
    points: dict[str, dict[int, int]] = {name: {} for name in names}
    conflicts: dict[str, set[int]] = {name: set() for name in names}
    for moment, counters in rows:
        if not math.isfinite(moment) or not start <= moment <= end:
            continue
        second = round(moment)
        for name, by_time in points.items():
            value = counters.get(name)
            if value is None or not is_counter(value):
                continue
            known = by_time.setdefault(second, value)
            if known != value:
                conflicts[name].add(second)
    split = HourlySplit()
    for name, by_time in points.items():
        for second in conflicts[name]:
            del by_time[second]
        split.hours[name] = _complete_hours(sorted(by_time.items()), name, split.reversing)
    return split


def _complete_hours(
    points: list[tuple[int, int]], name: str, reversing: set[str]
) -> dict[int, HourEnergy]:
    hours: dict[int, HourEnergy] = {}
    # The last row at an hour's start, (time, counter): the hour being added up.
    opened = points[0] if points and points[0][0] % HOUR_SECONDS == 0 else None
    imported = exported = 0
    believable = True
    for (before, old), (moment, counter) in itertools.pairwise(points):
        delta = counter - old
        if abs(delta) > MAX_HISTORY_WATTS * (moment - before):
            believable = False
        elif delta > 0:
            imported += delta
        elif delta < 0:
            exported -= delta
            reversing.add(name)
        if moment % HOUR_SECONDS:
            continue
        if opened is not None and believable and moment - opened[0] == HOUR_SECONDS:
            hours[opened[0]] = HourEnergy(counter - opened[1], imported, exported)
        opened, imported, exported, believable = (moment, counter), 0, 0, True
    return hours


@dataclass(slots=True)
class RegisterLimit:
    """Which registers may have entities: known ones, then new ones while there is room.

    A register once admitted stays admitted while the entry runs, even when the
    meter stops reporting it, so a meter that keeps renaming its registers cannot
    create entities without end. Registers the ledger already holds come first:
    they have totals (and perhaps entities) to keep.
    """

    admitted: set[str] = field(default_factory=set)
    # Read when created, not when this module is loaded (tests scale it down).
    limit: int = field(default_factory=lambda: MAX_REGISTERS)
    # New registers the last reading had past the limit.
    refused: int = 0

    def admit(self, reading: EgaugeReading) -> EgaugeReading:
        """``reading`` without the registers past the limit."""
        registers: dict[str, EgaugeRegister] = {}
        refused = 0
        for name, register in reading.registers.items():
            if name not in self.admitted:
                if len(self.admitted) >= self.limit:
                    refused += 1
                    continue
                self.admitted.add(name)
            registers[name] = register
        self.refused = refused
        if not refused:
            return reading
        return EgaugeReading(timestamp=reading.timestamp, registers=registers)


@dataclass(slots=True)
class MeterState:
    """What the meter's entities read: the latest registers and the energy ledger."""

    reading: EgaugeReading
    energy: EnergyLedger
