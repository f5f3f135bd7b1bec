"""The meter's model alone: whatever the meter (or a stored file) says, it stays usable.

Property-based: readings, history rows and stored ledgers are generated with
every shape the parsed types allow, including counters no meter has (10**400),
non-finite rates and times, and colliding register names.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.iot_bridge.api.egauge import EgaugeReading, EgaugeRegister
from custom_components.iot_bridge.egauge.model import (
    COUNTER_LIMIT,
    MAX_REGISTERS,
    EnergyLedger,
    RegisterLimit,
    net_energy_kwh,
)

NOW = 1_700_000_000.0
FAST = settings(max_examples=100, deadline=None)

names = st.sampled_from(["Grid", "Solar", "House", "grid", ""]) | st.text(max_size=3)
counters = (
    st.none()
    | st.integers()
    | st.sampled_from(
        [10**400, -(10**400), COUNTER_LIMIT, COUNTER_LIMIT - 1, -COUNTER_LIMIT + 1, 0]
    )
)
floats = st.none() | st.floats(allow_nan=True, allow_infinity=True)
times = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.floats(NOW, NOW + 1e6)


@st.composite
def readings(draw: st.DrawFn) -> EgaugeReading:
    registers = {
        name: EgaugeRegister(
            idx=index,
            name=name,
            type_code=draw(st.sampled_from(["P", "P", "V", "Z"])),
            rate=draw(floats),
            counter=draw(counters),
        )
        for index, name in enumerate(draw(st.lists(names, max_size=6)))
    }
    return EgaugeReading(timestamp=draw(times), registers=registers)


history_rows = st.lists(
    st.tuples(
        st.floats(allow_nan=True, allow_infinity=True),
        st.dictionaries(names, st.integers() | st.just(10**400), max_size=4),
    ),
    max_size=6,
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
stored_registers = st.fixed_dictionaries(
    {},
    optional={
        "counter": counters | json_values,
        "imported": floats | json_values,
        "exported": floats | json_values,
        "bidirectional": st.booleans() | json_values,
        "timestamp": times | json_values,
    },
)


def _assert_sane(ledger: EnergyLedger) -> None:
    for name, register in ledger.registers.items():
        assert -COUNTER_LIMIT < register.counter < COUNTER_LIMIT
        assert math.isfinite(register.imported)
        assert register.imported >= 0
        assert math.isfinite(register.exported)
        assert register.exported >= 0
        assert register.timestamp is None or math.isfinite(register.timestamp)
        for total in (ledger.import_kwh(name), ledger.export_kwh(name)):
            assert total is not None
            assert math.isfinite(total)


@FAST
@given(steps=st.lists(st.tuples(readings(), history_rows), max_size=6))
def test_any_readings_and_history_keep_the_ledger_usable(
    steps: list[tuple[EgaugeReading, list[tuple[float, dict[str, int]]]]],
) -> None:
    ledger = EnergyLedger()
    for reading, rows in steps:
        bookable = ledger.bookable(reading)
        since = ledger.last_booked(bookable)
        assert since is None or math.isfinite(since)
        assert isinstance(ledger.book_history(rows, bookable), tuple)
        changed, became = ledger.update(reading)
        assert isinstance(changed, bool)
        assert isinstance(became, bool)
        _assert_sane(ledger)
        for register in reading.registers.values():
            energy = net_energy_kwh(register)
            assert energy is None or math.isfinite(energy)
    # Whatever was booked can be stored and read back.
    restored, dropped = EnergyLedger.restore(ledger.as_dict())
    assert dropped == 0
    assert restored.registers.keys() == ledger.registers.keys()


@FAST
@given(data=st.dictionaries(st.text(max_size=8), stored_registers | json_values, max_size=8))
def test_any_stored_ledger_is_restored_item_by_item(data: dict[str, Any]) -> None:
    ledger, dropped = EnergyLedger.restore(data)
    assert len(ledger.registers) + dropped == len(data)
    _assert_sane(ledger)
    ledger.update(
        EgaugeReading(
            timestamp=NOW,
            registers={
                name: EgaugeRegister(idx=0, name=name, type_code="P", rate=-1.0, counter=5)
                for name in data
            },
        )
    )
    _assert_sane(ledger)


@FAST
@given(data=json_values)
def test_a_stored_file_of_another_shape_is_refused_as_a_whole(data: Any) -> None:
    try:
        ledger, dropped = EnergyLedger.restore(data)
    except TypeError:
        assert not isinstance(data, dict)
        assert data is not None
    else:
        _assert_sane(ledger)
        assert dropped >= 0


@FAST
@given(steps=st.lists(readings(), max_size=8), limit=st.integers(0, 4))
def test_the_register_limit_never_admits_more_and_keeps_what_it_admitted(
    steps: list[EgaugeReading], limit: int
) -> None:
    register_limit = RegisterLimit(limit=limit)
    for reading in steps:
        before = set(register_limit.admitted)
        admitted = register_limit.admit(reading)
        assert len(register_limit.admitted) <= max(limit, len(before))
        assert before <= register_limit.admitted
        assert before & reading.registers.keys() <= admitted.registers.keys()
        assert admitted.registers.keys() <= reading.registers.keys()
        assert len(admitted.registers.keys() - before) <= max(0, limit - len(before))
        assert register_limit.refused == len(reading.registers) - len(admitted.registers)


def _reading(timestamp: float, **counters: int) -> EgaugeReading:
    return EgaugeReading(
        timestamp=timestamp,
        registers={
            name: EgaugeRegister(idx=i, name=name, type_code="P", rate=1.0, counter=counter)
            for i, (name, counter) in enumerate(counters.items())
        },
    )


def test_a_vanished_register_does_not_hold_back_the_last_booked_time() -> None:
    ledger = EnergyLedger()
    ledger.update(_reading(NOW, Grid=1, Solar=1))
    ledger.update(_reading(NOW + 600, Grid=2))
    now = _reading(NOW + 630, Grid=3)
    assert ledger.last_booked(ledger.bookable(now)) == NOW + 600
    # History can only book what the meter still has.
    assert ledger.book_history([(NOW + 700, {"Solar": 50})], ledger.bookable(now)) == (
        False,
        False,
    )
    assert ledger.registers["Solar"].counter == 1


def test_a_register_that_changed_type_is_not_booked_from_history() -> None:
    ledger = EnergyLedger()
    ledger.update(_reading(NOW, Grid=1))
    volts = EgaugeReading(
        timestamp=NOW + 600,
        registers={"Grid": EgaugeRegister(idx=0, name="Grid", type_code="V", rate=1.0, counter=9)},
    )
    assert ledger.bookable(volts) == frozenset()
    assert ledger.last_booked(ledger.bookable(volts)) is None


def test_counters_beyond_the_meter_range_are_not_booked() -> None:
    ledger = EnergyLedger()
    ledger.update(_reading(NOW, Grid=1000))
    assert ledger.update(_reading(NOW + 30, Grid=10**400)) == (False, False)
    assert ledger.book_history([(NOW + 60, {"Grid": -(10**400)})]) == (False, False)
    assert ledger.registers["Grid"].counter == 1000
    assert ledger.update(_reading(NOW + 90, Grid=1500)) == (True, False)
    assert ledger.import_kwh("Grid") == pytest.approx(500 / 3_600_000)


def test_restore_keeps_good_registers_and_counts_the_rest() -> None:
    good = {"counter": 5, "imported": 1.0, "exported": 2, "bidirectional": False}
    ledger, dropped = EnergyLedger.restore(
        {
            "Grid": {**good, "timestamp": NOW},
            "Huge": {**good, "counter": 10**400},
            "Text": {**good, "counter": "5"},
            "Flag": {**good, "counter": True},
            "Negative": {**good, "imported": -1.0},
            "Old time": {**good, "timestamp": 12.0},
        }
    )
    assert set(ledger.registers) == {"Grid", "Old time"}
    assert ledger.registers["Grid"].timestamp == NOW
    assert ledger.registers["Old time"].timestamp is None
    assert dropped == 4
    assert EnergyLedger.restore(None) == (EnergyLedger(), 0)
    with pytest.raises(TypeError):
        EnergyLedger.restore(["Grid"])


def test_restore_keeps_at_most_the_register_limit() -> None:
    good = {"counter": 5, "imported": 1.0, "exported": 2.0, "bidirectional": True}
    ledger, dropped = EnergyLedger.restore({f"R{i}": good for i in range(MAX_REGISTERS + 7)})
    assert len(ledger.registers) == MAX_REGISTERS
    assert dropped == 7
