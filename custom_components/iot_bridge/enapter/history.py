"""Hourly energy of a site's energy counters, from Enapter's telemetry history.

Each device attribute the entities show as an energy total (a TOTAL_INCREASING
counter in Wh, kWh, MWh...) becomes one series. The cloud is asked for the last
reading of every hour (granularity one hour, aggregation ``last``): an hour's energy
is its last reading minus the last reading before it, so the hours add up exactly to
what the counter itself counted, and a month of one counter is 720 rows, not the
43 200 of minute rows.

A counter that falls below 90 % of the reading before is a reset (Home Assistant's
rule for total_increasing sensors): the new reading counts from zero, and smaller
dips count as they are. Hourly "last" alone would lose what the counter counted
between the hour's start and the reset, so only such an hour is read again minute
by minute (60 rows) and stepped through with the same rule.

An hour is complete once the counter has a reading after it (looked up to LOOKBACK
ahead when a chunk ends in a gap); the first hour after a gap continues from the last
reading before it (looked up to LOOKBACK back), so the gap's energy lands where the
device reports it, counted once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import UnitOfEnergy
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter

from ..api.enapter_history import (
    MAX_COLUMNS,
    NoTelemetryFoundError,
    TimeseriesColumn,
    selectors_for,
)
from ..api.log_once import LogOnce
from ..const import LOGGER
from ..energy_history import EnergySeries, HourlyEnergy
from ..late_readings import RESET_RATIO, counter_increase as increase
from .coordinator import EnapterCoordinator
from .entities import numeric_sensor_kind
from .model import SiteDevices

HOUR: Final = timedelta(hours=1)
MINUTE: Final = timedelta(minutes=1)
# A month of hourly buckets per request: 720 rows whatever the number of counters.
CHUNK: Final = timedelta(days=30)
# How far back the reading before a chunk's first hour is looked for (after a gap), and
# ahead the one after its last.
LOOKBACK: Final = timedelta(days=30)
# Hours read again minute by minute per read; a counter that resets every hour is
# broken, and its hours then count the new reading from zero without the minutes.
MAX_REFINED_HOURS: Final = 24

type Points = Sequence[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class EnergyCounter:
    """One energy total of one device, and what one of its units is in kWh."""

    column: TimeseriesColumn
    series: EnergySeries
    kwh_per_unit: float


def energy_counters(devices: SiteDevices) -> list[EnergyCounter]:
    """Every attribute of the site the entities show as a growing energy total."""
    counters: list[EnergyCounter] = []
    for device_id, plan in devices.plans.items():
        device = devices.get(device_id)
        if device is None:
            continue
        for name, spec in plan.manifest.telemetry.items():
            if spec.type not in ("float", "integer") or spec.enum is not None:
                continue
            kind = numeric_sensor_kind(name, spec)
            if (
                kind.device_class is not SensorDeviceClass.ENERGY
                or kind.state_class is not SensorStateClass.TOTAL_INCREASING
                or kind.unit is None
            ):
                continue
            try:
                factor = EnergyConverter.convert(1.0, kind.unit, UnitOfEnergy.KILO_WATT_HOUR)
            except HomeAssistantError:
                continue
            counters.append(
                EnergyCounter(
                    column=TimeseriesColumn(device_id, name),
                    series=EnergySeries(
                        key=f"enapter_{device_id}_{name}",
                        name=f"{device.name} {spec.display_name}",
                    ),
                    kwh_per_unit=factor,
                )
            )
    return counters


@dataclass(frozen=True, slots=True)
class _Reset:
    """An hour whose last reading fell: read again minute by minute."""

    hour: int
    previous: float


def _hours(
    points: Points, previous: float | None, later: int | None, start: int, end: int
) -> tuple[dict[int, float], list[_Reset]]:
    """Increase of each complete hour in [start, end), and the hours that need minutes.

    ``later`` is a reading's time after ``points``, when one was looked for.
    """
    readings = [(moment, value) for moment, value in points if value >= 0]
    if not readings:
        return {}, []
    # Complete: the counter has a reading after the hour.
    last_reading = max(readings[-1][0], later or 0)
    hours: dict[int, float] = {}
    resets: list[_Reset] = []
    for moment, value in readings:
        hour = moment - moment % 3600
        if previous is not None and start <= hour < end and hour + 3600 <= last_reading:
            if value < RESET_RATIO * previous:
                resets.append(_Reset(hour, previous))
            hours[hour] = increase(previous, (value,))
        previous = value
    return hours, resets


def _datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class EnapterEnergyHistory:
    """The site's energy counters, hour by hour, from the cloud's telemetry history."""

    chunk = CHUNK

    def __init__(self, coordinator: EnapterCoordinator) -> None:
        """Read through the coordinator's client; its device list says which counters exist."""
        self._coordinator = coordinator
        self._log_once = LogOnce(LOGGER)
        self.requests = 0

    def counters(self) -> list[EnergyCounter]:
        """The site's energy counters now."""
        return energy_counters(self._coordinator.devices)

    def series(self) -> Sequence[EnergySeries]:
        """One series per energy counter of every listed device."""
        return [counter.series for counter in self.counters()]

    async def async_read(self, start: datetime, end: datetime) -> HourlyEnergy:
        """The energy (kWh) of every complete hour in [start, end) of every counter."""
        counters = self.counters()
        if not counters or end <= start:
            return {}
        columns = [counter.column for counter in counters]
        # One hour before: the reading the first hour continues from; one after: whether
        # the last hour is complete.
        points = await self._async_query(columns, start - HOUR, end + HOUR, HOUR)
        first, last = int(start.timestamp()), int(end.timestamp())
        previous = await self._async_previous(columns, points, start)
        later = await self._async_later(columns, points, end)
        result: dict[str, dict[datetime, float]] = {}
        pending: dict[int, list[tuple[EnergyCounter, float]]] = {}
        for counter in counters:
            hours, resets = _hours(
                points.get(counter.column, ()),
                previous.get(counter.column),
                later.get(counter.column),
                first,
                last,
            )
            if hours:
                result[counter.series.key] = {
                    _datetime(hour): kwh * counter.kwh_per_unit for hour, kwh in hours.items()
                }
            for reset in resets:
                pending.setdefault(reset.hour, []).append((counter, reset.previous))
        await self._async_refine(pending, result)
        return result

    async def _async_previous(
        self,
        columns: list[TimeseriesColumn],
        points: Mapping[TimeseriesColumn, Points],
        start: datetime,
    ) -> dict[TimeseriesColumn, float]:
        """The last reading before ``start`` of each column that has readings from it on."""
        found: dict[TimeseriesColumn, float] = {}
        missing: list[TimeseriesColumn] = []
        edge = int(start.timestamp())
        for column in columns:
            before = [v for moment, v in points.get(column, ()) if moment < edge and v >= 0]
            if before:
                found[column] = before[-1]
            elif points.get(column):
                missing.append(column)
        if missing:
            earlier = await self._async_query(missing, start - LOOKBACK, start - HOUR, HOUR)
            for column in missing:
                readings = [value for _, value in earlier.get(column, ()) if value >= 0]
                if readings:
                    found[column] = readings[-1]
        return found

    async def _async_later(
        self,
        columns: list[TimeseriesColumn],
        points: Mapping[TimeseriesColumn, Points],
        end: datetime,
    ) -> dict[TimeseriesColumn, int]:
        """A reading after the period of each column whose readings stop inside it.

        Without one the hour of its last reading is not known to be complete, and
        the next chunk starts after it: that hour would never be read again.
        """
        edge = end + HOUR
        now = dt_util.utcnow()
        if edge >= now:
            return {}  # the present: the next hourly read asks again
        stopped = [
            column
            for column in columns
            if (found := points.get(column)) and found[-1][0] < int(end.timestamp())
        ]
        if not stopped:
            return {}
        ahead = await self._async_query(stopped, edge, min(edge + LOOKBACK, now), HOUR)
        return {column: ahead[column][0][0] for column in stopped if ahead.get(column)}

    async def _async_refine(
        self,
        pending: Mapping[int, list[tuple[EnergyCounter, float]]],
        result: dict[str, dict[datetime, float]],
    ) -> None:
        """Step through the minutes of hours in which a counter was reset."""
        for hour in sorted(pending)[:MAX_REFINED_HOURS]:
            resets = pending[hour]
            start = _datetime(hour)
            minutes = await self._async_query(
                [counter.column for counter, _ in resets], start, start + HOUR, MINUTE
            )
            for counter, previous in resets:
                readings = [value for _, value in minutes.get(counter.column, ())]
                if readings:
                    counted = increase(previous, readings)
                    result[counter.series.key][start] = counted * counter.kwh_per_unit
        if len(pending) > MAX_REFINED_HOURS:
            self._log_once.warning(
                "Enapter: counters of %s reset in %d hours of one read; "
                "those past %d count their new reading from zero",
                self._coordinator.site.name,
                len(pending),
                MAX_REFINED_HOURS,
                kind="history_resets",
            )

    async def _async_query(
        self,
        columns: Sequence[TimeseriesColumn],
        start: datetime,
        end: datetime,
        granularity: timedelta,
    ) -> dict[TimeseriesColumn, Points]:
        """Readings of many columns, MAX_COLUMNS per request."""
        points: dict[TimeseriesColumn, Points] = {}
        if end <= start:
            return points
        for offset in range(0, len(columns), MAX_COLUMNS):
            batch = columns[offset : offset + MAX_COLUMNS]
            points.update(await self._async_query_batch(batch, start, end, granularity))
        return points

    async def _async_query_batch(
        self,
        columns: Sequence[TimeseriesColumn],
        start: datetime,
        end: datetime,
        granularity: timedelta,
    ) -> dict[TimeseriesColumn, Points]:
        self.requests += 1
        try:
            answer = await self._coordinator.client.query_timeseries(
                start, end, granularity, selectors_for(columns)
            )
        except NoTelemetryFoundError:
            # The cloud has nothing for one of them (a counter that never reported):
            # halve until the others are read and only that one is left out.
            if len(columns) == 1:
                return {}
            half = len(columns) // 2
            return {
                **await self._async_query_batch(columns[:half], start, end, granularity),
                **await self._async_query_batch(columns[half:], start, end, granularity),
            }
        if answer.skipped:
            self._log_once.warning(
                "Enapter: the telemetry history of %s had %d malformed rows; they were skipped",
                self._coordinator.site.name,
                answer.skipped,
                kind="history_rows",
            )
        return {column: answer.column(column.device, column.attribute) for column in columns}
