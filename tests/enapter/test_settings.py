"""Commands with one argument as numbers and selects; what shows after a restart; roles."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import ATTR_ASSUMED_STATE, ATTR_ENTITY_ID, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from simulators.enapter import EnapterSimulator

from .conftest import advance

Setup = Callable[[], Awaitable[MockConfigEntry]]
RATE = "number.electrolyser_el_2_1_production_rate"
LIMIT = "number.battery_rack_charge_limit"
MODE = "select.electrolyser_el_2_1_operating_mode"
MODE_SENSOR = "sensor.electrolyser_el_2_1_operating_mode"
STATUS = "sensor.electrolyser_el_2_1_status"


def executed(sim: EnapterSimulator) -> list[tuple[str, dict[str, Any]]]:
    return [(e["request"]["name"], e["request"]["arguments"]) for e in sim.executions]


async def set_number(hass: HomeAssistant, entity_id: str, value: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {ATTR_ENTITY_ID: entity_id, "value": value}, blocking=True
    )


async def select(hass: HomeAssistant, entity_id: str, option: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: entity_id, "option": option}, blocking=True
    )


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[Any]:
    return list(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))


async def test_number_follows_its_telemetry(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry()
    state = hass.states.get(RATE)
    assert state.state == "100.0"
    assert (state.attributes["min"], state.attributes["max"]) == (60.0, 100.0)
    assert state.attributes["unit_of_measurement"] == "%"
    assert ATTR_ASSUMED_STATE not in state.attributes
    await set_number(hass, RATE, 72.5)
    assert executed(sim) == [("set_production_rate", {"rate": 72.5})]
    assert hass.states.get(RATE).state == "72.5"
    # Set elsewhere (Enapter's app): the telemetry wins.
    sim.set_value(sim.electrolyser.id, "production_rate", 90.0)
    await advance(hass, freezer)
    assert hass.states.get(RATE).state == "90.0"


async def test_number_refuses_values_outside_the_blueprint_bounds(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    await setup_entry()
    # The cloud would pass 120 % to the device: Home Assistant must not send it.
    with pytest.raises(ServiceValidationError):
        await set_number(hass, RATE, 120)
    with pytest.raises(ServiceValidationError):
        await set_number(hass, RATE, 59.9)
    assert sim.executions == []


async def test_integer_setting_without_telemetry_is_assumed_and_restored(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    entry = await setup_entry()
    state = hass.states.get(LIMIT)
    assert state.state == STATE_UNKNOWN
    assert state.attributes[ATTR_ASSUMED_STATE] is True
    assert state.attributes["step"] == 1
    await set_number(hass, LIMIT, 80)
    # An integer argument is sent as one.
    assert executed(sim) == [("set_charge_limit", {"limit": 80})]
    assert isinstance(sim.executions[0]["request"]["arguments"]["limit"], int)
    assert sim.battery.settings["limit"] == 80
    assert hass.states.get(LIMIT).state == "80.0"
    # Still shown after the next polls: nothing reports it, the last value sent stands.
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(LIMIT).state == "80.0"
    with pytest.raises(ServiceValidationError):
        await set_number(hass, LIMIT, 80.5)


async def test_last_sent_values_come_back_after_a_restart(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, lab_id: str
) -> None:
    sim.add_device(
        "valve",
        lab_id,
        name="Vent",
        manifest={
            "telemetry": {},
            "commands": {
                "open_valve": {"display_name": "Open Valve"},
                "close_valve": {"display_name": "Close Valve"},
                "set_mode": {
                    "display_name": "Set Mode",
                    "arguments": {"mode": {"type": "integer", "required": True, "enum": [1, 2, 3]}},
                },
            },
        },
    )
    # What Home Assistant stored at its last stop.
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State("switch.vent_valve", STATE_ON), {}),
            (State("select.vent_mode", "2"), {}),
            (
                State(LIMIT, "70.0"),
                {
                    "native_max_value": 100.0,
                    "native_min_value": 50.0,
                    "native_step": 1.0,
                    "native_unit_of_measurement": "%",
                    "native_value": 70.0,
                },
            ),
        ],
    )
    await setup_entry()
    assert hass.states.get(LIMIT).state == "70.0"
    valve = hass.states.get("switch.vent_valve")
    assert valve.state == STATE_ON
    assert valve.attributes[ATTR_ASSUMED_STATE] is True
    mode = hass.states.get("select.vent_mode")
    assert mode.state == "2"
    assert mode.attributes[ATTR_ASSUMED_STATE] is True
    # A numeric enum option is sent as the declared integer.
    await select(hass, "select.vent_mode", "3")
    assert executed(sim)[-1] == ("set_mode", {"mode": 3})
    assert hass.states.get("select.vent_mode").state == "3"
    # What the telemetry shows is not overridden by a restored state.
    assert hass.states.get(RATE).attributes.get(ATTR_ASSUMED_STATE) is None


async def test_select_follows_telemetry_and_shows_display_names(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    await setup_entry()
    state = hass.states.get(MODE)
    assert state.state == "eco"
    assert state.attributes["options"] == ["eco", "max_production", "follow_grid"]
    assert state.attributes["display_name"] == "Eco"
    assert state.attributes["option_names"]["follow_grid"] == "Follow Grid Signal"
    await select(hass, MODE, "max_production")
    assert executed(sim) == [("set_operating_mode", {"mode": "max_production"})]
    assert hass.states.get(MODE).state == "max_production"
    assert hass.states.get(MODE).attributes["display_name"] == "Maximum Production"
    # Enum telemetry keeps its key as the state and shows the blueprint's name beside it.
    assert hass.states.get(MODE_SENSOR).state == "max_production"
    assert hass.states.get(MODE_SENSOR).attributes["display_name"] == "Maximum Production"
    assert hass.states.get(STATUS).attributes["display_name"] == "Idle"
    with pytest.raises(ServiceValidationError):
        await select(hass, MODE, "turbo")
    assert len(sim.executions) == 1


async def test_free_text_and_multi_argument_commands_have_no_entity(
    hass: HomeAssistant, setup_entry: Setup, entity_registry: er.EntityRegistry
) -> None:
    entry = await setup_entry()
    unique_ids = [
        entity.unique_id
        for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    ]
    assert any(uid.endswith("_number_set_production_rate") for uid in unique_ids)
    # set_label takes free text, set_ramp_rates two numbers: the run_command action runs them.
    assert not [uid for uid in unique_ids if "set_label" in uid or "set_ramp_rates" in uid]


async def test_commands_above_the_role_are_disabled(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    entity_registry: er.EntityRegistry,
) -> None:
    # Installer on the electrolyser, user on the battery.
    sim.battery.authorized_role = "USER"
    await setup_entry()

    def disabled(entity_id: str) -> bool:
        entry = entity_registry.async_get(entity_id)
        assert entry is not None, entity_id
        return entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION

    assert disabled("button.electrolyser_el_2_1_factory_reset")  # vendor
    assert not disabled("button.electrolyser_el_2_1_calibrate_sensors")  # installer
    assert not disabled("button.electrolyser_el_2_1_reset_errors")  # user, the default
    assert disabled(LIMIT)  # owner
    assert not disabled("switch.battery_rack_charging")


@pytest.mark.parametrize("refusal", ["role", "token"])
async def test_a_command_the_role_may_not_run_starts_no_reauth(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, refusal: str
) -> None:
    """Whatever the 403 says, polling with the same token works: the role was refused."""
    sim.role_refusal = refusal
    sim.battery.authorized_role = "USER"
    entry = await setup_entry()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "iot_bridge",
            "run_command",
            {ATTR_ENTITY_ID: "switch.battery_rack_charging", "command": "set_charge_limit"}
            | {"arguments": {"limit": 90}},
            blocking=True,
        )
    assert err.value.translation_key == "action_forbidden"
    assert err.value.translation_placeholders == {"action": "run Set Charge Limit"}
    assert "role may not run Set Charge Limit" in str(err.value)
    assert "Re-authenticate" not in str(err.value)
    await hass.async_block_till_done()
    assert reauth_flows(hass, entry) == []
    assert entry.state.recoverable
    assert hass.states.get("switch.battery_rack_charging").state == STATE_ON


async def test_a_command_refused_because_the_token_expired_starts_reauth(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    entry = await setup_entry()
    sim.expire_token()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "button",
            "press",
            {ATTR_ENTITY_ID: "button.electrolyser_el_2_1_reset_errors"},
            blocking=True,
        )
    assert err.value.translation_key == "action_auth_failed"
    await hass.async_block_till_done()
    assert len(reauth_flows(hass, entry)) == 1
