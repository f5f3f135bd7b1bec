"""The one reader of vendor times: the forms it accepts and the times it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any

import pytest

from custom_components.iot_bridge.api.errors import ApiPayloadError
from custom_components.iot_bridge.api.timestamps import (
    EARLIEST,
    MAX_FUTURE,
    MAX_INTERVAL,
    MAX_UPTIME,
    InvalidTimestampError,
    check_epoch,
    clamp_duration,
    clamp_seconds,
    epoch_ms,
    from_epoch,
    parse_timestamp,
    timestamp_or_none,
)

NOW = datetime(2024, 10, 12, 15, 28, 21, tzinfo=UTC)
T0 = NOW


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-10-12T15:28:21Z", T0),
        ("2024-10-12t15:28:21z", T0),
        ("2024-10-12T17:28:21+02:00", T0),
        ("2024-10-12T17:28:21+0200", T0),
        ("2024-10-12T15:28:21", T0),  # naive: UTC
        ("2024-10-12 15:28:21 UTC", T0),  # Efento
        ("  2024-10-12 15:28:21 UTC\n", T0),
        ("20241012T152821Z", T0),
        # Netemera sends nanoseconds; microseconds are kept.
        ("2016-10-31T21:41:51.765598114Z", datetime(2016, 10, 31, 21, 41, 51, 765598, tzinfo=UTC)),
        ("2024-10-12", datetime(2024, 10, 12, tzinfo=UTC)),
    ],
)
def test_iso_forms(raw: str, expected: datetime) -> None:
    parsed = parse_timestamp(raw, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        # Valid text whose UTC form is past datetime.max: used to raise OverflowError.
        ("9999-12-31T23:59:59-14:00", "out of range"),
        ("9999-12-31 23:59:59 UTC", "in the future"),
        ("0001-01-01T00:00:00+14:00", "out of range"),
        ("1970-01-01T00:00:00Z", "before 2000-01-01"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        ("2024-10-13T15:28:22Z", "in the future"),  # one second past now + a day
        ("2024-10-12 25:28:21 UTC", "not ISO 8601"),
        ("12.10.2024 15:28", "not ISO 8601"),
        ("yesterday", "not ISO 8601"),
        ("\uff12\uff10\uff12\uff14-10-12", "not ISO 8601"),  # full-width digits
        ("2024-10-12T15:28:21." + "1" * 100 + "Z", "not ISO 8601"),
        ("", "empty"),
        ("   ", "empty"),
        (None, "missing"),
        (True, "not a time"),
        ({"at": 1}, "not a time"),
        ([2024], "not a time"),
    ],
)
def test_refused(raw: Any, reason: str) -> None:
    with pytest.raises(InvalidTimestampError) as info:
        parse_timestamp(raw, epoch="s", now=NOW)
    assert info.value.reason == reason
    assert isinstance(info.value, ApiPayloadError)
    assert timestamp_or_none(raw, epoch="s", now=NOW) is None


def test_bounds_are_inclusive() -> None:
    assert parse_timestamp("2000-01-01T00:00:00Z", now=NOW) == EARLIEST
    ahead = NOW + MAX_FUTURE
    assert parse_timestamp(ahead.isoformat(), now=NOW) == ahead


def test_max_future_can_be_widened_per_call() -> None:
    week = (NOW + timedelta(days=7)).isoformat()
    assert timestamp_or_none(week, now=NOW) is None
    assert timestamp_or_none(week, now=NOW, max_future=timedelta(days=8)) is not None


def test_default_now_is_the_wall_clock() -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    assert parse_timestamp(soon.isoformat()) == soon
    assert timestamp_or_none((soon + MAX_FUTURE).isoformat()) is None


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [
        (1728746901, "s", T0),
        (1728746901.0, "s", T0),
        (1728746901.5, "s", T0 + timedelta(milliseconds=500)),
        (1728746901123, "ms", T0 + timedelta(milliseconds=123)),
        (1728746901123.0, "ms", T0 + timedelta(milliseconds=123)),
    ],
)
def test_epoch_numbers(raw: float, unit: Any, expected: datetime) -> None:
    assert parse_timestamp(raw, epoch=unit, now=NOW + timedelta(hours=1)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        1e20,  # used to end in OverflowError or OSError depending on the platform
        pytest.param(10**400, id="10**400"),  # larger than any float
        pytest.param(-(10**400), id="-10**400"),
        math.inf,
        -math.inf,
        math.nan,
        0,
        -1,
        946684799,  # a second before 2000
        1728746901 + 86401 + 1,
    ],
)
def test_epoch_refused(raw: float) -> None:
    with pytest.raises(InvalidTimestampError):
        parse_timestamp(raw, epoch="s", now=NOW)


def test_numbers_need_a_unit_and_numeric_text_is_not_a_number() -> None:
    with pytest.raises(InvalidTimestampError, match="a number where text was expected"):
        parse_timestamp(1728746901, now=NOW)
    with pytest.raises(InvalidTimestampError, match="not ISO 8601"):
        parse_timestamp("1728746901", epoch="s", now=NOW)


def test_check_epoch_returns_the_number_unchanged() -> None:
    assert check_epoch(1728746901.123456789, now=NOW) == 1728746901.123456789
    assert check_epoch(1728746901123, "ms", now=NOW) == 1728746901123
    with pytest.raises(InvalidTimestampError):
        check_epoch(True, now=NOW)


def test_epoch_ms_is_exact() -> None:
    moment = from_epoch(1728746901123, "ms", now=NOW)
    assert epoch_ms(moment) == 1728746901123


def test_error_message_is_short_however_long_the_value() -> None:
    with pytest.raises(InvalidTimestampError) as info:
        parse_timestamp("x" * 100_000, now=NOW)
    assert len(str(info.value)) < 100


# --- durations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (180, timedelta(seconds=180)),
        (1.5, timedelta(seconds=1.5)),
        (1e15, MAX_INTERVAL),  # timedelta(seconds=1e15) itself raises OverflowError
        (math.inf, MAX_INTERVAL),
        (-5, timedelta(0)),
        (-math.inf, timedelta(0)),
        (math.nan, None),
        (None, None),
    ],
)
def test_clamp_duration(seconds: float | None, expected: timedelta | None) -> None:
    assert clamp_duration(seconds, maximum=MAX_INTERVAL) == expected


def test_clamp_seconds() -> None:
    assert clamp_seconds(180, maximum=MAX_INTERVAL) == 180
    assert clamp_seconds(10**15, maximum=MAX_INTERVAL) == MAX_INTERVAL.total_seconds()
    assert clamp_seconds(10**400, maximum=MAX_UPTIME) == MAX_UPTIME.total_seconds()
    assert clamp_seconds(-3, maximum=MAX_UPTIME) == 0
    assert clamp_seconds(5, maximum=MAX_UPTIME, minimum=timedelta(seconds=10)) == 10
    assert clamp_seconds(None, maximum=MAX_UPTIME) is None


def test_times_and_clamped_durations_cannot_overflow_together() -> None:
    """The point of the bounds: any accepted time +/- any clamped duration stays in range."""
    latest = datetime.max.replace(tzinfo=UTC)
    for moment in (EARLIEST, datetime.now(UTC) + MAX_FUTURE):
        for duration in (MAX_INTERVAL, MAX_UPTIME):
            assert datetime.min.replace(tzinfo=UTC) < moment - duration
            assert moment + duration + duration < latest
