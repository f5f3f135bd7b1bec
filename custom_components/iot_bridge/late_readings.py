"""Late readings: what a device measured while nobody was listening, in the long-term statistics.

A push vendor sometimes delivers readings after newer ones were shown: an Efento gateway
resends its buffer after an outage, a Netemera or Instathings catch-up fetches what the
stream missed. The newest of them becomes the state as usual (the vendor decides that);
the older ones must not: automations see the present, not a replay of the past. Where
they belong is the sensor's own long-term statistics, so the history graph over days
shows them at the hours they were measured.

What is decided here, once for every vendor (``IotBridgeCoordinator.async_record_late``
feeds it):

- only numeric sensors with a state class, enabled, recorded by the recorder, with an
  entity in the registry; only readings that are finite, aware and at most ``MAX_AGE``
  old and not in the future;
- readings are collected for ``SETTLE`` seconds first: a gateway's buffer arrives as a
  series of messages, and an hour is written once, never completed later;
- only complete hours the recorder has already had its chance at (``COMPILE_MARGIN``),
  and only hours it holds no statistics for: what Home Assistant recorded itself, and
  what this module wrote before, is never written again;
- measurement sensors get the hour's mean, min and max; totals get ``state`` and a ``sum``
  continuing from the nearest earlier recorded hour (resets of ``total_increasing`` as
  Home Assistant detects them); an hour without an earlier row to continue from is left
  out, as a sum from nothing would be a lie;
- values are converted from the vendor's unit to the unit of the sensor's statistics;
- the work is bounded (``MAX_READINGS_PER_CALL``, ``MAX_PENDING``, ``MAX_HOURS_PER_IMPORT``)
  and nothing here raises into a coordinator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
import math
from typing import Any, Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    async_import_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.components.sensor import SensorStateClass
from homeassistant.components.sensor.const import UNIT_CONVERTERS
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .api.log_once import LogOnce
from .compat import statistic_metadata
from .const import DOMAIN, LOGGER

HOUR: Final = timedelta(hours=1)
# A device's buffer or a cloud's history rarely reaches further back (Netemera's catch-up
# stops at 7 days); a "reading" older than this is a wrong clock more likely than a late
# reading. It also bounds the look-back for the sum an hour continues from.
MAX_AGE: Final = timedelta(days=30)
# The recorder compiles an hour a few seconds after it ended (its 5-minute tick), or when
# it starts again after a stop; an hour is left to it for this long, so that what it
# compiles from live states is never overwritten by an import racing with it.
COMPILE_MARGIN: Final = timedelta(minutes=15)
# A gateway resends its buffer as a series of messages in quick succession: readings are
# collected this long before their hours are written, so one hour is not written from
# the first message's part of it and then refused the rest.
SETTLE: Final = timedelta(seconds=30)
# One call takes at most this many readings (a month of 5-minute readings is 8,640): a
# message that claims millions cannot keep the event loop busy.
MAX_READINGS_PER_CALL: Final = 10_000
# Readings waiting for one coordinator's next write, all sensors together (a few MB).
MAX_PENDING: Final = 100_000
# Rows handed to the recorder in one import job (a week of hours); more are split.
MAX_HOURS_PER_IMPORT: Final = 168
# Home Assistant's own rule: a total_increasing sensor that drops by more than 10 % was
# reset (see its sensor recorder); a smaller dip is a glitch counted as a decrease.
RESET_RATIO: Final = 0.9

_SOURCE: Final = "recorder"
_MEASUREMENT_CLASSES: Final = frozenset({SensorStateClass.MEASUREMENT})
_TOTAL_CLASSES: Final = frozenset({SensorStateClass.TOTAL, SensorStateClass.TOTAL_INCREASING})


@dataclass(frozen=True, slots=True)
class LateReading:
    """One value of one sensor, at the moment the device measured it (aware, UTC)."""

    when: datetime
    value: float


@dataclass(frozen=True, slots=True)
class HourMean:
    """A measurement sensor's hour: the mean, min and max of its readings."""

    start: datetime
    mean: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class HourTotal:
    """A total's hour: its last reading (``state``) and the running ``sum`` at the hour's end."""

    start: datetime
    state: float
    sum: float


# --- the arithmetic (plain, property-tested) -----------------------------------------


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour a moment falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def usable(reading: LateReading, now: datetime) -> bool:
    """Whether a reading can be real: a finite number, an aware time within ``MAX_AGE``."""
    when = reading.when
    return (
        math.isfinite(reading.value)
        and when.tzinfo is not None
        and when.utcoffset() is not None
        and now - MAX_AGE <= when <= now
    )


def complete_hours(
    readings: Iterable[LateReading], now: datetime
) -> dict[datetime, list[LateReading]]:
    """Usable readings by UTC hour, oldest first, for hours the recorder is done with.

    Within an hour the readings are in time order; a repeated time keeps the last value.
    """
    last_hour_end = now - COMPILE_MARGIN
    by_time: dict[datetime, float] = {}
    for reading in readings:
        if usable(reading, now) and hour_of(reading.when) + HOUR <= last_hour_end:
            by_time[reading.when.astimezone(UTC)] = reading.value
    hours: dict[datetime, list[LateReading]] = {}
    for when in sorted(by_time):
        hours.setdefault(hour_of(when), []).append(LateReading(when, by_time[when]))
    return hours


def hourly_means(hours: Mapping[datetime, Sequence[LateReading]]) -> list[HourMean]:
    """The mean, min and max of each hour's readings.

    The mean is the plain mean of the samples: a device measuring at a steady interval
    weighs each sample alike, as Home Assistant's time-weighted mean would.
    """
    result: list[HourMean] = []
    for start in sorted(hours):
        values = [reading.value for reading in hours[start]]
        if values:
            result.append(
                HourMean(start, math.fsum(values) / len(values), min(values), max(values))
            )
    return result


@dataclass(frozen=True, slots=True)
class RecordedHour:
    """An hour the recorder holds: its ``state`` and ``sum`` (None for a mean-only row)."""

    start: datetime
    state: float | None
    sum: float | None


def hourly_totals(
    hours: Mapping[datetime, Sequence[LateReading]],
    recorded: Iterable[RecordedHour],
    *,
    increasing: bool,
) -> list[HourTotal]:
    """Rows for the hours not recorded, each continuing the sum of the row before it.

    The row before may be one the recorder holds or one computed here; an hour with no
    earlier row holding a state and a sum is left out (and so are the hours after it
    until a recorded one). For a ``total_increasing`` sensor a drop of more than 10 %
    starts a new cycle counted from zero, and negative readings are skipped, as in Home
    Assistant's own compiler.
    """
    held = {row.start: row for row in recorded}
    base: tuple[float, float] | None = None
    result: list[HourTotal] = []
    for start in sorted(held.keys() | hours.keys()):
        row = held.get(start)
        if row is not None:
            base = (row.state, row.sum) if row.state is not None and row.sum is not None else None
            continue
        if base is None:
            continue
        state, total = base
        for reading in hours[start]:
            value = reading.value
            if increasing and value < 0:
                continue
            total += counter_increase(state, (value,)) if increasing else value - state
            state = value
        if math.isfinite(total):
            base = (state, total)
            result.append(HourTotal(start, state, total))
        else:
            base = None
    return result


# --- what the recorder holds ---------------------------------------------------------


@dataclass(slots=True)
class _Recorded:
    metadata: StatisticMetaData | None
    hours: list[RecordedHour]


def _read_recorded(
    hass: HomeAssistant, statistic_id: str, start: datetime, end: datetime
) -> _Recorded:
    """The sensor's statistics metadata and hourly rows in [start, end) (recorder thread)."""
    found = get_metadata(hass, statistic_ids={statistic_id}).get(statistic_id)
    rows = statistics_during_period(
        hass, start, end, {statistic_id}, "hour", None, {"state", "sum", "mean"}
    ).get(statistic_id, [])
    hours = [
        RecordedHour(dt_util.utc_from_timestamp(row["start"]), row.get("state"), row.get("sum"))
        for row in rows
    ]
    return _Recorded(found[1] if found is not None else None, hours)


@dataclass(slots=True)
class _Written:
    """What this module imported, per statistic id: hours the recorder may not have committed."""

    hours: dict[str, dict[datetime, RecordedHour]] = field(default_factory=dict)

    def remember(self, statistic_id: str, rows: Iterable[RecordedHour], now: datetime) -> None:
        held = self.hours.setdefault(statistic_id, {})
        for row in rows:
            held[row.start] = row
        oldest = now - 2 * MAX_AGE
        for start in [start for start in held if start < oldest]:
            del held[start]

    def of(self, statistic_id: str) -> dict[datetime, RecordedHour]:
        return self.hours.get(statistic_id, {})


_WRITTEN: HassKey[_Written] = HassKey(f"{DOMAIN}_late_readings")


# --- the writer of one coordinator -----------------------------------------------------


@dataclass(slots=True)
class _Pending:
    unit: str | None
    readings: list[LateReading] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Sensor:
    entity_id: str
    state_class: SensorStateClass
    device_class: str | None
    unit: str | None


class LateStatistics:
    """Collects one entry's late readings and writes them as statistics of their sensors."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Collect for ``entry``; writing stops when it unloads."""
        self._hass = hass
        self._entry = entry
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._count = 0
        self._timer: CALLBACK_TYPE | None = None
        self._log_once = LogOnce(LOGGER)
        self._failed_logged = False
        self._lock = asyncio.Lock()
        entry.async_on_unload(self._async_stop)

    @callback
    def async_add(
        self,
        device_key: str,
        description_key: str,
        readings: Iterable[LateReading],
        unit: str | None,
    ) -> None:
        """Queue readings of one sensor; they are written ``SETTLE`` seconds from the first."""
        if "recorder" not in self._hass.config.components:
            LOGGER.debug("No recorder: late readings of %s are not kept", description_key)
            return
        pending = self._pending.setdefault((device_key, description_key), _Pending(unit))
        pending.unit = unit
        taken = list(islice(readings, MAX_READINGS_PER_CALL + 1))
        room = max(0, min(MAX_READINGS_PER_CALL, MAX_PENDING - self._count))
        if len(taken) > room:
            taken = taken[:room]
            self._log_once.warning(
                "%s sent more late readings at once than are kept (%d a sensor, %d in all);"
                " the rest are not written to the statistics",
                self._entry.title,
                MAX_READINGS_PER_CALL,
                MAX_PENDING,
                kind="late_readings_capped",
            )
        pending.readings.extend(taken)
        self._count += len(taken)
        if self._timer is None and self._count:
            self._timer = async_call_later(self._hass, SETTLE, self._async_due)

    @callback
    def _async_due(self, _now: datetime) -> None:
        self._timer = None
        pending, self._pending, self._count = self._pending, {}, 0
        # Tracked, not in the background: short (a few queries), and an unload waits for it.
        self._entry.async_create_task(
            self._hass, self._async_write(pending), f"{DOMAIN} late readings"
        )

    @callback
    def _async_stop(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None
        if self._count:
            LOGGER.debug(
                "%s unloaded: %d late readings not written", self._entry.title, self._count
            )
        self._pending.clear()
        self._count = 0

    async def _async_write(self, pending: Mapping[tuple[str, str], _Pending]) -> None:
        written = self._hass.data.setdefault(_WRITTEN, _Written())
        # One write at a time: a second one could read an hour before the first wrote it.
        async with self._lock:
            for (device_key, description_key), item in pending.items():
                try:
                    await self._async_write_sensor(written, device_key, description_key, item)
                except Exception:  # noqa: BLE001 - statistics must never cost the entry its data
                    self._log_failure(description_key)

    def _log_failure(self, description_key: str) -> None:
        """A bug or a recorder error: its traceback once, then debug lines."""
        if self._failed_logged:
            LOGGER.debug("Late readings of %s not written", description_key, exc_info=True)
            return
        self._failed_logged = True
        LOGGER.exception(
            "%s: could not write late readings of %s to the statistics",
            self._entry.title,
            description_key,
        )

    def _sensor(self, device_key: str, description_key: str) -> _Sensor | None:
        """The sensor's registry entry, if its statistics may take late readings."""
        if self._entry.state is not ConfigEntryState.LOADED:
            return None
        entry = self._entry
        base: str = entry.runtime_data.vendor.unique_id_base(entry)
        registry = er.async_get(self._hass)
        entity_id = registry.async_get_entity_id(
            Platform.SENSOR, DOMAIN, f"{base}_{device_key}_{description_key}"
        )
        registered = registry.async_get(entity_id) if entity_id is not None else None
        if registered is None or registered.disabled:
            return None
        capabilities = registered.capabilities or {}
        try:
            state_class = SensorStateClass(str(capabilities.get("state_class")))
        except ValueError:
            return None
        if state_class not in _MEASUREMENT_CLASSES | _TOTAL_CLASSES:
            return None
        recorder = get_instance(self._hass)
        if recorder.entity_filter is not None and not recorder.entity_filter(registered.entity_id):
            return None
        return _Sensor(
            registered.entity_id,
            state_class,
            registered.device_class or registered.original_device_class,
            registered.unit_of_measurement,
        )

    async def _async_write_sensor(
        self, written: _Written, device_key: str, description_key: str, item: _Pending
    ) -> None:
        sensor = self._sensor(device_key, description_key)
        if sensor is None:
            LOGGER.debug(
                "Late readings of %s %s: no enabled, recorded sensor with a state class",
                device_key,
                description_key,
            )
            return
        now = dt_util.utcnow()
        hours = complete_hours(item.readings, now)
        if not hours:
            return
        first, last = min(hours), max(hours)
        recorded = await get_instance(self._hass).async_add_executor_job(
            _read_recorded, self._hass, sensor.entity_id, first - MAX_AGE, last + HOUR
        )
        metadata = recorded.metadata or _new_metadata(sensor)
        convert = _converter(item.unit, metadata["unit_of_measurement"], sensor.device_class)
        if convert is None:
            LOGGER.debug(
                "Late readings of %s are in %s, its statistics in %s: not written",
                sensor.entity_id,
                item.unit,
                metadata["unit_of_measurement"],
            )
            return
        held = {row.start: row for row in recorded.hours} | written.of(sensor.entity_id)
        fresh = {
            start: [LateReading(r.when, convert(r.value)) for r in readings]
            for start, readings in hours.items()
            if start not in held
        }
        rows, remembered = _rows(sensor, metadata, fresh, held.values())
        if not rows:
            return
        for chunk in range(0, len(rows), MAX_HOURS_PER_IMPORT):
            async_import_statistics(
                self._hass, metadata, rows[chunk : chunk + MAX_HOURS_PER_IMPORT]
            )
        written.remember(sensor.entity_id, remembered, now)
        LOGGER.debug("Wrote %d hour(s) of late readings of %s", len(rows), sensor.entity_id)


def _rows(
    sensor: _Sensor,
    metadata: StatisticMetaData,
    hours: Mapping[datetime, Sequence[LateReading]],
    held: Iterable[RecordedHour],
) -> tuple[list[StatisticData], list[RecordedHour]]:
    """The rows to import and what to remember of them; none when the metadata disagrees."""
    if sensor.state_class in _TOTAL_CLASSES:
        if not metadata["has_sum"]:
            return [], []
        totals = hourly_totals(
            hours, held, increasing=sensor.state_class is SensorStateClass.TOTAL_INCREASING
        )
        return (
            [StatisticData(start=row.start, state=row.state, sum=row.sum) for row in totals],
            [RecordedHour(row.start, row.state, row.sum) for row in totals],
        )
    if metadata.get("mean_type") != StatisticMeanType.ARITHMETIC:
        return [], []
    means = hourly_means(hours)
    return (
        [StatisticData(start=row.start, mean=row.mean, min=row.min, max=row.max) for row in means],
        [RecordedHour(row.start, None, None) for row in means],
    )


def _new_metadata(sensor: _Sensor) -> StatisticMetaData:
    """Metadata as Home Assistant's sensor recorder would create it for this sensor."""
    total = sensor.state_class in _TOTAL_CLASSES
    return statistic_metadata(
        source=_SOURCE,
        statistic_id=sensor.entity_id,
        name=None,
        unit=sensor.unit,
        unit_class=_unit_class(sensor.device_class, sensor.unit),
        has_sum=total,
        mean_type=StatisticMeanType.NONE if total else StatisticMeanType.ARITHMETIC,
    )


def _unit_class(device_class: str | None, unit: str | None) -> str | None:
    """The unit class Home Assistant gives a sensor's statistics (its sensor recorder's rule)."""
    by_device = UNIT_CONVERTERS.get(device_class) if device_class else None
    if by_device is not None and unit in by_device.VALID_UNITS:
        return by_device.UNIT_CLASS
    by_unit = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
    return by_unit.UNIT_CLASS if by_unit is not None else None


def _converter(
    unit: str | None, target: str | None, device_class: str | None
) -> Callable[[float], float] | None:
    """From the vendor's unit to the statistics' unit; None when there is no way."""
    if unit == target:
        return float
    candidates = [UNIT_CONVERTERS.get(device_class) if device_class else None]
    candidates.append(STATISTIC_UNIT_TO_UNIT_CONVERTER.get(target))
    for converter in candidates:
        if converter is not None and {unit, target} <= converter.VALID_UNITS:
            return converter.converter_factory(unit, target)
    return None


def counter_increase(previous: float, readings: Iterable[float]) -> float:
    """What a total_increasing counter counted from ``previous`` through ``readings``.

    Home Assistant's own rule: a fall below ``RESET_RATIO`` of the value before is a
    reset (the new value counts from zero); a smaller dip counts as a decrease; a
    negative value is not a reading.
    """
    total = 0.0
    current = previous
    for reading in readings:
        if reading < 0:
            continue
        total += reading if reading < RESET_RATIO * current else reading - current
        current = reading
    return total
