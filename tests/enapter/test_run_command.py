"""The ``iot_bridge.run_command`` action: any command, arguments checked before sending."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.const import ATTR_DEVICE_ID, ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from simulators.enapter import EnapterSimulator
from tests.devices import find_device

Setup = Callable[[], Awaitable[MockConfigEntry]]


def electrolyser_device(hass: HomeAssistant, sim: EnapterSimulator) -> str:
    device = find_device(hass, (DOMAIN, f"enapter_{sim.electrolyser.id}"))
    assert device is not None
    return device.id


async def run(hass: HomeAssistant, data: dict[str, Any], *, response: bool = False) -> Any:
    return await hass.services.async_call(
        DOMAIN, "run_command", data, blocking=True, return_response=response
    )


async def test_runs_a_command_with_several_arguments(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    await setup_entry()
    device_id = electrolyser_device(hass, sim)
    answer = await run(
        hass,
        {
            ATTR_DEVICE_ID: device_id,
            "command": "set_ramp_rates",
            "arguments": {"ramp_up": 5, "ramp_down": 12.5, "hold_pressure": True},
        },
        response=True,
    )
    assert answer == {"devices": {device_id: {"state": "SUCCESS", "payload": {}}}}
    request = sim.executions[-1]["request"]
    assert request["name"] == "set_ramp_rates"
    # A float argument given as 5 is sent as the float it is declared as.
    assert request["arguments"] == {"ramp_up": 5.0, "ramp_down": 12.5, "hold_pressure": True}
    assert sim.electrolyser.settings["ramp_down"] == 12.5
    # Free text, through an entity of the device; optional arguments may be left out.
    await run(
        hass,
        {
            ATTR_ENTITY_ID: "sensor.electrolyser_el_2_1_status",
            "command": "set_label",
            "arguments": {"label": "Stack B"},
        },
    )
    assert sim.electrolyser.settings["label"] == "Stack B"
    # A command without arguments needs none.
    await run(hass, {ATTR_DEVICE_ID: device_id, "command": "start"})
    assert sim.executions[-1]["request"] == {
        "name": "start",
        "arguments": {},
        "manifest_name": "start",
    }


@pytest.mark.parametrize(
    ("command", "arguments", "key", "placeholders"),
    [
        (
            "set_ramp_rates",
            {"ramp_up": 5},
            "argument_missing",
            {"command": "Set Ramp Rates", "argument": "ramp_down", "expected": "-"},
        ),
        (
            "set_ramp_rates",
            {"ramp_up": 5, "ramp_down": 60},
            "argument_max",
            {"command": "Set Ramp Rates", "argument": "ramp_down", "expected": "50"},
        ),
        (
            "set_ramp_rates",
            {"ramp_up": 0.5, "ramp_down": 6},
            "argument_min",
            {"command": "Set Ramp Rates", "argument": "ramp_up", "expected": "1"},
        ),
        (
            "set_ramp_rates",
            {"ramp_up": "fast", "ramp_down": 6},
            "argument_type",
            {"command": "Set Ramp Rates", "argument": "ramp_up", "expected": "float"},
        ),
        (
            "set_ramp_rates",
            {"ramp_up": 5, "ramp_down": 6, "hold_pressure": "yes"},
            "argument_type",
            {"command": "Set Ramp Rates", "argument": "hold_pressure", "expected": "boolean"},
        ),
        (
            "set_ramp_rates",
            {"ramp_up": 5, "ramp_down": 6, "turbo": True},
            "argument_unknown",
            {
                "command": "Set Ramp Rates",
                "argument": "turbo",
                "expected": "ramp_up, ramp_down, hold_pressure",
            },
        ),
        (
            "set_operating_mode",
            {"mode": "turbo"},
            "argument_option",
            {
                "command": "Set Operating Mode",
                "argument": "mode",
                "expected": "eco, max_production, follow_grid",
            },
        ),
        (
            "set_production_rate",
            {"rate": float("nan")},
            "argument_type",
            {"command": "Set Production Rate", "argument": "rate", "expected": "float"},
        ),
        (
            "self_destruct",
            {},
            "unknown_command",
            {"command": "self_destruct", "device": "Electrolyser EL 2.1"},
        ),
    ],
)
async def test_bad_arguments_are_refused_before_sending(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    command: str,
    arguments: dict[str, Any],
    key: str,
    placeholders: dict[str, str],
) -> None:
    await setup_entry()
    with pytest.raises(ServiceValidationError) as err:
        await run(
            hass,
            {
                ATTR_DEVICE_ID: electrolyser_device(hass, sim),
                "command": command,
                "arguments": arguments,
            },
        )
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == placeholders
    # The message is rendered from the translations and names the argument at fault.
    assert placeholders.get("argument", command) in str(err.value)
    assert sim.executions == []


async def test_targets_that_take_no_commands_are_refused(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    entry = await setup_entry()
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    stranger = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}, name="Stranger"
    )
    for data, target in (
        ({ATTR_DEVICE_ID: stranger.id}, "Stranger"),
        ({ATTR_DEVICE_ID: "no-such-device"}, "no-such-device"),
        ({ATTR_ENTITY_ID: "sensor.nothing_here"}, "sensor.nothing_here"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await run(hass, {**data, "command": "start"})
        assert err.value.translation_key == "not_a_command_device"
        assert err.value.translation_placeholders == {"target": target}
    with pytest.raises(ServiceValidationError) as err:
        await run(hass, {"command": "start"})
    assert err.value.translation_key == "no_target"
    # An unloaded entry's devices take no commands until it is back.
    device_id = electrolyser_device(hass, sim)
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError):
        await run(hass, {ATTR_DEVICE_ID: device_id, "command": "start"})
    assert sim.executions == []
