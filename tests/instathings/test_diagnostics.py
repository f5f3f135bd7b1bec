"""Diagnostics carry the devices and stream health but never a credential."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from simulators.instathings import CLIENT_ID, CLIENT_SECRET, SENSOR_ID

from .conftest import coordinator_of


async def test_diagnostics_redacts_credentials(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["entry"]["vendor"] == "instathings"
    assert diagnostics["entry"]["data"]["client_id"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["client_secret"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["project"] == "demo"
    vendor = diagnostics["vendor"]
    assert vendor["stream"]["connected"] is True
    assert vendor["stream"]["connects"] == 1
    sensor = next(device for device in vendor["devices"] if device["id"] == SENSOR_ID)
    assert sensor["kinds"]["temperature"] == "number"
    assert "temperature" in sensor["values"]
    text = json.dumps(diagnostics)
    assert CLIENT_SECRET not in text
    assert CLIENT_ID not in text
    token = await coordinator_of(init_integration).client.access_token()
    assert token not in text
