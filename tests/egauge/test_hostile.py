"""A meter that misbehaves breaks nothing: rate limits, clocks, counters, registers, stored state.

Each test drives the simulated meter into one bad behaviour and checks the entry
end to end; ``test_hostile_meter`` runs them one after another on one entry.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.egauge import model
from custom_components.iot_bridge.egauge.coordinator import POLL_INTERVAL
from simulators.egauge import EgaugeSimulator

from .conftest import Clock

REGISTER = "/api/register"
HOUR = timedelta(hours=1)
SPREAD = timedelta(seconds=2)
# Far beyond any counter: booked, it would overflow the float totals.
HUGE = "1" + "0" * 400


def _entity_id(entity_registry: er.EntityRegistry, key: str) -> str | None:
    return entity_registry.async_get_entity_id("sensor", DOMAIN, f"G12345678_meter_{key}")


def _state(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> str:
    entity_id = _entity_id(entity_registry, key)
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _tick(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def _history_requests(simulator: EgaugeSimulator) -> int:
    return sum(query.startswith("time=") for query in simulator.register_queries)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    # Newer Home Assistant adds a debug "Full error:" traceback to a failed update; and
    # aiohttp's access log trips over the frozen clock: that is the test server, not us.
    return [
        record.getMessage()
        for record in caplog.records
        if record.exc_info and record.levelno >= logging.WARNING and record.name != "aiohttp.access"
    ]


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        # Ten years, and more than a timedelta holds: capped at an hour.
        ("315360000", HOUR),
        ("1e20", HOUR),
        # Not a usable wait at all: ignored, the normal interval applies.
        ("inf", POLL_INTERVAL),
        ("-5", POLL_INTERVAL),
        ("soon", POLL_INTERVAL),
    ],
)
async def test_retry_after_waits_at_most_an_hour_then_polls_normally(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    retry_after: str,
    wait: timedelta,
) -> None:
    await _setup(hass, config_entry)
    coordinator = config_entry.runtime_data.coordinator
    simulator.rate_limit_next(1, retry_after)
    await _tick(hass, freezer, POLL_INTERVAL)
    assert _state(hass, entity_registry, "rate_P_Grid") == STATE_UNAVAILABLE
    assert coordinator.update_interval == wait
    polls = simulator.requests_by_path[REGISTER]

    # Home Assistant moves a poll by up to a second around its due time.
    await _tick(hass, freezer, wait - SPREAD)
    assert simulator.requests_by_path[REGISTER] == polls  # still waiting
    await _tick(hass, freezer, 2 * SPREAD)
    assert simulator.requests_by_path[REGISTER] == polls + 1  # resumed by itself
    assert _state(hass, entity_registry, "rate_P_Grid") != STATE_UNAVAILABLE
    assert coordinator.update_interval == POLL_INTERVAL
    await _tick(hass, freezer, POLL_INTERVAL + SPREAD)
    assert simulator.requests_by_path[REGISTER] == polls + 2
    assert config_entry.state is ConfigEntryState.LOADED
    assert _tracebacks(caplog) == []


async def test_vanished_register_does_not_ask_for_history_on_every_poll(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    clock: Clock,
) -> None:
    await _setup(hass, config_entry)
    coordinator = config_entry.runtime_data.coordinator
    simulator.remove_register("Solar")
    # Twenty minutes of polls, each 30 s of meter time apart.
    for _ in range(40):
        clock.advance(30)
        await coordinator.async_refresh()
    assert _history_requests(simulator) == 0
    assert coordinator.last_update_success
    # A real gap (Home Assistant was stopped) is still filled from history, once.
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    clock.advance(20 * 60)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = config_entry.runtime_data.coordinator
    for _ in range(5):
        clock.advance(30)
        await coordinator.async_refresh()
    assert _history_requests(simulator) == 1


def _set_meter_time(body: dict[str, Any], value: object) -> dict[str, Any]:
    body["ts"] = value
    for block in body.get("ranges", []):
        block["ts"] = value
    return body


@pytest.mark.parametrize(
    ("meter_time", "warnings"),
    [("1e20", 1), ("99999999999", 1), ("-1", 1), ("315532800", 1), ("nan", 0)],
)
async def test_absurd_meter_time_is_unknown_and_books_no_history(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    meter_time: str,
    warnings: int,
) -> None:
    await _setup(hass, config_entry)
    coordinator = config_entry.runtime_data.coordinator
    simulator.register_body_hook = lambda body: _set_meter_time(body, meter_time)
    for _ in range(3):
        clock.advance(600)
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert coordinator.last_update_success
    assert _state(hass, entity_registry, "last_reading") == STATE_UNKNOWN
    assert float(_state(hass, entity_registry, "rate_P_Grid")) == pytest.approx(
        simulator.rate_of("Grid")
    )
    assert float(_state(hass, entity_registry, "energy_Grid")) == pytest.approx(
        simulator.counter_of("Grid") / 3_600_000
    )
    assert _history_requests(simulator) == 0
    # Once per meter, however often it repeats (no number at all is just no time).
    assert caplog.text.count("eGauge meter time refused") == warnings
    assert _tracebacks(caplog) == []


def _set_counter(body: dict[str, Any], name: str, value: str) -> dict[str, Any]:
    position = [register["name"] for register in body["registers"]].index(name)
    for block in body.get("ranges", []):
        for row in block["rows"]:
            row[position] = value
    return body


async def test_counter_beyond_the_meter_range_is_unknown(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.set_rate("Grid", -1000.0)
    await _setup(hass, config_entry)
    coordinator = config_entry.runtime_data.coordinator
    clock.advance(30)
    await coordinator.async_refresh()
    export = coordinator.energy.registers["Grid"].exported
    simulator.register_body_hook = lambda body: _set_counter(body, "Grid", HUGE)
    clock.advance(30)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert coordinator.last_update_success
    assert _state(hass, entity_registry, "energy_Grid") == STATE_UNKNOWN
    # Nothing was booked from it, and the register's totals are still shown.
    assert coordinator.energy.registers["Grid"].exported == export
    assert float(_state(hass, entity_registry, "energy_export_Grid")) == pytest.approx(
        export / 3_600_000
    )
    simulator.register_body_hook = None
    clock.advance(30)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert float(_state(hass, entity_registry, "energy_Grid")) == pytest.approx(
        simulator.counter_of("Grid") / 3_600_000
    )
    # The change since the last believable counter: both polls' worth of export.
    assert coordinator.energy.registers["Grid"].exported == pytest.approx(export + 60_000)
    assert _tracebacks(caplog) == []


async def test_registers_past_the_limit_are_ignored_with_a_repair_issue(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Scaled down: the demo meter's 28 registers and room for two more.
    monkeypatch.setattr(model, "MAX_REGISTERS", 30)
    await _setup(hass, config_entry)
    coordinator = config_entry.runtime_data.coordinator
    for index in range(5):
        simulator.add_register(f"Invented {index}")
    await coordinator.async_refresh()
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert _state(hass, entity_registry, "rate_P_Invented 1") != STATE_UNAVAILABLE
    assert _entity_id(entity_registry, "rate_P_Invented 2") is None
    assert set(coordinator.energy.registers) >= {"Invented 0", "Invented 1"}
    assert "Invented 2" not in coordinator.energy.registers
    issue_id = f"{config_entry.entry_id}_registers_limit"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "limit_reached"
    assert issue.translation_placeholders == {
        "name": config_entry.title,
        "what": "registers",
        "limit": "30",
        "refused": "3",
    }
    assert caplog.text.count("past the limit of 30") == 1
    # What existed keeps working.
    assert float(_state(hass, entity_registry, "rate_P_Grid")) == pytest.approx(
        simulator.rate_of("Grid")
    )
    # The meter drops the registers it invented: the notice goes.
    for index in range(2, 5):
        simulator.remove_register(f"Invented {index}")
    await coordinator.async_refresh()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


def _stored(entry: MockConfigEntry, data: object) -> dict[str, object]:
    key = f"{DOMAIN}.egauge_energy.{entry.entry_id}"
    return {key: {"version": 1, "key": key, "data": data}}


async def test_unusable_stored_registers_are_dropped_and_setup_goes_on(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    hass_storage: dict[str, object],
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = {"imported": 7.2e6, "exported": 3.6e6, "bidirectional": True}
    hass_storage.update(
        _stored(
            config_entry,
            {
                "Grid": {**good, "counter": simulator.counter_of("Grid") - 36_000},
                "Solar": {**good, "counter": 10**400},
                "House": {**good, "counter": "385000000000"},
                "Apparent Power": {**good, "counter": 1, "imported": float("inf")},
                "Reactive Power": {**good, "counter": 1, "exported": 10**400},
                "Phase Angle": {**good, "counter": 1, "bidirectional": "yes"},
                "Battery SoC": "garbage",
                # An impossible time only loses the time: the totals are kept.
                "Wind Speed": {**good, "counter": 1, "timestamp": 1e300},
            },
        )
    )
    await _setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    ledger = config_entry.runtime_data.coordinator.energy
    assert set(ledger.registers) >= {"Grid", "Wind Speed"}
    assert ledger.registers["Wind Speed"].timestamp is None
    assert float(_state(hass, entity_registry, "energy_import_Grid")) == pytest.approx(2.01)
    assert float(_state(hass, entity_registry, "energy_export_Grid")) == pytest.approx(1.0)
    # Dropped registers start afresh from the meter's counter.
    assert ledger.registers["Solar"].counter == simulator.counter_of("Solar")
    assert ledger.registers["Solar"].imported == 0
    assert caplog.text.count("ignoring 6 stored energy totals") == 1
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize("data", [["a", "list"], "text", 42])
async def test_stored_ledger_of_another_shape_starts_afresh(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, object],
    caplog: pytest.LogCaptureFixture,
    data: object,
) -> None:
    hass_storage.update(_stored(config_entry, data))
    await _setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    assert "Ignoring the stored state" in caplog.text
    assert "Grid" in config_entry.runtime_data.coordinator.energy.registers


async def test_hostile_meter(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
    hass_storage: dict[str, object],
    freezer: FrozenDateTimeFactory,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Everything at once, on one entry, as a broken or hostile meter would."""
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(model, "MAX_REGISTERS", 30)
    hass_storage.update(_stored(config_entry, {"Grid": {"counter": 10**400}, "Solar": "x"}))
    await _setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    coordinator = config_entry.runtime_data.coordinator

    async def poll(delta: timedelta = POLL_INTERVAL) -> None:
        clock.advance(delta.total_seconds())
        await _tick(hass, freezer, delta)

    # Ten years of Retry-After: an hour at most, then back.
    simulator.rate_limit_next(1, "315360000")
    await poll()
    await poll(HOUR)
    assert coordinator.last_update_success
    # A vanished register, invented ones, a counter beyond range and a clock from the future.
    simulator.remove_register("Solar")
    for index in range(10):
        simulator.add_register(f"Invented {index}")

    def garble(body: dict[str, Any]) -> dict[str, Any]:
        return _set_meter_time(_set_counter(body, "House", HUGE), "1e20")

    simulator.register_body_hook = garble
    history = _history_requests(simulator)
    for _ in range(20):
        await poll()
    assert coordinator.last_update_success
    assert _history_requests(simulator) == history
    assert _state(hass, entity_registry, "last_reading") == STATE_UNKNOWN
    assert _state(hass, entity_registry, "energy_House") == STATE_UNKNOWN
    assert _state(hass, entity_registry, "rate_P_Solar") == STATE_UNAVAILABLE
    assert _entity_id(entity_registry, "rate_P_Invented 9") is None
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"{config_entry.entry_id}_registers_limit")
    # The meter comes to its senses: everything it still has works again.
    simulator.register_body_hook = None
    await poll()
    assert _state(hass, entity_registry, "last_reading") != STATE_UNKNOWN
    assert float(_state(hass, entity_registry, "energy_House")) == pytest.approx(
        simulator.counter_of("House") / 3_600_000
    )
    assert _tracebacks(caplog) == []
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
