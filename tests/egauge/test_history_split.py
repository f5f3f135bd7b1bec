"""History rows → complete hours (``model.split_hours``), example- and property-based.

The properties: every hour the split returns is backed by rows exactly at its start
and end, its net is the counter difference and equals import minus export; the
order of the rows does not matter; nothing a meter can send raises.
"""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import given, settings, strategies as st

from custom_components.iot_bridge.egauge.model import (
    HOUR_SECONDS,
    MAX_HISTORY_WATTS,
    HourEnergy,
    split_hours,
)

H0 = 1_700_002_800  # a UTC hour
assert H0 % HOUR_SECONDS == 0


def _minutes(
    counters: list[int], first: int = H0, name: str = "Grid"
) -> list[tuple[float, dict[str, int]]]:
    return [(float(first + 60 * i), {name: value}) for i, value in enumerate(counters)]


def test_an_hour_with_both_directions_shows_both() -> None:
    # Up 100 Ws a minute for 30 minutes, then down 40 a minute.
    counters = [1000 + 100 * min(i, 30) - 40 * max(0, i - 30) for i in range(61)]
    split = split_hours(_minutes(counters), ["Grid"], H0, H0 + HOUR_SECONDS)
    assert split.hours == {"Grid": {H0: HourEnergy(net=3000 - 1200, imported=3000, exported=1200)}}
    assert split.reversing == {"Grid"}


def test_hours_need_both_boundary_rows() -> None:
    counters = list(range(0, 121 * 10, 10))  # two hours of minute rows
    rows = _minutes(counters)
    split = split_hours(rows, ["Grid"], H0, H0 + 2 * HOUR_SECONDS)
    assert sorted(split.hours["Grid"]) == [H0, H0 + HOUR_SECONDS]
    # The meter's history starts at 00:30: the first hour is absent, never 0.
    split = split_hours(rows[30:], ["Grid"], H0, H0 + 2 * HOUR_SECONDS)
    assert sorted(split.hours["Grid"]) == [H0 + HOUR_SECONDS]
    # The row at the boundary between them is missing: neither hour is complete.
    split = split_hours(rows[:60] + rows[61:], ["Grid"], H0, H0 + 2 * HOUR_SECONDS)
    assert split.hours["Grid"] == {}
    # A hole inside an hour keeps it: its rows still add up to the counter's change.
    split = split_hours(rows[:10] + rows[50:], ["Grid"], H0, H0 + 2 * HOUR_SECONDS)
    assert split.hours["Grid"][H0] == HourEnergy(600, 600, 0)
    # Rows outside [start, end] are ignored; so are registers not asked for.
    split = split_hours(rows, ["Grid", "Solar"], H0 + HOUR_SECONDS, H0 + 2 * HOUR_SECONDS)
    assert split.hours == {"Grid": {H0 + HOUR_SECONDS: HourEnergy(600, 600, 0)}, "Solar": {}}
    assert split_hours(rows, ["Grid"], H0, H0 + HOUR_SECONDS - 1).hours == {"Grid": {}}


def test_hostile_rows_void_only_their_hours() -> None:
    counters = list(range(0, 181 * 10, 10))  # three hours
    rows = _minutes(counters)
    end = H0 + 3 * HOUR_SECONDS
    # A counter jumping by 2**62 in the second hour, and back.
    jumped = [
        (t, {"Grid": c + 2**62 if 70 <= i < 80 else c})
        for i, (t, c) in enumerate((t, r["Grid"]) for t, r in rows)
    ]
    split = split_hours(jumped, ["Grid"], H0, end)
    assert sorted(split.hours["Grid"]) == [H0, H0 + 2 * HOUR_SECONDS]
    assert split.reversing == set()  # a fall that is no energy says nothing about export
    # Two different rows claiming one time: that time is unknown.
    conflicting = [*rows, (float(H0 + HOUR_SECONDS), {"Grid": 5})]
    assert sorted(split_hours(conflicting, ["Grid"], H0, end).hours["Grid"]) == [
        H0 + 2 * HOUR_SECONDS
    ]
    # The same row twice is just a repeat.
    assert len(split_hours([*rows, rows[60]], ["Grid"], H0, end).hours["Grid"]) == 3
    # Impossible counters and times, rows shuffled.
    hostile: list[tuple[float, dict[str, Any]]] = [
        *rows,
        (math.nan, {"Grid": 1}),
        (math.inf, {"Grid": 1}),
        (0.0, {"Grid": 1}),
        (253_402_300_800.0, {"Grid": 1}),
        (float(H0 + 90), {"Grid": 2**63}),
        (float(H0 + 90), {"Other": 1}),
    ]
    random.Random(4).shuffle(hostile)
    assert (
        split_hours(hostile, ["Grid"], H0, end).hours == split_hours(rows, ["Grid"], H0, end).hours
    )


# Minute rows of one register over a few hours: per-minute changes (Ws, both signs,
# rarely absurd) and rows dropped at random.
_steps = st.lists(
    st.one_of(
        st.integers(min_value=-300_000, max_value=300_000),
        st.sampled_from([0, 2**62, -(2**62), MAX_HISTORY_WATTS * 60 + 1]),
    ),
    min_size=0,
    max_size=4 * 60,
)


@st.composite
def _history(draw: st.DrawFn) -> list[tuple[float, dict[str, int]]]:
    steps = draw(_steps)
    counter = draw(st.integers(min_value=-(2**40), max_value=2**40))
    counters = [counter]
    for step in steps:
        counters.append(counters[-1] + step)
    rows = _minutes(counters, first=H0 + 60 * draw(st.integers(min_value=-90, max_value=90)))
    return [row for row in rows if draw(st.integers(min_value=0, max_value=40)) > 0]


@settings(max_examples=300, deadline=None)
@given(_history(), st.randoms(use_true_random=False))
def test_split_properties(rows: list[tuple[float, dict[str, int]]], rng: random.Random) -> None:
    start, end = H0, H0 + 4 * HOUR_SECONDS
    split = split_hours(rows, ["Grid"], start, end)
    at = {round(t): r["Grid"] for t, r in rows}
    for hour, energy in split.hours["Grid"].items():
        assert hour % HOUR_SECONDS == 0
        assert start <= hour
        assert hour + HOUR_SECONDS <= end
        assert hour in at
        assert hour + HOUR_SECONDS in at
        assert energy.net == at[hour + HOUR_SECONDS] - at[hour]
        assert energy.net == energy.imported - energy.exported
        assert energy.imported >= 0
        assert energy.exported >= 0
        # Never more than the meter could have measured in an hour.
        assert energy.imported <= MAX_HISTORY_WATTS * HOUR_SECONDS
    # Row order does not matter.
    shuffled = list(rows)
    rng.shuffle(shuffled)
    assert split_hours(shuffled, ["Grid"], start, end).hours == split.hours
    # Consecutive hours add up to the counters' change over them, to the watt-second.
    hours = sorted(split.hours["Grid"])
    if hours:
        run_end = hours[0]
        total = 0
        for hour in hours:
            if hour != run_end:
                break
            total += split.hours["Grid"][hour].net
            run_end = hour + HOUR_SECONDS
        assert total == at[run_end] - at[hours[0]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True),
                st.integers(-(2**70), 2**70).map(float),
            ),
            st.dictionaries(st.sampled_from(["Grid", "Solar", ""]), st.integers(), max_size=3),
        ),
        max_size=50,
    ),
    st.integers(-(2**40), 2**40),
    st.integers(0, 10 * HOUR_SECONDS),
)
def test_split_never_raises(
    rows: list[tuple[float, dict[str, int]]], start: int, span: int
) -> None:
    split = split_hours(rows, ["Grid", "Solar"], start, start + span)
    for hours in split.hours.values():
        for energy in hours.values():
            assert energy.net == energy.imported - energy.exported
