"""A device's own energy records as long-term statistics of the integration.

Live sensors only see the present: an hour in which Home Assistant was stopped or
the device unreachable lands in the next hour as a spike, and the months before the
integration was installed stay empty. A meter or cloud that keeps its own records
can do better: a vendor supplies an ``EnergyHistorySource`` and ``EnergyHistory``
turns its hourly energy into external statistics (``iot_bridge:<series>``, kWh,
hourly ``sum``) that the Energy dashboard offers beside the entities.

What is decided here, once for every vendor: the backfill period and where it
resumes (the recorder's last row is the truth, so a restart in the middle of a
backfill goes on where it stopped and nothing is counted twice), chunked reading
oldest first (memory is bounded by one chunk), only complete hours, a re-read of
the last hours each cycle (an hour is rewritten only when the device's data for it
changed), and progress in the log and in diagnostics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import math
import re
from typing import Any, Protocol

from homeassistant.components.recorder.models import StatisticData, StatisticMeanType
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
    statistics_during_period,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_utc_time_change
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api.errors import ApiError
from .api.log_once import LogOnce
from .compat import statistic_metadata
from .const import DOMAIN, LOGGER
from .storage import async_load_state, entry_store_key

CONF_HISTORY_DAYS = "history_days"
DEFAULT_HISTORY_DAYS = 365
MAX_HISTORY_DAYS = 3650
STORE_NAME = "energy_history"

HOUR = timedelta(hours=1)
# Hours re-read every cycle: a cloud may still receive a device's buffered data for them.
RECHECK_HOURS = 3
# An hour is complete this long after it ended: devices close their records a little late.
SETTLE = timedelta(minutes=2)
# Minute of every hour at which the newest hours are filled (after SETTLE, off the full hour).
FILL_MINUTE = 7
# A re-read hour differing by less than this (0.5 Wh) is the same hour.
SAME_KWH = 0.0005
# More than a large plant produces in an hour: a device reporting this lies.
MAX_KWH_PER_HOUR = 1_000_000.0
# Jobs queued in the recorder beyond which reading waits for it (about a chunk of series).
MAX_RECORDER_BACKLOG = 100
RECORDER_PAUSE = 0.05
# Times one fill goes back to the start for series revealed while reading.
MAX_REWINDS = 3
# Recorded sums looked back on before a re-read hour, to find the sum it continues from.
BASE_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class EnergySeries:
    """One statistic: ``key`` is stable and unique across entries, ``name`` is what users pick."""

    key: str
    name: str


# kWh of every complete UTC hour (aware datetimes at minute 0), per series key.
# Hours the device has no records for are absent, never 0.0.
type HourlyEnergy = Mapping[str, Mapping[datetime, float]]


class EnergyHistorySource(Protocol):
    """What a vendor supplies: its device's energy per hour from the device's own records."""

    # At most this span per read, a whole number of hours of at least RECHECK_HOURS.
    chunk: timedelta

    def series(self) -> Sequence[EnergySeries]:
        """Every series that exists now (may grow; a new one is filled from the start)."""

    async def async_read(self, start: datetime, end: datetime) -> HourlyEnergy:
        """Energy of the complete hours in [start, end) the device has records for."""


def statistic_id(key: str) -> str:
    """The external statistic id of a series key (``iot_bridge:<slug>``)."""
    slug = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")
    return f"{DOMAIN}:{slug or 'energy'}"


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` lies in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def history_days(options: Mapping[str, Any]) -> int:
    """The backfill period an entry's options ask for, within bounds."""
    value = options.get(CONF_HISTORY_DAYS, DEFAULT_HISTORY_DAYS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return DEFAULT_HISTORY_DAYS
    return max(0, min(MAX_HISTORY_DAYS, int(value)))


@dataclass(slots=True)
class _Progress:
    """Where one series stands: the first hour not written yet and the sum up to it."""

    next_hour: datetime
    total: float
    # Nothing recorded yet: the device's records for it may start anywhere after the start.
    empty: bool = False
    # Set while hours already written are being rewritten because the device's data changed.
    rewriting: bool = False
    # Sums written lately, by hour: the recorder imports in its own time, so what it
    # returns right after a write may not hold it yet.
    recent: dict[datetime, float] = field(default_factory=dict)

    def remember(self, hour: datetime, total: float) -> None:
        self.recent[hour] = total
        for old in [old for old in self.recent if old < hour - (RECHECK_HOURS + 1) * HOUR]:
            del self.recent[old]


@dataclass(slots=True)
class _Stored:
    """What the entry keeps between starts: the backfill start and how far a fill got."""

    start: datetime | None = None
    # The end of the last complete fill and the series it read: a series without any
    # records up to there need not be read from the start again after a restart.
    scanned: datetime | None = None
    scanned_keys: frozenset[str] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.timestamp() if self.start else None,
            "scanned": self.scanned.timestamp() if self.scanned else None,
            "series": sorted(self.scanned_keys),
        }


def _stored_hour(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if not 946_684_800 <= value <= 32_503_680_000:  # 2000 .. 3000: anything else was not ours
        return None
    return floor_hour(datetime.fromtimestamp(value, UTC))


def _restore(data: Any) -> _Stored:
    """The stored state, item by item: what is unusable is dropped."""
    if not isinstance(data, dict):
        return _Stored()
    keys = data.get("series")
    return _Stored(
        start=_stored_hour(data.get("from")),
        scanned=_stored_hour(data.get("scanned")),
        scanned_keys=frozenset(
            key for key in (keys if isinstance(keys, list) else []) if isinstance(key, str)
        ),
    )


class EnergyHistory:
    """Keeps one entry's external energy statistics filled from its device's records."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        source: EnergyHistorySource,
        days: int,
    ) -> None:
        """Prepare; nothing runs before ``async_start``."""
        self.hass = hass
        self.entry = entry
        self.source = source
        self.days = days
        self._store: Store[dict[str, Any]] = Store(
            hass, 1, entry_store_key(STORE_NAME, entry.entry_id)
        )
        self._stored = _Stored()
        self._progress: dict[str, _Progress] = {}
        self._reset_all = False
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._log_once = LogOnce(LOGGER)
        self.chunks_done = 0
        self.chunks_total = 0
        self.hours_written = 0
        self.last_error: str | None = None
        self.last_fill: datetime | None = None

    async def async_start(self) -> None:
        """Fill in the background now, then every hour, until the entry unloads."""
        if "recorder" not in self.hass.config.components:
            LOGGER.debug("%s: no recorder, so no energy history", self.entry.title)
            return
        self._stored = await async_load_state(self._store, _restore, _Stored)
        self.entry.async_on_unload(
            async_track_utc_time_change(self.hass, self._hourly, minute=FILL_MINUTE, second=0)
        )
        self.async_request_fill()

    @callback
    def _hourly(self, _now: datetime) -> None:
        self.async_request_fill()

    @callback
    def async_request_fill(self) -> None:
        """Fill now, or once more after the fill that is running."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self.entry.async_create_background_task(
            self.hass, self._async_run(), f"{DOMAIN} energy history {self.entry.title}"
        )

    @callback
    def async_set_days(self, days: int) -> None:
        """Take a new backfill period; a longer one is read at once."""
        self.days = days
        self.async_request_fill()

    async def _async_run(self) -> None:
        while True:
            self._again = False
            try:
                await self._async_fill()
                self.last_error = None
                if self._log_once.forget("fill"):
                    LOGGER.info("%s: reading the energy history again", self.entry.title)
            except ApiError as err:
                self.last_error = str(err)
                self._log_once.warning(
                    "%s: could not read the device's energy history (%s); trying again next hour",
                    self.entry.title,
                    err,
                    kind="fill",
                )
                return
            if not self._again:
                return

    def _save(self) -> None:
        self._store.async_delay_save(self._stored.as_dict, 0)

    def _backfill_start(self, end: datetime) -> datetime:
        """Where history begins: the stored start, moved earlier when the option asks for more."""
        wanted = end - timedelta(days=self.days)
        start = self._stored.start
        if start is None or wanted < start:
            if start is not None:
                # Hours before the first written one cannot be slipped under existing
                # sums: every series is written again from the new start.
                self._reset_all = True
                self._stored.scanned, self._stored.scanned_keys = None, frozenset()
            self._stored.start = start = wanted
            self._save()
        return start

    async def _async_fill(self) -> None:
        end = floor_hour(dt_util.utcnow() - SETTLE)
        start = self._backfill_start(end)
        await self._async_load_progress(start)
        known = set(self._progress)
        rewinds = 0
        position = self._read_position(start)
        if position >= end:
            return
        chunk = max(self.source.chunk, RECHECK_HOURS * HOUR)
        self.chunks_done = 0
        self.chunks_total = math.ceil((end - position) / chunk)
        if self.chunks_total > 1:
            LOGGER.info(
                "%s: reading the device's energy history from %s in %d chunks",
                self.entry.title,
                position.isoformat(),
                self.chunks_total,
            )
        while position < end:
            chunk_end = min(position + chunk, end)
            hours = await self.source.async_read(position, chunk_end)
            fresh: list[EnergySeries] = []
            for series in self.source.series():
                if series.key in known:
                    await self._async_write(series, hours.get(series.key, {}), position, chunk_end)
                else:
                    fresh.append(series)
            if fresh and rewinds >= MAX_REWINDS:
                # A source that keeps revealing series: the rest wait for the next fill.
                self._again = True
            elif fresh:
                # Series that appeared just now (a register found running backwards, say):
                # go back to where they start; the others skip the hours they have.
                rewinds += 1
                for series in fresh:
                    await self._async_load_one(series, start)
                    known.add(series.key)
                position = self._read_position(start)
                self.chunks_done += 1
                self.chunks_total += math.ceil((chunk_end - position) / chunk)
                continue
            position = chunk_end
            self.chunks_done += 1
            self._log_progress()
            await self._async_recorder_caught_up()
        for key in known:
            progress = self._progress[key]
            progress.rewriting = False
            if progress.empty:
                # Nothing recorded up to now: the next fill need not read that span again,
                # except its last hours, which a cloud may still receive late.
                progress.next_hour = max(progress.next_hour, end - RECHECK_HOURS * HOUR)
        self._stored.scanned = end - RECHECK_HOURS * HOUR
        self._stored.scanned_keys = frozenset(known)
        self._save()
        self.last_fill = dt_util.utcnow()

    async def _async_recorder_caught_up(self) -> None:
        """Wait while the recorder has much to write.

        A year read faster than it is written would pile up in the recorder's queue.
        """
        instance = get_instance(self.hass)
        while instance.backlog > MAX_RECORDER_BACKLOG:
            await instance.async_block_till_done()
            await asyncio.sleep(RECORDER_PAUSE)
        await asyncio.sleep(0)  # other work runs between the chunks of a long backfill

    def _log_progress(self) -> None:
        if self.chunks_total < 10:
            return
        step = max(1, self.chunks_total // 10)
        if self.chunks_done % step == 0 or self.chunks_done == self.chunks_total:
            LOGGER.info(
                "%s: energy history %d %% read (%d of %d chunks)",
                self.entry.title,
                100 * self.chunks_done // self.chunks_total,
                self.chunks_done,
                self.chunks_total,
            )

    async def _async_load_progress(self, start: datetime) -> None:
        reset, self._reset_all = self._reset_all, False
        for series in self.source.series():
            if reset:
                self._progress[series.key] = _Progress(start, 0.0, empty=True)
            elif series.key not in self._progress:
                await self._async_load_one(series, start)

    async def _async_load_one(self, series: EnergySeries, start: datetime) -> None:
        """Resume a series after its last recorded hour (the recorder is the truth)."""
        sid = statistic_id(series.key)
        rows = await get_instance(self.hass).async_add_executor_job(
            get_last_statistics, self.hass, 1, sid, False, {"sum"}
        )
        last = rows.get(sid)
        if last and (total := last[0].get("sum")) is not None:
            hour = datetime.fromtimestamp(last[0]["start"], UTC)
            if hour >= start:
                self._progress[series.key] = _Progress(hour + HOUR, total)
                return
        resume = start
        scanned = self._stored.scanned
        if scanned is not None and series.key in self._stored.scanned_keys:
            resume = max(start, scanned)
        self._progress[series.key] = _Progress(resume, 0.0, empty=True)

    def _read_position(self, start: datetime) -> datetime:
        """The earliest hour any series needs: new hours, or the ones re-read."""
        position: datetime | None = None
        for progress in self._progress.values():
            first = progress.next_hour
            if not progress.empty:
                first = max(start, first - RECHECK_HOURS * HOUR)
            position = first if position is None else min(position, first)
        return start if position is None else position

    async def _async_write(
        self,
        series: EnergySeries,
        hours: Mapping[datetime, float],
        start: datetime,
        end: datetime,
    ) -> None:
        progress = self._progress[series.key]
        usable = sorted(
            (hour, kwh)
            for hour, kwh in hours.items()
            if self._usable(series, hour, kwh, start, end)
        )
        recorded: _Recorded | None = None
        rows: list[StatisticData] = []
        for hour, kwh in usable:
            if hour < progress.next_hour and not progress.empty and not progress.rewriting:
                if hour < progress.next_hour - RECHECK_HOURS * HOUR:
                    continue
                if recorded is None:
                    recorded = await self._async_recorded(series, progress, hour)
                before, written = recorded.before(hour), recorded.energy(hour)
                if before is None or (written is not None and abs(written - kwh) < SAME_KWH):
                    continue
                LOGGER.info(
                    "%s: the device's energy for %s changed (%.4f kWh, was %s); rewriting",
                    series.name,
                    hour.isoformat(),
                    kwh,
                    "nothing" if written is None else f"{written:.4f} kWh",
                )
                progress.rewriting, progress.total = True, before
            progress.total += kwh
            progress.remember(hour, progress.total)
            rows.append(StatisticData(start=hour, state=progress.total, sum=progress.total))
            if hour >= progress.next_hour or progress.empty:
                progress.next_hour, progress.empty = hour + HOUR, False
            if hour + HOUR >= progress.next_hour:
                progress.rewriting = False
        if rows:
            self._add(series, rows)

    def _usable(
        self, series: EnergySeries, hour: datetime, kwh: float, start: datetime, end: datetime
    ) -> bool:
        if not start <= hour < end or hour != floor_hour(hour):
            return False
        if not math.isfinite(kwh) or abs(kwh) > MAX_KWH_PER_HOUR:
            self._log_once.warning(
                "%s: the device reports %s kWh for %s; such hours are left out",
                series.name,
                kwh,
                hour.isoformat(),
                kind="value",
                key=series.key,
            )
            return False
        return True

    async def _async_recorded(
        self, series: EnergySeries, progress: _Progress, first: datetime
    ) -> _Recorded:
        """The sums written for a series from a little before ``first`` on."""
        if progress.recent and min(progress.recent) < first:
            return _Recorded([(hour.timestamp(), total) for hour, total in progress.recent.items()])
        sid = statistic_id(series.key)
        found = await get_instance(self.hass).async_add_executor_job(
            statistics_during_period,
            self.hass,
            first - BASE_LOOKBACK,
            progress.next_hour,
            {sid},
            "hour",
            None,
            {"sum"},
        )
        return _Recorded(
            [
                (row["start"], total)
                for row in found.get(sid, [])
                if (total := row.get("sum")) is not None
            ]
        )

    def _add(self, series: EnergySeries, rows: list[StatisticData]) -> None:
        metadata = statistic_metadata(
            source=DOMAIN,
            statistic_id=statistic_id(series.key),
            name=series.name,
            unit=UnitOfEnergy.KILO_WATT_HOUR,
            unit_class="energy",
            has_sum=True,
            mean_type=StatisticMeanType.NONE,
        )
        async_add_external_statistics(self.hass, metadata, rows)
        self.hours_written += len(rows)

    def diagnostics(self) -> dict[str, Any]:
        """Where the history stands, for the entry's diagnostics."""
        filled = [progress.next_hour for progress in self._progress.values()]
        start = self._stored.start
        return {
            "history_days": self.days,
            "from": start.isoformat() if start else None,
            "series": len(self.source.series()),
            "filled_until": min(filled).isoformat() if filled else None,
            "running": self._task is not None and not self._task.done(),
            "chunks_done": self.chunks_done,
            "chunks_total": self.chunks_total,
            "hours_written": self.hours_written,
            "last_fill": self.last_fill.isoformat() if self.last_fill else None,
            "last_error": self.last_error,
        }


class _Recorded:
    """Recorded hourly sums of one series, oldest first."""

    def __init__(self, rows: list[tuple[float, float]]) -> None:
        self._rows = sorted(rows)

    def before(self, hour: datetime) -> float | None:
        """The sum of the latest recorded hour before ``hour``."""
        at = hour.timestamp()
        earlier = [total for start, total in self._rows if start < at]
        return earlier[-1] if earlier else None

    def energy(self, hour: datetime) -> float | None:
        """The energy recorded for ``hour``, None when that hour was not written."""
        at = hour.timestamp()
        total = next((total for start, total in self._rows if start == at), None)
        before = self.before(hour)
        return None if total is None or before is None else total - before
