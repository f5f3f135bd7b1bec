"""Records missed while the websocket was down: the newest is the state, once; the rest history.

The simulator keeps records a device sent while nobody listened (``add_missed``); the
catch-up after the reconnect reads them from the REST API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import StatisticData, StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iot_bridge.compat import statistic_metadata
from custom_components.iot_bridge.late_readings import COMPILE_MARGIN, LateReading
from simulators.instathings import PLUG_ID, SENSOR_ID, InstathingsSimulator
from tests.late_statistics import expected_means, hourly_rows, settle, state_changes

from .conftest import coordinator_of, wait_for
from .test_stream import drop

TEMPERATURE = "sensor.living_room_temperature"
ENERGY = "sensor.kettle_plug_energy"
HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """The recorder must start before Home Assistant does."""


@pytest.fixture
def freezer() -> FrozenDateTimeFactory:
    """Real time runs here (the websocket needs it); ``settle`` only fires timers ahead."""
    return _RealTime()


class _RealTime(FrozenDateTimeFactory):
    def __init__(self) -> None:
        """Nothing is frozen."""

    def tick(self, delta: Any = None) -> None:
        """Time goes on by itself."""


BASE = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - 4 * HOUR
# The last record before the outage, then three complete hours of records every 15
# minutes while the websocket was down, then one a minute ago (the present).
BEFORE = BASE - timedelta(minutes=30)
MISSED = [BASE + timedelta(minutes=5 + 15 * k) for k in range(12)]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def sim() -> InstathingsSimulator:
    """No recent history: each device's last record is from before the outage."""
    simulator = InstathingsSimulator(seed=1, history=0)
    for device in (SENSOR_ID, PLUG_ID):
        simulator.add_missed(device, [_ms(BEFORE)])
    return simulator


def _values(sim: InstathingsSimulator, device: str, key: str) -> list[LateReading]:
    return [
        LateReading(dt_util.utc_from_timestamp(record["ts"] / 1000), float(record["data"][key]))
        for record in sorted(sim.records[device], key=lambda record: record["ts"])
    ]


def _complete(hour: datetime) -> bool:
    return hour + HOUR <= dt_util.utcnow() - COMPILE_MARGIN


async def test_catch_up_after_a_drop_is_one_state_and_statistics(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    coordinator = coordinator_of(init_integration)
    energy_before = _values(sim, PLUG_ID, "energy")[-1].value
    # Home Assistant compiled the hour before the outage: the sum continues from it.
    async_import_statistics(
        hass,
        statistic_metadata(
            source="recorder",
            statistic_id=ENERGY,
            name=None,
            unit="kWh",
            unit_class="energy",
            has_sum=True,
            mean_type=StatisticMeanType.NONE,
        ),
        [StatisticData(start=BASE - HOUR, state=energy_before, sum=100.0)],
    )
    await async_wait_recording_done(hass)
    temperatures = state_changes(hass, TEMPERATURE)
    energies = state_changes(hass, ENERGY)

    sim.fail_next(10_000, status=503)  # down while the devices go on measuring
    await drop(sim, init_integration)
    now = dt_util.utcnow() - timedelta(minutes=1)
    for device in (SENSOR_ID, PLUG_ID):
        sim.add_missed(device, [_ms(moment) for moment in [*MISSED, now]])
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(0)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    await settle(hass, freezer)

    temperature = _values(sim, SENSOR_ID, "temperature")
    energy = _values(sim, PLUG_ID, "energy")
    assert [e.data["new_state"].state for e in temperatures] == [str(temperature[-1].value)]
    assert [e.data["new_state"].state for e in energies] == [str(energy[-1].value)]

    rows = await hourly_rows(hass, TEMPERATURE, BASE - HOUR, {"mean", "min", "max"})
    expected = expected_means(temperature[1:-1], _complete)
    assert set(rows) == set(expected)
    assert len(expected) == 3
    for hour, values in expected.items():
        assert rows[hour] == pytest.approx(values)

    sums = await hourly_rows(hass, ENERGY, BASE - HOUR, {"state", "sum"})
    assert sums[BASE - HOUR] == {"state": energy_before, "sum": 100.0}
    for hour in (BASE, BASE + HOUR, BASE + 2 * HOUR):
        last = [reading.value for reading in energy if reading.when < hour + HOUR][-1]
        assert sums[hour] == pytest.approx({"state": last, "sum": 100.0 + last - energy_before})
    assert set(sums) == {BASE - HOUR, BASE, BASE + HOUR, BASE + 2 * HOUR}


async def test_total_without_an_earlier_row_gets_no_sum(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A sum from nothing would be a lie: without a recorded hour before, none is written."""
    coordinator = coordinator_of(init_integration)
    sim.fail_next(10_000, status=503)
    await drop(sim, init_integration)
    sim.add_missed(PLUG_ID, [_ms(moment) for moment in [*MISSED, dt_util.utcnow()]])
    connects = coordinator.stream_stats["connects"]
    sim.fail_next(0)
    await wait_for(lambda: coordinator.stream_stats["connects"] > connects)
    await settle(hass, freezer)
    assert await hourly_rows(hass, ENERGY, BASE - HOUR, {"sum"}) == {}
    # The plug's measurement sensors (power, voltage) have no such need.
    assert set(await hourly_rows(hass, "sensor.kettle_plug_power", BASE - HOUR, {"mean"})) == {
        BASE,
        BASE + HOUR,
        BASE + 2 * HOUR,
    }


async def test_live_record_older_than_shown_is_history_only(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sim: InstathingsSimulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    coordinator = coordinator_of(init_integration)
    shown = hass.states.get(TEMPERATURE)
    assert shown is not None
    changes = state_changes(hass, TEMPERATURE)
    old = BASE - 2 * HOUR
    await sim.add_data(SENSOR_ID, {"temperature": 3.5}, ts=_ms(old + timedelta(minutes=7)))
    await wait_for(lambda: coordinator.stream_stats["late_values"] >= 1)
    await settle(hass, freezer)
    assert changes == []
    rows = await hourly_rows(hass, TEMPERATURE, old - HOUR, {"mean", "min", "max"})
    assert rows == {old: {"mean": 3.5, "min": 3.5, "max": 3.5}}
