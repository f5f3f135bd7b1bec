"""What the integration shows matches what Enapter's own Python SDK reads from the same API.

The SDK (``enapter`` on PyPI, test-only) lists the site's devices with their manifests, reads
the latest telemetry and runs a command; every entity's state must agree with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from simulators.enapter import TOKEN, EnapterSimulator
from tests.devices import find_device

from .conftest import advance

sdk = pytest.importorskip("enapter.http.api")

Setup = Callable[[], Awaitable[MockConfigEntry]]
SCALARS = {"float", "integer", "string", "boolean"}


@pytest.fixture
async def sdk_client(cloud_url: str) -> AsyncIterator[Any]:
    async with sdk.Client(sdk.Config(base_url=cloud_url, token=TOKEN)) as client:
        yield client


async def sdk_devices(client: Any, site_id: str) -> list[Any]:
    listing = client.devices.list(
        expand_manifest=True, expand_properties=True, expand_connectivity=True, site_id=site_id
    )
    async with listing as devices:
        return [device async for device in devices]


def expected_state(spec: dict[str, Any], point: Any) -> str:
    """How Home Assistant shows the SDK's datapoint."""
    if point is None or point.value is None:  # None: the SDK's reading of "timestamp": null
        return "unknown"
    value = point.value
    if spec["type"] == "boolean":
        return "on" if value else "off"
    return str(value)


async def assert_entities_match_sdk(
    hass: HomeAssistant, client: Any, entry: MockConfigEntry, site_id: str
) -> int:
    entity_registry = er.async_get(hass)
    devices = await sdk_devices(client, site_id)
    latest = await client.telemetry.latest(
        {device.id: list(device.manifest["telemetry"]) for device in devices}
    )
    compared = 0
    for device in devices:
        entry_device = find_device(hass, (DOMAIN, f"enapter_{device.id}"))
        assert entry_device is not None
        assert entry_device.name == device.name
        offline = device.connectivity.status.value == "OFFLINE"
        for attribute, spec in device.manifest["telemetry"].items():
            platform = "binary_sensor" if spec["type"] == "boolean" else "sensor"
            entity_id = entity_registry.async_get_entity_id(
                platform, DOMAIN, f"{entry.unique_id}_{device.id}_telemetry_{attribute}"
            )
            if spec["type"] not in SCALARS:
                assert entity_id is None, f"{attribute} ({spec['type']}) has no entity"
                continue
            assert entity_id is not None, f"{device.name}: no entity for {attribute}"
            state = hass.states.get(entity_id)
            assert state is not None
            assert state.name == f"{device.name} {spec['display_name']}"
            if offline:
                assert state.state == STATE_UNAVAILABLE
            else:
                point = latest[device.id][attribute]
                assert state.state == expected_state(spec, point), entity_id
                if spec.get("enum"):
                    assert state.attributes["options"] == [str(v) for v in spec["enum"]]
            compared += 1
    return compared


async def test_entities_match_the_sdk(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    sdk_client: Any,
    lab_id: str,
    freezer: FrozenDateTimeFactory,
) -> None:
    sim.meter.telemetry["voltage_l1"] = (None, None)
    sim.set_offline(sim.gateway.id)
    entry = await setup_entry()
    # 4 + 10 + 10 + 9 scalar attributes (the electrolyser's alert list has no entity).
    assert await assert_entities_match_sdk(hass, sdk_client, entry, lab_id) == 33

    # The values move; after a poll both still agree.
    sim.drift()
    await advance(hass, freezer)
    assert await assert_entities_match_sdk(hass, sdk_client, entry, lab_id) == 33


async def test_commands_agree_with_the_sdk(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    sdk_client: Any,
    lab_id: str,
    freezer: FrozenDateTimeFactory,
) -> None:
    entry = await setup_entry()
    switch = "switch.electrolyser_el_2_1_production"
    # Started through the SDK: the integration shows it with the next poll.
    execution = await sdk_client.commands.execute(sim.electrolyser.id, "start")
    assert execution.state.value == "SUCCESS"
    await advance(hass, freezer)
    assert hass.states.get(switch).state == "on"
    assert await assert_entities_match_sdk(hass, sdk_client, entry, lab_id) == 33
    # Stopped through the integration: the SDK reads the device stopped.
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: switch}, blocking=True)
    status = await sdk_client.telemetry.latest({sim.electrolyser.id: ["status"]})
    assert status[sim.electrolyser.id]["status"].value == "idle"
    assert hass.states.get(switch).state == "off"
    assert await assert_entities_match_sdk(hass, sdk_client, entry, lab_id) == 33


async def test_commands_with_arguments_agree_with_the_sdk(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    sdk_client: Any,
) -> None:
    """The SDK and the integration run the same command; each reads the other's execution."""
    await setup_entry()
    device_id = sim.electrolyser.id
    theirs = await sdk_client.commands.execute(
        device_id, "set_ramp_rates", {"ramp_up": 4.0, "ramp_down": 8.0}
    )
    entry_device = find_device(hass, (DOMAIN, f"enapter_{device_id}"))
    assert entry_device is not None
    answer = await hass.services.async_call(
        DOMAIN,
        "run_command",
        {
            "device_id": entry_device.id,
            "command": "set_ramp_rates",
            "arguments": {"ramp_up": 4, "ramp_down": 8},
        },
        blocking=True,
        return_response=True,
    )
    ours = await sdk_client.commands.get_execution(device_id, sim.executions[-1]["id"])
    assert (ours.state, ours.request.name, ours.request.arguments) == (
        theirs.state,
        theirs.request.name,
        theirs.request.arguments,
    )
    assert ours.state.value == "SUCCESS"
    assert ours.response.payload == answer["devices"][entry_device.id]["payload"]
    # A number entity sends what the SDK would for the same value.
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: "number.electrolyser_el_2_1_production_rate", "value": 75},
        blocking=True,
    )
    from_entity = await sdk_client.commands.get_execution(device_id, sim.executions[-1]["id"])
    from_sdk = await sdk_client.commands.execute(device_id, "set_production_rate", {"rate": 75.0})
    assert from_entity.request.arguments == from_sdk.request.arguments == {"rate": 75.0}
    status = await sdk_client.telemetry.latest({device_id: ["production_rate"]})
    assert status[device_id]["production_rate"].value == 75.0
    assert hass.states.get("number.electrolyser_el_2_1_production_rate").state == "75.0"
