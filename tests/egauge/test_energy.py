"""Never-decreasing import/export energy for net registers, across restarts."""

from __future__ import annotations

from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorStateClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.api.egauge import EgaugeReading, EgaugeRegister
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.egauge.model import EnergyLedger
from simulators.egauge import EgaugeSimulator

from .conftest import Clock

KWH = 3_600_000


def _value(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> float | None:
    entity_id = entity_registry.async_get_entity_id("sensor", DOMAIN, f"G12345678_meter_{key}")
    if entity_id is None:
        return None
    state = hass.states.get(entity_id)
    assert state is not None
    return float(state.state)


async def _poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


async def test_net_register_import_export_across_restart(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    clock: Clock,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.set_rate("Grid", 1000.0)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    clock.advance(60)
    await _poll(hass, config_entry)
    # Importing only so far: the register has not shown it can run backwards.
    assert _value(hass, entity_registry, "energy_import_Grid") is None

    simulator.set_rate("Grid", -2000.0)
    clock.advance(30)
    await _poll(hass, config_entry)
    assert _value(hass, entity_registry, "energy_import_Grid") == pytest.approx(60_000 / KWH)
    assert _value(hass, entity_registry, "energy_export_Grid") == pytest.approx(60_000 / KWH)
    export_id = entity_registry.async_get_entity_id(
        "sensor", DOMAIN, "G12345678_meter_energy_export_Grid"
    )
    assert export_id is not None
    state = hass.states.get(export_id)
    assert state is not None
    assert state.attributes[ATTR_STATE_CLASS] == SensorStateClass.TOTAL_INCREASING

    # Home Assistant stops; the meter keeps exporting; Home Assistant starts again.
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    clock.advance(45)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert _value(hass, entity_registry, "energy_import_Grid") == pytest.approx(60_000 / KWH)
    assert _value(hass, entity_registry, "energy_export_Grid") == pytest.approx(150_000 / KWH)

    simulator.set_rate("Grid", 500.0)
    clock.advance(60)
    await _poll(hass, config_entry)
    assert _value(hass, entity_registry, "energy_import_Grid") == pytest.approx(90_000 / KWH)
    assert _value(hass, entity_registry, "energy_export_Grid") == pytest.approx(150_000 / KWH)
    # The meter's own net counter is offered too, as a TOTAL that may fall.
    net = _value(hass, entity_registry, "energy_Grid")
    assert net == pytest.approx(simulator.counter_of("Grid") / KWH)


async def test_totals_continue_from_a_previous_run(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    hass_storage: dict[str, object],
    entity_registry: er.EntityRegistry,
) -> None:
    counter = simulator.counter_of("Grid")
    hass_storage[f"{DOMAIN}.egauge_energy.{config_entry.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.egauge_energy.{config_entry.entry_id}",
        "data": {
            "Grid": {
                "counter": counter - 36_000,
                "imported": 7.2e6,
                "exported": 3.6e6,
                "bidirectional": True,
            },
            "Broken": {"counter": "x"},
        },
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert _value(hass, entity_registry, "energy_import_Grid") == pytest.approx(2.01)
    assert _value(hass, entity_registry, "energy_export_Grid") == pytest.approx(1.0)


def _reading(counter: int, rate: float, type_code: str = "P") -> EgaugeReading:
    register = EgaugeRegister(idx=0, name="Grid", type_code=type_code, rate=rate, counter=counter)
    return EgaugeReading(timestamp=1_700_000_000.0, registers={"Grid": register})


def test_ledger_books_each_direction() -> None:
    ledger = EnergyLedger()
    assert ledger.update(_reading(1000, 10)) == (True, False)
    assert ledger.update(_reading(1000, 10)) == (False, False)
    assert ledger.update(_reading(1500, 10)) == (True, False)
    assert ledger.update(_reading(1200, -10)) == (True, True)
    assert ledger.import_kwh("Grid") == pytest.approx(500 / KWH)
    assert ledger.export_kwh("Grid") == pytest.approx(300 / KWH)
    assert ledger.import_kwh("Other") is None
    # Non-power registers and missing counters are not booked.
    assert ledger.update(_reading(0, 1, type_code="V")) == (False, False)
    restored = EnergyLedger.from_dict(ledger.as_dict())
    assert restored.as_dict() == ledger.as_dict()
    assert EnergyLedger.from_dict(None).registers == {}


def test_ledger_marks_negative_rate_bidirectional_even_without_counter_change() -> None:
    ledger = EnergyLedger()
    ledger.update(_reading(1000, 10))
    assert ledger.update(_reading(1000, -5)) == (True, True)
    assert ledger.is_bidirectional("Grid")


async def _restart_after(
    hass: HomeAssistant, entry: MockConfigEntry, clock: Clock, seconds: float
) -> tuple[float, float, float, float]:
    """Stop, let the meter run, start again; return import/export before and after (Ws)."""
    ledger = entry.runtime_data.coordinator.energy.registers["Grid"]
    before = (ledger.imported, ledger.exported)
    assert await hass.config_entries.async_unload(entry.entry_id)
    clock.advance(seconds)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ledger = entry.runtime_data.coordinator.energy.registers["Grid"]
    return before[0], before[1], ledger.imported, ledger.exported


async def test_gap_is_booked_from_the_meter_history(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    clock: Clock,
) -> None:
    # Grid swings between import and export every few minutes.
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    counter_before = simulator.counter_of("Grid")

    imported0, exported0, imported1, exported1 = await _restart_after(
        hass, config_entry, clock, 20 * 60
    )

    assert any(query.startswith("time=") for query in simulator.register_queries)
    # Both directions inside the gap are kept; a net booking would leave one at zero.
    assert imported1 - imported0 > 100_000
    assert exported1 - exported0 > 100_000
    net = simulator.counter_of("Grid") - counter_before
    assert (imported1 - imported0) - (exported1 - exported0) == pytest.approx(net)


async def test_gap_without_history_is_booked_as_net_change(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: EgaugeSimulator,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    counter_before = simulator.counter_of("Grid")

    def no_history(body: dict[str, object]) -> dict[str, object]:
        ranges = body.get("ranges")
        if isinstance(ranges, list) and len(ranges[0]["rows"]) > 1:
            return {"registers": body["registers"]}
        return body

    simulator.register_body_hook = no_history
    imported0, exported0, imported1, exported1 = await _restart_after(
        hass, config_entry, clock, 20 * 60
    )
    assert "booking that gap as its net change" in caplog.text
    net = simulator.counter_of("Grid") - counter_before
    assert (imported1 - imported0) - (exported1 - exported0) == pytest.approx(net)
    assert min(imported1 - imported0, exported1 - exported0) == 0
