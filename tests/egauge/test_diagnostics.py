"""Diagnostics carry the readings but never a credential."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator


async def test_diagnostics_redacts_credentials(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["entry"]["data"]["password"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["username"] == "**REDACTED**"
    assert diagnostics["entry"]["vendor"] == "egauge"
    assert diagnostics["coordinator"]["last_update_success"] is True
    names = {register["name"] for register in diagnostics["vendor"]["registers"]}
    assert {"Grid", "Solar", "Mystery Sensor"} <= names
    text = json.dumps(diagnostics)
    assert "secret" not in text
    assert "owner" not in text
