"""eGauge entities: one poll per update, every register type, energy, availability."""

from __future__ import annotations

import logging

from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorDeviceClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_bridge.const import DOMAIN
from simulators.egauge import EgaugeSimulator
from tests.devices import find_device

from .conftest import Clock


def _entity_id(entity_registry: er.EntityRegistry, key: str) -> str:
    entity_id = entity_registry.async_get_entity_id("sensor", DOMAIN, f"G12345678_meter_{key}")
    assert entity_id is not None, key
    return entity_id


def _state(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> str:
    state = hass.states.get(_entity_id(entity_registry, key))
    assert state is not None
    return state.state


async def _poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_entities_snapshot(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    config_entry: MockConfigEntry,
) -> None:
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_device(hass: HomeAssistant, device_registry: dr.DeviceRegistry) -> None:
    device = find_device(hass, (DOMAIN, "egauge_G12345678"))
    assert device is not None
    assert device.name == "egauge12345"
    assert device.model == "EG4030"
    assert device.serial_number == "G12345678"
    assert device.sw_version == "4.6.2"
    assert device.manufacturer == "eGauge Systems"


@pytest.mark.usefixtures("init_integration")
async def test_values_match_the_meter(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, simulator: EgaugeSimulator
) -> None:
    rate = simulator.rate_of("Solar")
    assert float(_state(hass, entity_registry, "rate_P_Solar")) == pytest.approx(rate)
    counter = simulator.counter_of("Solar")
    energy = float(_state(hass, entity_registry, "energy_Solar"))
    assert energy == pytest.approx(counter / 3_600_000)
    voltage = float(_state(hass, entity_registry, "rate_V_L1 Voltage"))
    assert voltage == pytest.approx(simulator.rate_of("L1 Voltage"), abs=1e-6)


@pytest.mark.parametrize(
    ("key", "device_class", "unit"),
    [
        ("rate_P_Grid", SensorDeviceClass.POWER, "W"),
        ("rate_S_Apparent Power", SensorDeviceClass.APPARENT_POWER, "VA"),
        ("rate_var_Reactive Power", SensorDeviceClass.REACTIVE_POWER, "var"),
        ("rate_V_L1 Voltage", SensorDeviceClass.VOLTAGE, "V"),
        ("rate_I_L1 Current", SensorDeviceClass.CURRENT, "A"),
        ("rate_F_Line Frequency", SensorDeviceClass.FREQUENCY, "Hz"),
        ("rate_T_Outdoor Temperature", SensorDeviceClass.TEMPERATURE, "°C"),
        ("rate_h_Outdoor Humidity", SensorDeviceClass.HUMIDITY, "%"),
        ("rate_Pa_Air Pressure", SensorDeviceClass.PRESSURE, "Pa"),
        ("rate_Ee_Irradiance", SensorDeviceClass.IRRADIANCE, "W/m²"),
        ("rate_v_Wind Speed", SensorDeviceClass.SPEED, "m/s"),
        ("rate_m_Tank Mass", SensorDeviceClass.WEIGHT, "g"),
        ("rate_Qv_Water Flow", SensorDeviceClass.VOLUME_FLOW_RATE, "m³/h"),
        ("rate_ppm_CO2", None, "ppm"),
        ("rate_%_Battery SoC", None, "%"),
        ("rate_THD_L1 THD", None, "%"),
        ("rate_a_Phase Angle", None, "°"),
        ("rate_Q_Gas Flow", None, "g/s"),
        ("rate_Qe_Battery Charge", None, "Ah"),
        ("rate_R_Ground Resistance", None, "Ω"),
        ("rate_aq_Air Quality", None, None),
        ("rate_$_Energy Cost", None, None),
        ("rate_#_Occupancy", None, None),
        ("rate_#3_Set Point", None, None),
        ("rate_d_Relay State", None, None),
        ("rate_Z_Mystery Sensor", None, None),
        ("energy_Grid", SensorDeviceClass.ENERGY, "kWh"),
    ],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_every_register_type(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    key: str,
    device_class: SensorDeviceClass | None,
    unit: str | None,
) -> None:
    state = hass.states.get(_entity_id(entity_registry, key))
    assert state is not None
    assert state.attributes.get(ATTR_DEVICE_CLASS) == device_class
    assert state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == unit
    assert state.attributes.get(ATTR_STATE_CLASS) is not None
    float(state.state)


@pytest.mark.usefixtures("init_integration")
async def test_uncommon_registers_start_disabled(entity_registry: er.EntityRegistry) -> None:
    assert entity_registry.async_get(_entity_id(entity_registry, "rate_THD_L1 THD")).disabled_by
    assert entity_registry.async_get(
        _entity_id(entity_registry, "rate_Z_Mystery Sensor")
    ).disabled_by
    assert not entity_registry.async_get(_entity_id(entity_registry, "rate_P_Grid")).disabled_by


async def test_one_request_per_poll_and_three_around_token_expiry(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: EgaugeSimulator
) -> None:
    simulator.requests_by_path.clear()
    await _poll(hass, init_integration)
    assert simulator.requests_by_path == {"/api/register": 1}

    simulator.requests_by_path.clear()
    simulator.revoke_all_tokens()
    await _poll(hass, init_integration)
    # 401 carrying the challenge, one login, one retry: no separate challenge fetch.
    assert simulator.requests_by_path == {"/api/register": 2, "/api/auth/login": 1}
    assert init_integration.runtime_data.coordinator.last_update_success


async def test_token_expiry_by_time(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: EgaugeSimulator,
    clock: Clock,
) -> None:
    clock.advance(simulator.token_lifetime + 1)
    simulator.requests_by_path.clear()
    await _poll(hass, init_integration)
    assert simulator.requests_by_path["/api/auth/login"] == 1
    assert init_integration.runtime_data.coordinator.last_update_success


async def test_unreachable_meter_goes_unavailable_and_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    simulator.fail_next_requests(2, status=500)
    await _poll(hass, init_integration)
    await _poll(hass, init_integration)
    assert _state(hass, entity_registry, "rate_P_Grid") == STATE_UNAVAILABLE
    assert caplog.text.count("Error fetching") == 1

    await _poll(hass, init_integration)
    assert _state(hass, entity_registry, "rate_P_Grid") != STATE_UNAVAILABLE
    assert caplog.text.count("recovered") == 1


async def test_malformed_json_makes_entities_unavailable(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.malformed_next = 1
    await _poll(hass, init_integration)
    assert _state(hass, entity_registry, "rate_P_Grid") == STATE_UNAVAILABLE
    await _poll(hass, init_integration)
    assert _state(hass, entity_registry, "rate_P_Grid") != STATE_UNAVAILABLE


async def test_bad_register_value_is_unknown_others_fine(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def garble(body: dict[str, object]) -> dict[str, object]:
        registers = body["registers"]
        assert isinstance(registers, list)
        for register in registers:
            if register["name"] == "Solar":
                register["rate"] = "not a number"
        return body

    simulator.register_body_hook = garble
    await _poll(hass, init_integration)
    await _poll(hass, init_integration)
    assert _state(hass, entity_registry, "rate_P_Solar") == "unknown"
    assert _state(hass, entity_registry, "rate_P_Grid") not in ("unknown", STATE_UNAVAILABLE)
    assert caplog.text.count("register Solar came without a usable value") == 1


async def test_register_that_disappears_or_changes_type(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: EgaugeSimulator,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.remove_register("Solar")
    simulator.set_type("Outdoor Temperature", "h")
    await _poll(hass, init_integration)

    assert _state(hass, entity_registry, "rate_P_Solar") == STATE_UNAVAILABLE
    assert _state(hass, entity_registry, "energy_Solar") == STATE_UNAVAILABLE
    assert _state(hass, entity_registry, "rate_T_Outdoor Temperature") == STATE_UNAVAILABLE
    # The same register as its new type is a new entity with the right unit.
    humidity = hass.states.get(_entity_id(entity_registry, "rate_h_Outdoor Temperature"))
    assert humidity is not None
    assert humidity.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.HUMIDITY
    assert _state(hass, entity_registry, "rate_P_Grid") != STATE_UNAVAILABLE


async def test_first_poll_failure_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry, simulator: EgaugeSimulator
) -> None:
    # Login and identity work; only the registers fail.
    simulator.register_body_hook = lambda body: {"nothing": "here"}
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_unload_saves_ledger_and_logs_out(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: EgaugeSimulator,
    hass_storage: dict[str, object],
) -> None:
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert simulator.requests_by_path["/api/auth/logout"] >= 1
    assert f"{DOMAIN}.egauge_energy.{init_integration.entry_id}" in hass_storage
