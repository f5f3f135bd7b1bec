"""A server that misbehaves breaks nothing: rate limits, impossible times and values, floods.

Each test drives the simulated API into one bad behaviour and checks the entry
end to end; ``test_hostile_server`` runs them one after another on one entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.enapter import model
from custom_components.iot_bridge.enapter.coordinator import POLL_INTERVAL
from simulators.enapter import EnapterSimulator
from tests.devices import find_device

from .conftest import advance

Setup = Callable[[], Awaitable[MockConfigEntry]]
LATEST = "/v3/telemetry/latest"
POWER = "sensor.grid_meter_total_active_power"
VOLTAGE = "sensor.grid_meter_voltage_l1"
HOUR = timedelta(hours=1)
# Home Assistant moves a poll by up to a second around its due time.
SPREAD = timedelta(seconds=2)


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    # Newer Home Assistant adds a debug "Full error:" traceback to a failed update; and
    # aiohttp's access log trips over the frozen clock: that is the test server, not us.
    return [
        record.getMessage()
        for record in caplog.records
        if record.exc_info and record.levelno >= logging.WARNING and record.name != "aiohttp.access"
    ]


def _issue(hass: HomeAssistant, entry: MockConfigEntry, what: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry.entry_id}_{what}_limit")


def _manifest(telemetry: int, commands: int = 0) -> dict[str, Any]:
    return {
        "telemetry": {
            f"value_{index:03d}": {"display_name": f"Value {index}", "type": "float"}
            for index in range(telemetry)
        },
        "commands": {
            f"do_{index:03d}": {"display_name": f"Do {index}"} for index in range(commands)
        },
    }


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
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    retry_after: str,
    wait: timedelta,
) -> None:
    entry = await setup_entry()
    coordinator = entry.runtime_data.coordinator
    sim.rate_limit_next(1, retry_after)
    await advance(hass, freezer)
    assert hass.states.get(POWER).state == STATE_UNAVAILABLE
    assert coordinator.update_interval == wait
    polls = sim.requests_by_path[LATEST]

    await advance(hass, freezer, wait - SPREAD, reporting=sim)
    assert sim.requests_by_path[LATEST] == polls  # still waiting
    await advance(hass, freezer, 2 * SPREAD, reporting=sim)
    assert sim.requests_by_path[LATEST] == polls + 1  # resumed by itself
    assert hass.states.get(POWER).state == "2450.0"
    assert coordinator.update_interval == POLL_INTERVAL
    await advance(hass, freezer, POLL_INTERVAL + SPREAD, reporting=sim)
    assert sim.requests_by_path[LATEST] == polls + 2
    assert entry.state is ConfigEntryState.LOADED
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize("stamp", [10**12, 1e20, "yesterday", True, [1]])
async def test_impossible_datapoint_times_are_unknown(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    stamp: object,
) -> None:
    await setup_entry()
    sim.meter.telemetry["voltage_l1"] = (stamp, 229.9)  # type: ignore[assignment]
    await advance(hass, freezer)
    assert hass.states.get(VOLTAGE).state == STATE_UNKNOWN
    assert hass.states.get(POWER).state == "2450.0"
    await advance(hass, freezer)
    sim.set_value(sim.meter.id, "voltage_l1", 229.9)
    await advance(hass, freezer)
    assert hass.states.get(VOLTAGE).state == "229.9"
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), 10**400],
    ids=["nan", "inf", "-inf", "10**400"],
)
async def test_numbers_home_assistant_cannot_show_are_unknown(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    value: float,
) -> None:
    await setup_entry()
    sim.set_value(sim.meter.id, "voltage_l1", value)
    sim.set_value(sim.meter.id, "total_power", 1234.5)
    await advance(hass, freezer)
    assert hass.states.get(VOLTAGE).state == STATE_UNKNOWN
    assert hass.states.get(POWER).state == "1234.5"
    assert caplog.text.count("voltage_l1 reported") == 1
    assert _tracebacks(caplog) == []


async def test_devices_past_the_limit_are_ignored_with_a_repair_issue(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    lab_id: str,
    device_registry: dr.DeviceRegistry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Scaled down: the lab's four devices and room for one more.
    monkeypatch.setattr(model, "MAX_DEVICES", 5)
    entry = await setup_entry()
    invented = [
        sim.add_device("custom", lab_id, name=f"Invented {index}", manifest=_manifest(2))
        for index in range(3)
    ]
    await advance(hass, freezer, HOUR, reporting=sim)
    assert find_device(hass, (DOMAIN, f"enapter_{invented[0].id}")) is not None
    assert hass.states.get("sensor.invented_0_value_1") is not None
    for device in invented[1:]:
        assert find_device(hass, (DOMAIN, f"enapter_{device.id}")) is None
    assert hass.states.get("sensor.invented_1_value_1") is None
    latest = [request for request in sim.requests if request.path == LATEST][-1]
    assert f"devices[{invented[1].id}]" not in latest.query
    issue = _issue(hass, entry, "devices")
    assert issue is not None
    assert issue.translation_key == "limit_reached"
    assert issue.translation_placeholders == {
        "name": entry.title,
        "what": "devices",
        "limit": "5",
        "refused": "2",
    }
    assert caplog.text.count("past the limit of 5") == 1
    # What existed keeps working.
    assert hass.states.get(POWER).state == "2450.0"

    # A device gone from the site still counts until the user deletes it.
    sim.remove_device(sim.meter.id)
    await advance(hass, freezer, HOUR, reporting=sim)
    assert find_device(hass, (DOMAIN, f"enapter_{invented[1].id}")) is None
    meter = find_device(hass, (DOMAIN, f"enapter_{sim.meter.id}"))
    assert meter is not None
    device_registry.async_remove_device(meter.id)
    await advance(hass, freezer, HOUR, reporting=sim)
    assert find_device(hass, (DOMAIN, f"enapter_{invented[1].id}")) is not None
    issue = _issue(hass, entry, "devices")
    assert issue is not None
    assert issue.translation_placeholders["refused"] == "1"
    # The site drops what it invented: the notice goes.
    sim.remove_device(invented[2].id)
    await advance(hass, freezer, HOUR, reporting=sim)
    assert _issue(hass, entry, "devices") is None


async def test_telemetry_and_commands_past_the_limit_are_ignored(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    lab_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(model, "MAX_TELEMETRY", 12)
    # The electrolyser's nine commands fit; the flood's last three do not.
    monkeypatch.setattr(model, "MAX_COMMANDS", 9)
    flood = sim.add_device("custom", lab_id, name="Flood", manifest=_manifest(20, 12))
    entry = await setup_entry()
    assert hass.states.get("sensor.flood_value_11") is not None
    assert hass.states.get("sensor.flood_value_12") is None
    assert hass.states.get("button.flood_do_8") is not None
    assert hass.states.get("button.flood_do_9") is None
    # Only what has entities is asked for on every poll.
    latest = [request for request in sim.requests if request.path == LATEST][-1]
    assert len(latest.query[f"devices[{flood.id}]"].split(",")) == 12
    telemetry = _issue(hass, entry, "telemetry attributes")
    commands = _issue(hass, entry, "commands")
    assert telemetry is not None
    assert telemetry.translation_placeholders["refused"] == "8"
    assert commands is not None
    assert commands.translation_placeholders["refused"] == "3"
    # Devices within the limits are whole.
    assert hass.states.get("sensor.electrolyser_el_2_1_uptime") is not None


async def test_hostile_server(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    setup_entry: Setup,
    freezer: FrozenDateTimeFactory,
    lab_id: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Everything at once, on one entry, as a broken or hostile server would."""
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr(model, "MAX_DEVICES", 6)
    monkeypatch.setattr(model, "MAX_TELEMETRY", 12)
    monkeypatch.setattr(model, "MAX_COMMANDS", 4)
    entry = await setup_entry()
    coordinator = entry.runtime_data.coordinator

    # Ten years of Retry-After: an hour at most, then back.
    sim.rate_limit_next(1, "315360000")
    await advance(hass, freezer, reporting=sim)
    await advance(hass, freezer, HOUR + SPREAD, reporting=sim)
    assert coordinator.last_update_success
    # A flood of devices with huge manifests, impossible times and values.
    for index in range(5):
        sim.add_device("custom", lab_id, name=f"Flood {index}", manifest=_manifest(30, 10))
    sim.rate_limit_next(1, "inf")
    await advance(hass, freezer, HOUR, reporting=sim)
    await advance(hass, freezer, POLL_INTERVAL + SPREAD, reporting=sim)
    sim.meter.telemetry["voltage_l1"] = (10**12, 229.9)
    sim.set_value(sim.meter.id, "frequency", float("nan"))
    sim.set_value(sim.meter.id, "import_energy", 10**400)
    for _ in range(3):
        await advance(hass, freezer)
    assert coordinator.last_update_success
    for entity_id in (VOLTAGE, "sensor.grid_meter_frequency", "sensor.grid_meter_imported_energy"):
        assert hass.states.get(entity_id).state == STATE_UNKNOWN
    assert hass.states.get(POWER).state == "2450.0"
    assert hass.states.get("sensor.flood_1_value_11") is not None
    assert hass.states.get("sensor.flood_1_value_12") is None
    assert hass.states.get("sensor.flood_2_value_0") is None
    for what in ("devices", "telemetry attributes", "commands"):
        assert _issue(hass, entry, what) is not None
    assert _tracebacks(caplog) == []
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
