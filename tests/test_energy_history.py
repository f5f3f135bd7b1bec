"""The energy history framework: backfill, resume, gaps, rewrites, hostile sources.

The vendors' own sources are tested end to end against their simulators
(tests/egauge/test_history.py, tests/enapter/test_history.py); here a source made of
plain numbers pins the framework's rules down hour by hour.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iot_bridge.api.errors import ApiConnectionError
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.energy_history import (
    STORE_NAME,
    EnergyHistory,
    EnergySeries,
    HourlyEnergy,
    floor_hour,
    history_days,
    statistic_id,
)
from custom_components.iot_bridge.storage import entry_store_key
from tests.energy_statistics import recorded_sums, settle

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
# The last complete hour at NOW (an hour is complete two minutes after its end).
LAST = datetime(2026, 6, 15, 11, tzinfo=UTC)


def _kwh(hour: datetime) -> float:
    """A plain, recognisable energy per hour: 0.1 kWh plus the hour of day in Wh."""
    return round(0.1 + hour.hour / 1000, 4)


@dataclass
class NumbersSource:
    """Energy from a dict of numbers, counting what it is asked for."""

    energy: dict[str, dict[datetime, float]]
    names: dict[str, str] = field(default_factory=dict)
    chunk: timedelta = timedelta(days=1)
    reads: list[tuple[datetime, datetime]] = field(default_factory=list)
    fail: Exception | None = None
    # Series revealed by the first read (like a register found running backwards).
    revealed_on_read: dict[str, dict[datetime, float]] = field(default_factory=dict)
    fail_after_reads: int | None = None

    def series(self) -> Sequence[EnergySeries]:
        return [EnergySeries(key, self.names.get(key, key)) for key in self.energy]

    async def async_read(self, start: datetime, end: datetime) -> HourlyEnergy:
        if self.fail_after_reads is not None and len(self.reads) >= self.fail_after_reads:
            raise ApiConnectionError("stopped")
        self.reads.append((start, end))
        if self.fail is not None:
            raise self.fail
        if self.revealed_on_read:
            self.energy.update(self.revealed_on_read)
            self.revealed_on_read = {}
        return {
            key: {hour: kwh for hour, kwh in hours.items() if start <= hour < end}
            for key, hours in self.energy.items()
        }


def _hours(first: datetime, last: datetime) -> dict[datetime, float]:
    hours: dict[datetime, float] = {}
    hour = first
    while hour <= last:
        hours[hour] = _kwh(hour)
        hour += HOUR
    return hours


async def _recorded(hass: HomeAssistant, key: str) -> list[tuple[datetime, float]]:
    return sorted((await recorded_sums(hass, key, NOW - timedelta(days=30))).items())


async def _fill(hass: HomeAssistant, history: EnergyHistory) -> None:
    history.async_request_fill()
    await settle(hass)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """The recorder must start before Home Assistant does (see tests/conftest.py)."""


@pytest.fixture
async def entry(hass: HomeAssistant) -> AsyncGenerator[MockConfigEntry]:
    """An entry that is never set up: only the history runs for it, stopped as an unload would."""
    entry = MockConfigEntry(domain=DOMAIN, title="Meter", data={})
    entry.add_to_hass(hass)
    yield entry
    await entry._async_process_on_unload(hass)


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)


async def _started(
    hass: HomeAssistant, entry: MockConfigEntry, source: NumbersSource, days: int = 3
) -> EnergyHistory:
    history = EnergyHistory(hass, entry, source, days)
    await history.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    return history


def _expected_sums(hours: Mapping[datetime, float]) -> list[tuple[datetime, float]]:
    total, sums = 0.0, []
    for hour in sorted(hours):
        total += hours[hour]
        sums.append((hour, total))
    return sums


def _assert_sums(
    recorded: list[tuple[datetime, float]], expected: list[tuple[datetime, float]]
) -> None:
    assert [hour for hour, _ in recorded] == [hour for hour, _ in expected]
    for (_, got), (_, want) in zip(recorded, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-9)


async def test_backfill_writes_every_complete_hour_of_the_period_once(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Three days are read in day chunks, oldest first; the sums add the device's hours up."""
    source = NumbersSource({"grid": _hours(LAST - timedelta(days=10), LAST + 5 * HOUR)})
    history = await _started(hass, entry, source)

    start = LAST + HOUR - timedelta(days=3)
    _assert_sums(
        await _recorded(hass, "grid"),
        _expected_sums({h: k for h, k in source.energy["grid"].items() if start <= h <= LAST}),
    )
    assert source.reads[0][0] == start
    assert source.reads[-1][1] == LAST + HOUR
    assert len(source.reads) == 3
    assert history.hours_written == 72
    diagnostics = history.diagnostics()
    assert diagnostics["filled_until"] == (LAST + HOUR).isoformat()
    assert diagnostics["chunks_done"] == diagnostics["chunks_total"] == 3
    assert diagnostics["last_error"] is None


async def test_next_hours_and_a_gap_are_filled_without_a_spike_or_double_counting(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """An hour later one row is added; after five hours away, five rows, each its own hour."""
    source = NumbersSource({"grid": _hours(LAST - timedelta(days=10), LAST + 10 * HOUR)})
    history = await _started(hass, entry, source, days=1)
    written = history.hours_written

    freezer.move_to(NOW + HOUR)
    await _fill(hass, history)
    assert history.hours_written == written + 1

    freezer.move_to(NOW + 6 * HOUR)
    await _fill(hass, history)
    assert history.hours_written == written + 6
    start = LAST + HOUR - timedelta(days=1)
    _assert_sums(
        await _recorded(hass, "grid"),
        _expected_sums(
            {h: k for h, k in source.energy["grid"].items() if start <= h <= LAST + 6 * HOUR}
        ),
    )


async def test_a_restart_resumes_after_the_last_recorded_hour(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A new history (Home Assistant restarted) re-reads only the last hours and writes nothing."""
    source = NumbersSource({"grid": _hours(LAST - timedelta(days=10), LAST)})
    await _started(hass, entry, source)
    before = await _recorded(hass, "grid")

    again = NumbersSource(source.energy)
    history = await _started(hass, entry, again)
    assert history.hours_written == 0
    assert again.reads == [(LAST - 2 * HOUR, LAST + HOUR)]
    assert await _recorded(hass, "grid") == before


async def test_a_restart_in_the_middle_of_a_backfill_finishes_it_without_doubling(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A backfill stopped after its first chunk goes on from the last recorded hour."""
    energy = _hours(LAST - timedelta(days=10), LAST)
    # Home Assistant stops while the second chunk is being read.
    stopped = NumbersSource({"grid": energy}, fail_after_reads=1)
    history = EnergyHistory(hass, entry, stopped, 3)
    await history.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    assert len(await _recorded(hass, "grid")) == 24

    resumed = NumbersSource({"grid": energy})
    await _started(hass, entry, resumed)
    start = LAST + HOUR - timedelta(days=3)
    _assert_sums(
        await _recorded(hass, "grid"),
        _expected_sums({h: k for h, k in energy.items() if h >= start}),
    )
    assert resumed.reads[0][0] == start + 21 * HOUR


async def test_an_hour_whose_device_data_changed_is_rewritten_with_the_hours_after_it(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A cloud that received buffered data late: the hour and the later sums change."""
    energy = _hours(LAST - timedelta(days=10), LAST)
    source = NumbersSource({"grid": energy})
    history = await _started(hass, entry, source, days=1)
    written = history.hours_written

    energy[LAST - HOUR] += 0.5
    await _fill(hass, history)
    assert history.hours_written == written + 2
    start = LAST + HOUR - timedelta(days=1)
    _assert_sums(
        await _recorded(hass, "grid"),
        _expected_sums({h: k for h, k in energy.items() if h >= start}),
    )

    # Unchanged data: nothing is written again.
    await _fill(hass, history)
    assert history.hours_written == written + 2


async def test_a_device_whose_records_start_later_is_not_read_from_the_start_again(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Records that begin a day ago start the sums there; later fills read only new hours."""
    energy = _hours(LAST - timedelta(hours=23), LAST + 5 * HOUR)
    source = NumbersSource({"grid": energy, "export": {}})
    history = await _started(hass, entry, source, days=30)
    _assert_sums(
        await _recorded(hass, "grid"),
        _expected_sums({h: k for h, k in energy.items() if h <= LAST}),
    )
    assert await _recorded(hass, "export") == []

    source.reads.clear()
    freezer.move_to(NOW + HOUR)
    await _fill(hass, history)
    # The hourly fill (its timer is due too) and the requested one: only the newest hours.
    assert source.reads
    assert all(start >= LAST - 2 * HOUR for start, _ in source.reads)

    # After a restart the empty series is not read from the start either.
    again = NumbersSource(source.energy)
    await _started(hass, entry, again, days=30)
    assert again.reads[0][0] >= LAST - 2 * HOUR


async def test_a_series_revealed_by_a_read_is_filled_from_the_start(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Import/export of a register found running backwards in the middle of a backfill."""
    energy = _hours(LAST - timedelta(days=10), LAST)
    source = NumbersSource({"grid": energy}, revealed_on_read={"grid_export": dict(energy)})
    await _started(hass, entry, source, days=2)
    start = LAST + HOUR - timedelta(days=2)
    expected = _expected_sums({h: k for h, k in energy.items() if h >= start})
    _assert_sums(await _recorded(hass, "grid"), expected)
    _assert_sums(await _recorded(hass, "grid_export"), expected)


async def test_a_longer_period_is_read_at_once_and_every_sum_is_rewritten(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Hours before the first written one cannot slip under its sum: all series start over."""
    energy = _hours(LAST - timedelta(days=10), LAST)
    source = NumbersSource({"grid": energy})
    history = await _started(hass, entry, source, days=1)
    history.async_set_days(3)
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)
    start = LAST + HOUR - timedelta(days=3)
    _assert_sums(
        await _recorded(hass, "grid"),
        _expected_sums({h: k for h, k in energy.items() if h >= start}),
    )

    # A shorter period keeps what was read.
    history.async_set_days(1)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(await _recorded(hass, "grid")) == 72


async def test_impossible_hours_are_left_out_and_logged_once(
    recorder_mock: Any,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """NaN, infinities, absurd amounts, hours outside the read or not on the hour: skipped."""
    start = LAST + HOUR - timedelta(days=1)
    energy = _hours(start, LAST)
    energy[LAST - 5 * HOUR] = float("nan")
    energy[LAST - 4 * HOUR] = float("inf")
    energy[LAST - 3 * HOUR] = 1e12
    hostile = dict(energy)
    hostile[datetime(1970, 1, 1, tzinfo=UTC)] = 1.0
    hostile[datetime(9999, 1, 1, tzinfo=UTC)] = 1.0
    hostile[LAST.replace(minute=30) - 8 * HOUR] = 1.0
    source = NumbersSource({"grid": hostile})
    with caplog.at_level(logging.WARNING):
        await _started(hass, entry, source, days=1)
    good = {
        h: k
        for h, k in energy.items()
        if h not in {LAST - 5 * HOUR, LAST - 4 * HOUR, LAST - 3 * HOUR}
    }
    _assert_sums(await _recorded(hass, "grid"), _expected_sums(good))
    assert caplog.text.count("such hours are left out") == 1


async def test_a_failing_device_is_retried_and_logged_once(
    recorder_mock: Any,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A read error ends the fill; the next one logs nothing new until it works again."""
    source = NumbersSource({"grid": _hours(LAST - timedelta(days=2), LAST)})
    source.fail = ApiConnectionError("meter unreachable")
    history = await _started(hass, entry, source, days=1)
    await _fill(hass, history)
    assert caplog.text.count("could not read the device's energy history") == 1
    assert history.diagnostics()["last_error"] == "meter unreachable"

    source.fail = None
    await _fill(hass, history)
    assert "reading the energy history again" in caplog.text
    assert history.diagnostics()["last_error"] is None
    assert len(await _recorded(hass, "grid")) == 24


@pytest.mark.parametrize(
    "stored",
    [
        "not a dict",
        {"from": "yesterday", "scanned": [], "series": "grid"},
        {"from": 1e300, "scanned": float("nan"), "series": [1, None]},
        {"from": True, "scanned": -5},
    ],
)
async def test_a_stored_file_of_any_shape_never_stops_the_history(
    recorder_mock: Any,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    stored: Any,
) -> None:
    hass_storage[entry_store_key(STORE_NAME, entry.entry_id)] = {
        "version": 1,
        "key": entry_store_key(STORE_NAME, entry.entry_id),
        "data": stored,
    }
    source = NumbersSource({"grid": _hours(LAST - timedelta(days=2), LAST)})
    await _started(hass, entry, source, days=1)
    assert len(await _recorded(hass, "grid")) == 24


def test_statistic_ids_are_valid_slugs() -> None:
    assert statistic_id("eGauge 12345: Grid (import)") == "iot_bridge:egauge_12345_grid_import"
    assert statistic_id("__") == "iot_bridge:energy"


@pytest.mark.parametrize(
    ("options", "days"),
    [
        ({}, 365),
        ({"history_days": 30}, 30),
        ({"history_days": -1}, 0),
        ({"history_days": 10**9}, 3650),
        ({"history_days": float("nan")}, 365),
        ({"history_days": True}, 365),
        ({"history_days": "30"}, 365),
    ],
)
def test_history_days_are_bounded(options: dict[str, Any], days: int) -> None:
    assert history_days(options) == days


def test_floor_hour() -> None:
    assert floor_hour(datetime(2026, 1, 1, 5, 59, 59, tzinfo=UTC)) == datetime(
        2026, 1, 1, 5, tzinfo=UTC
    )


class RevealingSource(NumbersSource):
    """A source that reveals another series on each of its first reads (a flood of registers)."""

    async def async_read(self, start: datetime, end: datetime) -> HourlyEnergy:
        if len(self.energy) < 8:
            self.energy[f"register_{len(self.energy)}"] = dict(self.energy["grid"])
        return await super().async_read(start, end)


async def test_a_source_revealing_series_on_every_read_still_fills_every_series(
    recorder_mock: Any, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Going back to the start is bounded per fill; the series beyond wait for the next fill."""
    energy = _hours(LAST - timedelta(days=10), LAST)
    source = RevealingSource({"grid": energy})
    await _started(hass, entry, source, days=2)
    start = LAST + HOUR - timedelta(days=2)
    expected = _expected_sums({h: k for h, k in energy.items() if h >= start})
    for key in source.energy:
        _assert_sums(await _recorded(hass, key), expected)
    assert len(source.energy) == 8
