"""Commands from the manifest: buttons, switches following telemetry, optimistic switches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.enapter import EnapterSimulator

from .conftest import advance

Setup = Callable[[], Awaitable[MockConfigEntry]]
PRODUCTION = "switch.electrolyser_el_2_1_production"
CHARGING = "switch.battery_rack_charging"
RESET = "button.electrolyser_el_2_1_reset_errors"


async def call(hass: HomeAssistant, domain: str, service: str, entity_id: str) -> None:
    await hass.services.async_call(domain, service, {ATTR_ENTITY_ID: entity_id}, blocking=True)


def executed(sim: EnapterSimulator) -> list[tuple[str, str]]:
    return [(e["device_id"], e["request"]["name"]) for e in sim.executions]


async def test_start_stop_switch_follows_status(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, freezer: FrozenDateTimeFactory
) -> None:
    await setup_entry()
    assert hass.states.get(PRODUCTION).state == STATE_OFF
    await call(hass, "switch", "turn_on", PRODUCTION)
    assert executed(sim) == [(sim.electrolyser.id, "start")]
    assert hass.states.get("sensor.electrolyser_el_2_1_status").state == "steady"
    assert hass.states.get(PRODUCTION).state == STATE_ON
    # The status the device reports wins over what was asked.
    sim.set_value(sim.electrolyser.id, "status", "ramp_down")
    await advance(hass, freezer)
    assert hass.states.get(PRODUCTION).state == STATE_OFF
    await call(hass, "switch", "turn_off", PRODUCTION)
    assert executed(sim)[-1] == (sim.electrolyser.id, "stop")
    assert hass.states.get(PRODUCTION).state == STATE_OFF


async def test_enable_disable_switch_follows_boolean(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    await setup_entry()
    assert hass.states.get(CHARGING).state == STATE_ON
    await call(hass, "switch", "turn_off", CHARGING)
    assert executed(sim) == [(sim.battery.id, "disable_charging")]
    assert hass.states.get(CHARGING).state == STATE_OFF
    assert hass.states.get("binary_sensor.battery_rack_charging_enabled").state == STATE_OFF
    await call(hass, "switch", "turn_on", CHARGING)
    assert executed(sim)[-1] == (sim.battery.id, "enable_charging")
    assert hass.states.get(CHARGING).state == STATE_ON


async def test_button_runs_its_command(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    sim.set_value(sim.electrolyser.id, "has_error", True)
    await setup_entry()
    assert hass.states.get("binary_sensor.electrolyser_el_2_1_has_error").state == STATE_ON
    await call(hass, "button", "press", RESET)
    assert executed(sim) == [(sim.electrolyser.id, "reset_errors")]
    assert hass.states.get("binary_sensor.electrolyser_el_2_1_has_error").state == STATE_OFF
    # Commands that need arguments and the paired ones are not buttons.
    assert hass.states.get("button.electrolyser_el_2_1_set_production_rate") is None
    assert hass.states.get("button.electrolyser_el_2_1_start_production") is None


@pytest.mark.parametrize(
    ("outcome", "message", "key", "placeholders"),
    [
        (
            "ERROR",
            "Stack pressure too high",
            "command_failed",
            {"command": "start", "reason": "ERROR: Stack pressure too high"},
        ),
        (
            "TIMEOUT",
            None,
            "command_failed",
            {"command": "start", "reason": "TIMEOUT: the device did not answer in time"},
        ),
        (
            "UNSYNC",
            None,
            "command_failed",
            {
                "command": "start",
                "reason": "UNSYNC: the command's outcome is unknown: the device is out of sync",
            },
        ),
        (
            422,
            None,
            "command_failed",
            {"command": "start", "reason": "Simulated HTTP 422 for start. (command_failed)"},
        ),
        (
            500,
            None,
            "action_failed",
            {
                "action": "run Start Production",
                "error": "command start: HTTP 500: Simulated HTTP 500 for start. (command_failed)",
            },
        ),
        # Polling with the same token works: the role was refused, not the token.
        (403, None, "action_forbidden", {"action": "run Start Production"}),
    ],
)
async def test_failed_commands_raise_translated_errors(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    outcome: Any,
    message: str | None,
    key: str,
    placeholders: dict[str, str],
) -> None:
    await setup_entry()
    sim.set_command_outcome(outcome, message)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, "switch", "turn_on", PRODUCTION)
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == placeholders
    # The message is rendered from the translations.
    assert placeholders.get("command", placeholders.get("action", "")) in str(err.value)
    assert hass.states.get(PRODUCTION).state == STATE_OFF


async def test_command_to_offline_device_times_out(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    await setup_entry()
    sim.devices[sim.electrolyser.id].online = False
    with pytest.raises(HomeAssistantError, match="TIMEOUT"):
        await call(hass, "button", "press", RESET)


async def test_switch_without_telemetry_is_optimistic(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, lab_id: str
) -> None:
    valve = sim.add_device(
        "valve",
        lab_id,
        name="Vent",
        manifest={
            "telemetry": {"pressure": {"display_name": "Pressure", "type": "float", "unit": "kPa"}},
            "commands": {
                "open_valve": {"display_name": "Open Valve"},
                "close_valve": {"display_name": "Close Valve"},
                "pump_on": {"display_name": "Pump On"},
                "pump_off": {"display_name": "Pump Off"},
            },
        },
    )
    await setup_entry()
    assert hass.states.get("switch.vent_valve").state == STATE_UNKNOWN
    assert hass.states.get("switch.vent_pump").state == STATE_UNKNOWN
    await call(hass, "switch", "turn_on", "switch.vent_valve")
    assert executed(sim) == [(valve.id, "open_valve")]
    assert hass.states.get("switch.vent_valve").state == STATE_ON
    await call(hass, "switch", "turn_off", "switch.vent_pump")
    assert executed(sim)[-1] == (valve.id, "pump_off")
    assert hass.states.get("switch.vent_pump").state == STATE_OFF
    assert hass.states.get("switch.vent_valve").state == STATE_ON
    assert hass.states.get("sensor.vent_pressure").attributes["device_class"] == "pressure"
