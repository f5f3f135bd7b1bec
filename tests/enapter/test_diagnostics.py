"""Diagnostics of an Enapter entry: useful, and without the token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from simulators.enapter import TOKEN, EnapterSimulator

Setup = Callable[[], Awaitable[MockConfigEntry]]


async def test_diagnostics_redact_the_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: EnapterSimulator,
    setup_entry: Setup,
) -> None:
    entry = await setup_entry()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert TOKEN not in str(diagnostics)
    assert diagnostics["entry"]["data"]["api_token"] == "**REDACTED**"
    assert diagnostics["entry"]["vendor"] == "enapter"
    vendor = diagnostics["vendor"]
    assert vendor["site"]["name"] == "Hydrogen Lab"
    assert vendor["requests_sent"] == 4
    assert vendor["max_url_length"] == 8000
    devices = {device["name"]: device for device in vendor["devices"]}
    assert set(devices) == {"Enapter Gateway", "Electrolyser EL 2.1", "Battery Rack", "Grid Meter"}
    electrolyser = devices["Electrolyser EL 2.1"]
    assert electrolyser["commands"]["set_production_rate"] == ["rate"]
    assert electrolyser["telemetry"]["h2_flow_rate"]["unit"] == "Nl/h"
    assert electrolyser["latest"]["status"]["value"] == "idle"
