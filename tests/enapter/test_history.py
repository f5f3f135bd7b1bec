"""Energy statistics from Enapter's telemetry history, end to end against the simulator.

Every expected number comes from the simulated device's own records
(``SimHistory.value_at``), the statistics from the recorder: each hour must be the
counter's last reading of the hour minus the one before, so the sums equal the
device's totals to the watt-hour; no hour may be written twice, whatever stops Home
Assistant or the cloud in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.enapter.history import LOOKBACK
from custom_components.iot_bridge.energy_history import EnergyHistory
from custom_components.iot_bridge.late_readings import counter_increase as increase
from simulators.enapter import TOKEN, EnapterSimulator
from simulators.enapter_history import SimHistory, history_for
from tests.energy_statistics import recorded_sums, settle

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
# The last complete hour at NOW.
LAST = datetime(2026, 6, 15, 11, tzinfo=UTC)
COUNTERS = ("import_energy", "export_energy")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """The recorder must start before Home Assistant does (see tests/conftest.py)."""


@pytest.fixture
def sim(freezer: FrozenDateTimeFactory) -> EnapterSimulator:
    freezer.move_to(NOW)
    # Home Assistant's frozen clock is the devices' clock too.
    return EnapterSimulator(page_size=2, clock=lambda: dt_util.utcnow().timestamp())


@pytest.fixture
def history(sim: EnapterSimulator) -> SimHistory:
    return history_for(sim)


@pytest.fixture
async def cloud_url(sim: EnapterSimulator) -> AsyncIterator[str]:
    server = TestServer(sim.make_app(), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


def _entry(hass: HomeAssistant, sim: EnapterSimulator, url: str, days: int) -> MockConfigEntry:
    lab = next(iter(sim.sites))
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Hydrogen Lab",
        unique_id=lab,
        data={
            "vendor": "enapter",
            "url": url,
            "api_token": TOKEN,
            "verify_ssl": True,
            "site_id": lab,
            "site_name": "Hydrogen Lab",
            "gateway": False,
        },
        options={"history_days": days},
    )
    entry.add_to_hass(hass)
    return entry


async def _settle(hass: HomeAssistant) -> None:
    await settle(hass)


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> EnergyHistory:
    assert await hass.config_entries.async_setup(entry.entry_id)
    await _settle(hass)
    energy = entry.runtime_data.history
    assert energy is not None
    return energy


def _key(device_id: str, attribute: str) -> str:
    return f"enapter_{device_id}_{attribute}"


async def _recorded(hass: HomeAssistant, key: str) -> dict[datetime, float]:
    return await recorded_sums(hass, key, NOW - timedelta(days=400))


def _last_reading(history: SimHistory, device_id: str, attribute: str, hour: datetime) -> float:
    """The device's last record in an hour (one a minute, the last at minute 59)."""
    value = history.value_at(device_id, attribute, int(hour.timestamp()) + 3540)
    assert isinstance(value, float)
    return value


def _kwh_per_hour(rows: dict[datetime, float]) -> dict[datetime, float]:
    hours = sorted(rows)
    return {hour: rows[hour] - rows.get(hour - HOUR, 0.0) for hour in hours}


def _assert_matches_device(
    rows: dict[datetime, float],
    history: SimHistory,
    device_id: str,
    attribute: str,
    first: datetime,
    last: datetime,
) -> None:
    """Every hour from first to last is there once, and is the counter's own difference."""
    hours = int((last - first) / HOUR) + 1
    assert sorted(rows) == [first + n * HOUR for n in range(hours)]
    previous = _last_reading(history, device_id, attribute, first - HOUR)
    total = 0.0
    for hour in sorted(rows):
        reading = _last_reading(history, device_id, attribute, hour)
        total += reading - previous
        assert abs(rows[hour] - total) < 0.0005, hour  # to the Wh
        previous = reading
    device_total = _last_reading(history, device_id, attribute, last) - _last_reading(
        history, device_id, attribute, first - HOUR
    )
    assert abs(rows[last] - device_total) < 0.0005


async def test_backfill_equals_the_device_counters(
    hass: HomeAssistant, sim: EnapterSimulator, history: SimHistory, cloud_url: str
) -> None:
    entry = _entry(hass, sim, cloud_url, days=3)
    energy = await _set_up(hass, entry)
    first = LAST - timedelta(days=3) + HOUR
    for attribute in COUNTERS:
        rows = await _recorded(hass, _key(sim.meter.id, attribute))
        _assert_matches_device(rows, history, sim.meter.id, attribute, first, LAST)
    # The meter's import is about 2.45 kW on average.
    kwh = _kwh_per_hour(await _recorded(hass, _key(sim.meter.id, "import_energy")))
    assert 1.0 < min(kwh.values()) < max(kwh.values()) < 4.0
    # Stored energy (the battery's remaining kWh) is no total: no statistic.
    assert await _recorded(hass, _key(sim.battery.id, "remaining_energy")) == {}
    # One request per counter-set and chunk: three days fit in one.
    assert len(history.queries) == 1
    assert {q["granularity"] for q in history.queries} == {"3600s"}
    assert energy.hours_written == 2 * 72
    diagnostics = energy.diagnostics()
    assert diagnostics["series"] == 2
    assert diagnostics["last_error"] is None


async def test_every_hour_then_written_once(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    history: SimHistory,
    cloud_url: str,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = _entry(hass, sim, cloud_url, days=1)
    energy = await _set_up(hass, entry)
    written = energy.hours_written
    assert written == 2 * 24
    # The next hours come in as the device keeps recording; Home Assistant is down for
    # three of them (no timer fires) and catches up in one go.
    for moment in (NOW.replace(minute=7) + HOUR, NOW.replace(minute=7) + 5 * HOUR):
        freezer.move_to(moment)
        history.record_until(int(moment.timestamp()))
        async_fire_time_changed(hass, moment)
        await _settle(hass)
    last = LAST + 5 * HOUR
    for attribute in COUNTERS:
        rows = await _recorded(hass, _key(sim.meter.id, attribute))
        _assert_matches_device(rows, history, sim.meter.id, attribute, LAST - 23 * HOUR, last)
    # Re-read hours that did not change are not written again.
    assert energy.hours_written == written + 2 * 5


async def test_history_that_starts_later_than_the_backfill(
    hass: HomeAssistant, sim: EnapterSimulator, history: SimHistory, cloud_url: str
) -> None:
    # The site went live 30 hours ago, 20 minutes into an hour; the backfill asks a year.
    history.start = (LAST - 29 * HOUR).timestamp() + 20 * 60
    entry = _entry(hass, sim, cloud_url, days=365)
    energy = await _set_up(hass, entry)
    for attribute in COUNTERS:
        rows = await _recorded(hass, _key(sim.meter.id, attribute))
        # The first hour with records has no reading before it: it starts the sums.
        _assert_matches_device(rows, history, sim.meter.id, attribute, LAST - 28 * HOUR, LAST)
    # Chunks before the first record are empty answers; none of them asked further back.
    assert len(history.queries) == 13 + 1  # 13 chunks of 30 days, one look back
    assert energy.hours_written == 2 * 29


async def test_restart_in_the_middle_of_a_backfill(
    hass: HomeAssistant, sim: EnapterSimulator, history: SimHistory, cloud_url: str
) -> None:
    # Two chunks (30 days and 1); the cloud fails after the first.
    history.fail_after = 1
    entry = _entry(hass, sim, cloud_url, days=31)
    energy = await _set_up(hass, entry)
    assert energy.last_error is not None
    partial = await _recorded(hass, _key(sim.meter.id, "import_energy"))
    assert len(partial) == 30 * 24
    assert energy.hours_written == 2 * len(partial)

    # Home Assistant restarts; the cloud is back.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await _settle(hass)
    history.fail_after = None
    asked = len(history.queries)
    energy = await _set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    assert energy.last_error is None
    first = LAST - timedelta(days=31) + HOUR
    for attribute in COUNTERS:
        rows = await _recorded(hass, _key(sim.meter.id, attribute))
        _assert_matches_device(rows, history, sim.meter.id, attribute, first, LAST)
    # Only what was missing was read and written (the 3 re-read hours changed nothing).
    assert energy.hours_written == 2 * (31 * 24 - len(partial))
    assert len(history.queries) - asked == 1
    resumed = datetime.fromisoformat(history.queries[asked]["from"])
    assert resumed == first + 30 * 24 * HOUR - 3 * HOUR - HOUR


async def test_a_reset_counts_the_new_reading_from_zero(
    hass: HomeAssistant, sim: EnapterSimulator, history: SimHistory, cloud_url: str
) -> None:
    # The meter is replaced at 08:25: the old one read on until 08:24, the new one
    # counts from zero.
    reset_hour = LAST - 3 * HOUR
    reset = int(reset_hour.timestamp()) + 25 * 60
    history.reset(sim.meter.id, "import_energy", reset)
    entry = _entry(hass, sim, cloud_url, days=1)
    await _set_up(hass, entry)
    rows = await _recorded(hass, _key(sim.meter.id, "import_energy"))
    kwh = _kwh_per_hour(rows)

    def reading(moment: int) -> float:
        value = history.value_at(sim.meter.id, "import_energy", moment)
        assert isinstance(value, float)
        return value

    before = _last_reading(history, sim.meter.id, "import_energy", reset_hour - HOUR)
    expected = (reading(reset - 60) - before) + reading(int(reset_hour.timestamp()) + 3540)
    assert abs(kwh[reset_hour] - expected) < 0.0005
    # About the hour's 2.45 kWh; the old meter's 15 000 kWh are not counted.
    assert 1.0 < kwh[reset_hour] < 4.0
    # The whole day equals what both meters counted.
    first = LAST - 23 * HOUR
    counted = (
        reading(reset - 60) - _last_reading(history, sim.meter.id, "import_energy", first - HOUR)
    ) + _last_reading(history, sim.meter.id, "import_energy", LAST)
    assert abs(rows[LAST] - counted) < 0.0005
    # Only that hour was read minute by minute.
    minutes = [q for q in history.queries if q["granularity"] == "60s"]
    assert [q["from"] for q in minutes] == [reset_hour.strftime("%Y-%m-%dT%H:%M:%SZ")]


async def test_units_and_counters_the_cloud_never_stored(
    hass: HomeAssistant, sim: EnapterSimulator, history: SimHistory, cloud_url: str
) -> None:
    lab = next(iter(sim.sites))
    manifest = {
        "display_name": "Heat Pump",
        "telemetry": {
            "energy_total": {"display_name": "Energy Total", "type": "float", "unit": "Wh"},
            "heat_total": {"display_name": "Heat Total", "type": "integer", "unit": "MWh"},
            "spare_total": {"display_name": "Spare Total", "type": "float", "unit": "kWh"},
        },
        "commands": {},
    }
    pump = sim.add_device("heat_pump", lab, name="Heat Pump", manifest=manifest)
    stamp = int(NOW.timestamp())
    pump.telemetry = {
        "energy_total": (stamp, 5_000_000.0),
        "heat_total": (stamp, 7),
        "spare_total": (stamp, 100.0),
    }
    history.power_kw["heat_total"] = 0.5
    history.missing.add((pump.id, "spare_total"))
    entry = _entry(hass, sim, cloud_url, days=1)
    energy = await _set_up(hass, entry)
    assert energy.last_error is None
    wh = _kwh_per_hour(await _recorded(hass, _key(pump.id, "energy_total")))
    # 1 kW on average, reported in Wh, stored in kWh.
    assert len(wh) == 24
    assert 0.4 < min(wh.values()) < max(wh.values()) < 1.6
    heat = await _recorded(hass, _key(pump.id, "heat_total"))
    _assert_matches_device(
        {hour: total * 0.001 for hour, total in heat.items()},
        history,
        pump.id,
        "heat_total",
        LAST - 23 * HOUR,
        LAST,
    )
    # The counter the cloud has nothing for is left out; the others are still read.
    assert await _recorded(hass, _key(pump.id, "spare_total")) == {}
    for attribute in COUNTERS:
        assert len(await _recorded(hass, _key(sim.meter.id, attribute))) == 24


async def test_a_device_offline_for_hours_is_filled_when_it_is_back(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    history: SimHistory,
    cloud_url: str,
    freezer: FrozenDateTimeFactory,
) -> None:
    # The meter's last record before it went offline was at 10:20.
    silent = int((LAST - HOUR).timestamp()) + 20 * 60
    for attribute in COUNTERS:
        value = history.value_at(sim.meter.id, attribute, silent)
        sim.meter.telemetry[attribute] = (silent, value)
    entry = _entry(hass, sim, cloud_url, days=1)
    energy = await _set_up(hass, entry)
    rows = await _recorded(hass, _key(sim.meter.id, "import_energy"))
    # 10:00 is not complete while the meter has no record after it.
    assert max(rows) == LAST - 2 * HOUR
    # Back at 15:07 with what it buffered meanwhile: every hour once, none rewritten.
    moment = NOW.replace(minute=7) + 3 * HOUR
    freezer.move_to(moment)
    history.record_until(int(moment.timestamp()))
    async_fire_time_changed(hass, moment)
    await _settle(hass)
    last = LAST + 3 * HOUR
    for attribute in COUNTERS:
        rows = await _recorded(hass, _key(sim.meter.id, attribute))
        _assert_matches_device(rows, history, sim.meter.id, attribute, LAST - 23 * HOUR, last)
    assert energy.hours_written == 2 * 27


async def test_a_gap_across_chunks_lands_once_where_the_device_reports_it(
    hass: HomeAssistant, sim: EnapterSimulator, history: SimHistory, cloud_url: str
) -> None:
    # 31 days are read in two chunks; the site recorded nothing for 8 hours around the
    # boundary between them (the counters kept counting meanwhile).
    first = LAST - timedelta(days=31) + HOUR
    boundary = first + 30 * 24 * HOUR
    gap = (boundary - 5 * HOUR + timedelta(minutes=10), boundary + 3 * HOUR)
    history.gaps.append((int(gap[0].timestamp()), int(gap[1].timestamp())))
    entry = _entry(hass, sim, cloud_url, days=31)
    await _set_up(hass, entry)
    rows = await _recorded(hass, _key(sim.meter.id, "import_energy"))
    silent = [boundary - 5 * HOUR + n * HOUR for n in range(1, 8)]
    assert not set(silent) & set(rows)
    # The hour the device is back in carries what it counted during the gap, read from
    # the last record before the gap (in the chunk before).
    back = boundary + 3 * HOUR
    before_gap = history.value_at(sim.meter.id, "import_energy", int(gap[0].timestamp()) - 60)
    assert isinstance(before_gap, float)
    expected = _last_reading(history, sim.meter.id, "import_energy", back) - before_gap
    assert abs(rows[back] - rows[boundary - 5 * HOUR] - expected) < 0.0005
    assert len(rows) == 31 * 24 - len(silent)
    device_total = _last_reading(history, sim.meter.id, "import_energy", LAST) - _last_reading(
        history, sim.meter.id, "import_energy", first - HOUR
    )
    assert abs(rows[LAST] - device_total) < 0.0005
    # One look back, for the chunk that starts in the gap.
    # A look ahead for the chunk that ends in the gap, a look back for the next one.
    assert [q["from"] for q in history.queries] == [
        (first - HOUR).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (boundary + HOUR).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (boundary - HOUR).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (boundary - LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]


async def test_a_longer_period_chosen_in_the_options_is_read_at_once(
    hass: HomeAssistant, sim: EnapterSimulator, history: SimHistory, cloud_url: str
) -> None:
    entry = _entry(hass, sim, cloud_url, days=1)
    energy = await _set_up(hass, entry)
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    assert flow["step_id"] == "history"
    result = await hass.config_entries.options.async_configure(flow["flow_id"], {"history_days": 2})
    assert result["type"] == "create_entry"
    await _settle(hass)
    assert entry.options["history_days"] == 2
    assert energy.days == 2
    rows = await _recorded(hass, _key(sim.meter.id, "import_energy"))
    _assert_matches_device(rows, history, sim.meter.id, "import_energy", LAST - 47 * HOUR, LAST)


@pytest.mark.parametrize(
    ("previous", "readings", "counted"),
    [
        (10.0, [11.0, 12.5], 2.5),
        # A dip of less than 10 % counts as it is (Home Assistant's total_increasing).
        (10.0, [9.5, 10.5], 0.5),
        # A fall below 90 %: a reset, the new reading counts from zero.
        (10.0, [0.25, 1.0], 1.0),
        (10.0, [8.9], 8.9),
        # A negative reading is no reading.
        (10.0, [-3.0, 11.0], 1.0),
        (10.0, [], 0.0),
    ],
)
def test_increase_follows_total_increasing(
    previous: float, readings: list[float], counted: float
) -> None:
    assert increase(previous, readings) == pytest.approx(counted)
