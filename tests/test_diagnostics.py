"""Diagnostics redact credentials inside URLs, not only under secret keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
import json
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.diagnostics import async_get_config_entry_diagnostics
from custom_components.iot_bridge.vendor import IotBridgeRuntime
from custom_components.iot_bridge.vendors import VENDORS


@dataclass
class _ReportingCoordinator:
    """Only what diagnostics read of a coordinator: its status and the vendor's report."""

    report: dict[str, Any] = field(default_factory=dict)
    last_update_success: bool = True
    update_interval: timedelta | None = timedelta(seconds=30)

    def diagnostics(self) -> dict[str, Any]:
        return self.report


async def test_urls_lose_their_credentials(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={
            "vendor": "enapter",
            "url": "https://admin:hunter2@gateway.local/api?access_token=tok3n&page=2",
        },
    )
    entry.add_to_hass(hass)
    coordinator = _ReportingCoordinator(
        report={
            "endpoints": ["wss://ws.example/?project=demo&access_token=s3cret#frag"],
            "note": "plain text? stays as it is",
        }
    )
    entry.runtime_data = IotBridgeRuntime(vendor=VENDORS["enapter"], coordinator=coordinator)

    text = json.dumps(await async_get_config_entry_diagnostics(hass, entry))

    for secret in ("hunter2", "admin", "tok3n", "s3cret"):
        assert secret not in text
    # What is not a secret stays readable.
    for kept in ("gateway.local/api", "page=2", "project=demo", "plain text? stays as it is"):
        assert kept in text
