"""Setting an Enapter entry up and down, and what set-up failures become."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.enapter import EnapterSimulator

Setup = Callable[[], Awaitable[MockConfigEntry]]


async def test_setup_and_unload(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup, lab_id: str
) -> None:
    entry = await setup_entry()
    assert entry.state is ConfigEntryState.LOADED
    # Set-up: the device list (2 per page: 4 devices -> 3 pages) and one telemetry read.
    assert sim.requests_by_path == {
        f"/v3/sites/{lab_id}/devices": 3,
        "/v3/telemetry/latest": 1,
    }
    listing = next(r for r in sim.requests if r.path.endswith("/devices"))
    assert listing.query["expand"] == "manifest,properties,connectivity"
    latest = next(r for r in sim.requests if r.path == "/v3/telemetry/latest")
    assert latest.query["relevance_interval"] == "300s"
    assert hass.states.get("sensor.grid_meter_total_active_power").state == "2450.0"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.grid_meter_total_active_power").state == "unavailable"


@pytest.mark.parametrize("gateway", [True])
async def test_gateway_entry_lists_its_devices(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    await setup_entry()
    assert sim.requests_by_path["/api/v3/devices"] == 3
    assert hass.states.get("switch.electrolyser_el_2_1_production").state == "off"
    # Plain http to a gateway needs the opt-in header on every request.
    assert all(r.headers.get("X-Enapter-Allow-HTTP") == "true" for r in sim.requests)


async def test_not_ready_when_unreachable(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    sim.fail_next(1, 503)
    entry = await setup_entry()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "Simulated failure 503" in str(entry.reason)


async def test_refused_token_starts_reauth(
    hass: HomeAssistant, sim: EnapterSimulator, setup_entry: Setup
) -> None:
    sim.expire_token()
    entry = await setup_entry()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress()
    assert [(f["context"]["source"], f["step_id"]) for f in flows] == [
        (SOURCE_REAUTH, "enapter_reauth")
    ]
    # The API's error message reaches the user.
    assert "Authentication token is expired" in str(entry.reason)
