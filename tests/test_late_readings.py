"""The arithmetic of late readings, for any input: hours, means, sums that continue.

Each vendor proves the way from its simulator to the statistics (tests/<vendor>/
test_late_readings.py); here the rules that turn readings into hourly rows are
checked against plain restatements of them, on whatever Hypothesis makes up
(times in and out of range, NaN, infinities, repeats, dips and resets).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import math

from homeassistant.core import HomeAssistant
from hypothesis import given, settings, strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.late_readings import (
    COMPILE_MARGIN,
    HOUR,
    MAX_AGE,
    RESET_RATIO,
    LateReading,
    LateStatistics,
    RecordedHour,
    complete_hours,
    hour_of,
    hourly_means,
    hourly_totals,
    usable,
)

NOW = datetime(2026, 6, 15, 12, 40, 17, tzinfo=UTC)
FAST = settings(max_examples=200, deadline=None)

# Times from far outside the window to the future, naive ones and other zones included.
AWARE = st.datetimes(
    min_value=datetime(1970, 1, 2, tzinfo=UTC).replace(tzinfo=None),
    max_value=datetime(9999, 12, 30, tzinfo=UTC).replace(tzinfo=None),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-9)), None]),
)
NEAR = st.datetimes(
    min_value=(NOW - MAX_AGE - timedelta(days=1)).replace(tzinfo=None),
    max_value=(NOW + timedelta(hours=2)).replace(tzinfo=None),
    timezones=st.just(UTC),
)
VALUES = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1e6, 1e6)
READINGS = st.lists(st.builds(LateReading, NEAR | AWARE, VALUES), max_size=60)


@FAST
@given(readings=READINGS)
def test_complete_hours_keep_exactly_the_usable_readings_of_finished_hours(
    readings: list[LateReading],
) -> None:
    hours = complete_hours(readings, NOW)
    # What a plain restatement of the rules keeps: the last value of each time.
    kept: dict[datetime, float] = {}
    for reading in readings:
        when = reading.when
        if when.tzinfo is None or not math.isfinite(reading.value):
            continue
        if NOW - MAX_AGE <= when <= NOW and hour_of(when) + HOUR <= NOW - COMPILE_MARGIN:
            kept[when] = reading.value
    assert {r.when: r.value for rs in hours.values() for r in rs} == kept
    for start, group in hours.items():
        assert start.tzinfo is UTC
        assert (start.minute, start.second, start.microsecond) == (0, 0, 0)
        assert start + HOUR <= NOW - COMPILE_MARGIN
        assert [r.when for r in group] == sorted({r.when for r in group})
        assert all(start <= r.when < start + HOUR for r in group)
        assert all(usable(r, NOW) for r in group)
    assert list(hours) == sorted(hours)


@FAST
@given(readings=READINGS)
def test_hourly_means_are_mean_min_and_max_of_each_hour(readings: list[LateReading]) -> None:
    hours = complete_hours(readings, NOW)
    means = hourly_means(hours)
    assert [row.start for row in means] == sorted(hours)
    for row in means:
        values = [r.value for r in hours[row.start]]
        assert row.min == min(values)
        assert row.max == max(values)
        assert row.min <= row.mean <= row.max or math.isclose(row.mean, row.min)
        assert math.isclose(row.mean, math.fsum(values) / len(values), rel_tol=1e-9, abs_tol=1e-9)


COUNTER = st.lists(st.floats(0, 1e6), min_size=1, max_size=30)


def _hours_of(
    values: list[float], first: datetime, step: timedelta
) -> dict[datetime, list[LateReading]]:
    return complete_hours(
        [LateReading(first + step * index, value) for index, value in enumerate(values)], NOW
    )


@FAST
@given(
    increments=st.lists(st.floats(0, 1e3), min_size=1, max_size=40),
    start_state=st.floats(0, 1e6),
    start_sum=st.floats(-1e6, 1e6),
    minutes=st.integers(5, 200),
)
def test_sums_of_a_rising_counter_continue_from_the_row_before(
    increments: list[float], start_state: float, start_sum: float, minutes: int
) -> None:
    first = NOW - timedelta(days=3)
    base = RecordedHour(hour_of(first) - HOUR, start_state, start_sum)
    values = []
    state = start_state
    for increment in increments:
        state += increment
        values.append(state)
    hours = _hours_of(values, first, timedelta(minutes=minutes))
    totals = hourly_totals(hours, [base], increasing=True)
    assert [row.start for row in totals] == sorted(hours)
    for row in totals:
        assert row.state == hours[row.start][-1].value
        # A counter that only rises: what it counted since the base row, nothing else.
        assert math.isclose(
            row.sum - start_sum, row.state - start_state, rel_tol=1e-9, abs_tol=1e-6
        )


@FAST
@given(
    values=COUNTER, recorded_at=st.sets(st.integers(-2, 30), max_size=8), increasing=st.booleans()
)
def test_sums_never_rewrite_recorded_hours_and_need_a_row_before(
    values: list[float], recorded_at: set[int], increasing: bool
) -> None:
    first = hour_of(NOW - timedelta(days=2))
    hours = _hours_of(values, first, timedelta(minutes=50))
    recorded = [RecordedHour(first + HOUR * k, float(k), float(k)) for k in sorted(recorded_at)]
    totals = hourly_totals(hours, recorded, increasing=increasing)
    held = {row.start for row in recorded}
    earliest = min(held, default=None)
    for row in totals:
        assert row.start not in held
        assert earliest is not None
        assert earliest < row.start
        assert math.isfinite(row.sum)


@given(
    before=st.floats(10, 1e6),
    after=st.floats(0, 1e6),
)
def test_a_drop_of_more_than_ten_percent_is_a_new_cycle(before: float, after: float) -> None:
    first = hour_of(NOW - timedelta(days=1))
    base = RecordedHour(first - HOUR, before, 50.0)
    hours = _hours_of([after], first + timedelta(minutes=10), timedelta(minutes=1))
    (row,) = hourly_totals(hours, [base], increasing=True)
    if after < RESET_RATIO * before:
        assert math.isclose(row.sum, 50.0 + after)  # counted again from zero
    else:
        assert math.isclose(row.sum, 50.0 + after - before)  # a rise, or a dip counted as one
    (total,) = hourly_totals(hours, [base], increasing=False)
    assert math.isclose(total.sum, 50.0 + after - before)  # a total may fall


def test_negative_readings_of_a_rising_counter_are_skipped() -> None:
    first = hour_of(NOW - timedelta(days=1))
    base = RecordedHour(first - HOUR, 10.0, 0.0)
    hours = _hours_of([11.0, -5.0, 12.0], first + timedelta(minutes=1), timedelta(minutes=5))
    (row,) = hourly_totals(hours, [base], increasing=True)
    assert (row.state, row.sum) == (12.0, 2.0)


def test_mean_only_rows_give_no_base_for_a_sum() -> None:
    first = hour_of(NOW - timedelta(days=1))
    hours = _hours_of([1.0, 2.0], first + timedelta(minutes=1), timedelta(hours=1))
    assert hourly_totals(hours, [RecordedHour(first - HOUR, None, None)], increasing=True) == []


async def test_without_the_recorder_nothing_is_kept(hass: HomeAssistant) -> None:
    """No recorder: late readings are dropped at once (a debug line), nothing is scheduled."""
    entry = MockConfigEntry(domain="iot_bridge", data={})
    entry.add_to_hass(hass)
    late = LateStatistics(hass, entry)
    assert "recorder" not in hass.config.components
    late.async_add("device", "temperature", [LateReading(NOW, 1.0)], "°C")
    assert late._timer is None
    assert late._count == 0
