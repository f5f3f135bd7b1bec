"""Energy statistics from the meter's own minute history, end to end against the simulator.

Every expected number comes from the simulator's own counters (``counter_at``), the
statistics from the recorder: hourly sums must equal the meter's counter differences
to the watt-hour, both directions of a net register must show within an hour, and no
hour may be counted twice, whatever stops Home Assistant or the meter in between.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
import itertools
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.egauge.history import register_key
from custom_components.iot_bridge.energy_history import statistic_id
from simulators.egauge import EgaugeSimulator
from tests.energy_statistics import recorded_sums, settle

from .conftest import serve

NOW = datetime(2026, 6, 15, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
# The last complete hour at NOW.
LAST = datetime(2026, 6, 15, 11, tzinfo=UTC)
KWH = 3_600_000
SERIAL = "G12345678"
# The simulator's power registers: Grid is net and swings between import and export
# every few minutes; Solar and House only ever rise.
POWER = ("Grid", "Solar", "House")
HALF_PAST = frozenset({30})


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """The recorder must start before Home Assistant does (see tests/conftest.py)."""


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)


@pytest.fixture
def simulator() -> EgaugeSimulator:
    # Home Assistant's frozen clock is the meter's clock too.
    return EgaugeSimulator(clock=lambda: time.time())  # noqa: PLW0108 (looked up per call)


@pytest.fixture
async def meter_url(simulator: EgaugeSimulator) -> AsyncGenerator[str]:
    server = await serve(simulator)
    yield str(server.make_url("/")).rstrip("/")
    await server.close()


def _entry(hass: HomeAssistant, url: str, days: int = 2) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="egauge12345",
        unique_id=SERIAL,
        data={
            "vendor": "egauge",
            "url": url,
            "username": "owner",
            "password": "secret",
            "verify_ssl": True,
        },
        options={"history_days": days},
    )
    entry.add_to_hass(hass)
    return entry


async def _settle(hass: HomeAssistant) -> None:
    await settle(hass)


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_setup(entry.entry_id)
    await _settle(hass)


def _key(register: str, part: str = "") -> str:
    key = register_key(SERIAL, register)
    return f"{key}_{part}" if part else key


async def _recorded(hass: HomeAssistant, key: str) -> dict[datetime, float]:
    return await recorded_sums(hass, key, NOW - timedelta(days=40))


def _counter(simulator: EgaugeSimulator, register: str, moment: datetime) -> int:
    return simulator.counter_at(simulator.register(register), moment.timestamp())


def _hour_parts(
    simulator: EgaugeSimulator, register: str, hour: datetime, lost: frozenset[int] = frozenset()
) -> tuple[int, int, int]:
    """The meter's own (net, import, export) of an hour, in Ws, from its minute counters.

    ``lost``: minutes whose rows did not arrive (the steps around them merge).
    """
    counters = [
        _counter(simulator, register, hour + timedelta(minutes=m))
        for m in range(61)
        if m not in lost
    ]
    steps = [after - before for before, after in itertools.pairwise(counters)]
    return (
        counters[-1] - counters[0],
        sum(step for step in steps if step > 0),
        -sum(step for step in steps if step < 0),
    )


def _expected(
    simulator: EgaugeSimulator,
    register: str,
    hours: list[datetime],
    part: int = 0,
    lost: frozenset[int] = frozenset(),
) -> dict[datetime, float]:
    """Running sums (kWh) over ``hours`` of net (0), import (1) or export (2)."""
    total, sums = 0, {}
    for hour in hours:
        total += _hour_parts(simulator, register, hour, lost)[part]
        sums[hour] = total / KWH
    return sums


def _hours(first: datetime, last: datetime) -> list[datetime]:
    return [first + i * HOUR for i in range(int((last - first) / HOUR) + 1)]


def _assert_sums(recorded: dict[datetime, float], expected: dict[datetime, float]) -> None:
    assert sorted(recorded) == sorted(expected)
    for hour, total in expected.items():
        # To the watt-hour, and in fact to floating point.
        assert recorded[hour] == pytest.approx(total, abs=1e-6), hour


async def _assert_all_series(
    hass: HomeAssistant, simulator: EgaugeSimulator, hours: list[datetime]
) -> None:
    for register in POWER:
        _assert_sums(await _recorded(hass, _key(register)), _expected(simulator, register, hours))
    imports = _expected(simulator, "Grid", hours, 1)
    exports = _expected(simulator, "Grid", hours, 2)
    _assert_sums(await _recorded(hass, _key("Grid", "import")), imports)
    _assert_sums(await _recorded(hass, _key("Grid", "export")), exports)
    # Registers that never ran backwards get no import/export statistics.
    assert await _recorded(hass, _key("Solar", "import")) == {}


def _history_queries(simulator: EgaugeSimulator) -> list[str]:
    """The requests of the energy history (the live sensors' gap booking reads all registers)."""
    return [q for q in simulator.register_queries if "time=" in q and "reg=none" in q]


async def test_backfill_at_set_up(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator
) -> None:
    """Two days in day chunks, in the background; every series adds up to the meter's counters."""
    entry = _entry(hass, meter_url, days=2)
    assert await hass.config_entries.async_setup(entry.entry_id)
    # The entry is usable at once; the history is read behind it.
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.async_all("sensor")
    history = entry.runtime_data.history
    assert history is not None
    await _settle(hass)

    first = LAST + HOUR - timedelta(days=2)
    hours = _hours(first, LAST)
    await _assert_all_series(hass, simulator, hours)
    # Each hour of Grid shows both directions, not the hour's net.
    for hour in hours:
        _, imported, exported = _hour_parts(simulator, "Grid", hour)
        assert imported > 0
        assert exported > 0
    # One request per day chunk, only the three power registers, minute rows.
    queries = _history_queries(simulator)
    day = int(first.timestamp())
    # (aiohttp shows the query decoded: the meter's ``+`` reads as a space)
    assert queries[0] == f"time={day}:60:{day + 86_400}&reg=none 0 1 2"
    assert 2 <= len(queries) <= 4  # a register found running backwards may add a pass
    diagnostics = history.diagnostics()
    assert diagnostics["filled_until"] == (LAST + HOUR).isoformat()
    assert diagnostics["last_error"] is None
    # Every hour of every series was written exactly once.
    assert history.hours_written == 5 * len(hours)
    # What the history showed, the live sensors learn too: Grid gets import/export sensors.
    assert entry.runtime_data.coordinator.energy.is_bidirectional("Grid")
    assert not entry.runtime_data.coordinator.energy.is_bidirectional("Solar")

    # Nothing new an hour later but that hour.
    written = history.hours_written
    async_fire_time_changed(hass, NOW.replace(hour=13, minute=7))
    await _settle(hass)
    assert history.hours_written == written


async def test_gap_with_home_assistant_stopped_is_filled_hour_by_hour(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """Six hours stopped: each hour of the gap gets its own energy, import and export both."""
    entry = _entry(hass, meter_url, days=1)
    await _set_up(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await async_wait_recording_done(hass)

    freezer.move_to(NOW + 6 * HOUR)
    await _set_up(hass, entry)
    history = entry.runtime_data.history
    assert history is not None
    hours = _hours(LAST + HOUR - timedelta(days=1), LAST + 6 * HOUR)
    await _assert_all_series(hass, simulator, hours)
    recorded_import = await _recorded(hass, _key("Grid", "import"))
    recorded_export = await _recorded(hass, _key("Grid", "export"))
    for hour in hours[-6:]:
        before = hour - HOUR
        assert recorded_import[hour] - recorded_import[before] > 0
        assert recorded_export[hour] - recorded_export[before] > 0
    # After the restart only the gap (and the re-read last hours) was written.
    assert history.hours_written == 5 * 6


async def test_gap_with_the_meter_unreachable_is_filled_when_it_is_back(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator, freezer: FrozenDateTimeFactory
) -> None:
    entry = _entry(hass, meter_url, days=1)
    await _set_up(hass, entry)
    history = entry.runtime_data.history
    assert history is not None

    simulator.fail_next_requests(1_000_000, status=503)
    for hours_later in (1, 2, 3):
        moment = NOW.replace(minute=7) + hours_later * HOUR
        freezer.move_to(moment)
        async_fire_time_changed(hass, moment)
        await _settle(hass)
    assert history.diagnostics()["last_error"] is not None
    written = history.hours_written

    simulator.fail_next_requests(0)
    moment = NOW.replace(minute=7) + 4 * HOUR
    freezer.move_to(moment)
    async_fire_time_changed(hass, moment)
    await _settle(hass)
    assert history.diagnostics()["last_error"] is None
    assert history.hours_written == written + 5 * 4
    await _assert_all_series(
        hass, simulator, _hours(LAST + HOUR - timedelta(days=1), LAST + 4 * HOUR)
    )


async def test_restart_in_the_middle_of_a_backfill(
    hass: HomeAssistant,
    meter_url: str,
    simulator: EgaugeSimulator,
    hass_storage: dict[str, Any],
) -> None:
    """Unloaded while the third day is read; set up again, it finishes without doubling."""
    entry = _entry(hass, meter_url, days=6)
    # An earlier run knew Grid runs backwards: all five series are filled from the start.
    key = f"{DOMAIN}.egauge_energy.{entry.entry_id}"
    grid = {
        "counter": simulator.counter_of("Grid"),
        "imported": 0,
        "exported": 0,
        "bidirectional": True,
        "timestamp": NOW.timestamp(),
    }
    hass_storage[key] = {"version": 1, "key": key, "data": {"Grid": grid}}
    answered = 0

    def stop_after_two_days(body: dict[str, Any]) -> dict[str, Any]:
        nonlocal answered
        ranges = body.get("ranges") or [{}]
        if len(ranges[0].get("rows", ())) > 1000:
            answered += 1
            if answered == 3:
                hass.async_create_task(hass.config_entries.async_unload(entry.entry_id))
        return body

    simulator.register_body_hook = stop_after_two_days
    assert await hass.config_entries.async_setup(entry.entry_id)
    await _settle(hass)
    assert entry.state is ConfigEntryState.NOT_LOADED
    partial = await _recorded(hass, _key("Solar"))
    assert 0 < len(partial) < 6 * 24

    simulator.register_body_hook = None
    before = len(_history_queries(simulator))
    await _set_up(hass, entry)
    await _assert_all_series(hass, simulator, _hours(LAST + HOUR - timedelta(days=6), LAST))
    # It went on where it stopped (less the hours it re-reads) instead of reading six days again.
    again = _history_queries(simulator)[before:]
    resumed_at = datetime.fromtimestamp(int(again[0].split(":")[0].removeprefix("time=")), UTC)
    assert resumed_at >= LAST + HOUR - timedelta(days=4) - 3 * HOUR
    assert len(again) < 6


async def test_meter_whose_history_starts_later_than_the_period(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator
) -> None:
    """A meter installed 20.5 hours ago: statistics start at its first complete hour."""
    simulator.history_start = (LAST - timedelta(hours=19, minutes=30)).timestamp()
    entry = _entry(hass, meter_url, days=30)
    await _set_up(hass, entry)
    hours = _hours(LAST - timedelta(hours=19), LAST)
    await _assert_all_series(hass, simulator, hours)
    history = entry.runtime_data.history
    assert history is not None
    assert history.diagnostics()["last_error"] is None


async def test_hostile_history_rows_are_harmless(
    hass: HomeAssistant,
    meter_url: str,
    simulator: EgaugeSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ranges out of order, impossible times, short rows and a 2**62 jump leave the rest intact."""
    first = LAST + HOUR - timedelta(days=1)
    jumped = first + 5 * HOUR  # Grid's counter jumps by 2**62 inside this hour and back

    def hostile(body: dict[str, Any]) -> dict[str, Any]:
        ranges = body.get("ranges")
        if not ranges or len(ranges[0]["rows"]) < 1000:
            return body
        (block,) = ranges
        newest, rows = float(block["ts"]), block["rows"]
        grid = [reg["name"] for reg in body["registers"]].index("Grid")
        for i, row in enumerate(rows):
            moment = newest - 60 * i
            if jumped.timestamp() + 600 <= moment <= jumped.timestamp() + 1200:
                row[grid] = str(int(row[grid]) + 2**62)
            if int(moment) % 3600 == 1800:  # half past: a row too short to place
                rows[i] = row[:-1]
        half = len(rows) // 2
        older = {"ts": str(newest - 60 * half), "delta": 60, "rows": rows[half:]}
        newer = {"ts": block["ts"], "delta": 60, "rows": rows[:half]}
        body["ranges"] = [
            older,
            {"ts": "0", "delta": 60, "rows": [["1", "2", "3"]] * 3},
            {"ts": "253402300800", "delta": -60, "rows": [["1", "2", "3"]]},
            {"ts": block["ts"], "delta": "x", "rows": "y"},
            newer,
        ]
        return body

    simulator.register_body_hook = hostile
    entry = _entry(hass, meter_url, days=1)
    await _set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    hours = _hours(first, LAST)
    kept = [hour for hour in hours if hour != jumped]
    # Every half-past row was too short to place: import and export of those two minutes
    # merge into one step (the net is untouched).
    for register in ("Solar", "House"):
        _assert_sums(await _recorded(hass, _key(register)), _expected(simulator, register, hours))
    # The hour with the impossible jump is left out, not booked: the sums go on without it.
    _assert_sums(await _recorded(hass, _key("Grid")), _expected(simulator, "Grid", kept))
    _assert_sums(
        await _recorded(hass, _key("Grid", "import")),
        _expected(simulator, "Grid", kept, 1, HALF_PAST),
    )
    _assert_sums(
        await _recorded(hass, _key("Grid", "export")),
        _expected(simulator, "Grid", kept, 2, HALF_PAST),
    )
    assert "refused" in caplog.text  # the impossible times are logged
    # The live sensors keep working.
    await entry.runtime_data.coordinator.async_refresh()
    assert entry.runtime_data.coordinator.last_update_success


async def test_no_history_when_the_period_is_zero(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator
) -> None:
    entry = _entry(hass, meter_url, days=0)
    await _set_up(hass, entry)
    assert await _recorded(hass, _key("Grid")) == {}
    assert _history_queries(simulator) == []


async def test_options_pick_the_period(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator
) -> None:
    """The eGauge entry offers the period as its option; a longer one is read at once."""
    entry = _entry(hass, meter_url, days=1)
    await _set_up(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "history"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"history_days": 2}
    )
    assert entry.options == {"history_days": 2}
    await _settle(hass)
    await _assert_all_series(hass, simulator, _hours(LAST + HOUR - timedelta(days=2), LAST))


def test_register_keys_are_distinct_and_stable() -> None:
    names = ["Grid", "grid", "Solar", "Solar+", "Solar-", "L1 Current", "Δ", "a_b"]
    keys = [register_key("G1", name) for name in names]
    assert len({statistic_id(key) for key in keys}) == len(names)
    assert register_key("G1", "a_b") == "egauge_G1_a_b"
    assert statistic_id(register_key("G1", "Solar+")).startswith("iot_bridge:egauge_g1_solar_")


async def test_diagnostics_show_where_the_history_stands(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    meter_url: str,
    simulator: EgaugeSimulator,
) -> None:
    """The entry's diagnostics carry the backfill's progress, without the meter's password."""
    entry = _entry(hass, meter_url, days=1)
    await _set_up(hass, entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    history = diagnostics["energy_history"]
    assert history["history_days"] == 1
    assert history["from"] == (LAST + HOUR - timedelta(days=1)).isoformat()
    assert history["filled_until"] == (LAST + HOUR).isoformat()
    assert history["series"] == 5
    assert history["hours_written"] == 5 * 24
    assert history["chunks_done"] == history["chunks_total"] >= 1
    assert history["running"] is False
    assert history["last_error"] is None
    assert "secret" not in str(diagnostics)
