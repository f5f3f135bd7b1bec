"""The generic flow's safety net: a vendor's unexpected error becomes a form error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.entity import EntityDescription
import pytest

from custom_components.iot_bridge import vendors
from custom_components.iot_bridge.compat import vol
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.coordinator import IotBridgeCoordinator
from custom_components.iot_bridge.vendor import EntryDraft, FollowUp, IotBridgeConfigEntry, Vendor


class ExplodingVendor(Vendor[IotBridgeCoordinator[Any]]):
    """Raises something no vendor should, to prove the form survives it."""

    key = "egauge"
    platforms = ()

    def user_schema(self) -> vol.Schema:
        return vol.Schema({vol.Required("url"): str})

    async def async_validate(
        self, hass: HomeAssistant, user_input: dict[str, Any], current: Mapping[str, Any] | None
    ) -> EntryDraft | FollowUp:
        raise RuntimeError("boom")

    async def async_setup_entry(
        self, hass: HomeAssistant, entry: IotBridgeConfigEntry
    ) -> IotBridgeCoordinator[Any]:
        raise NotImplementedError

    def entity_descriptions(
        self, coordinator: IotBridgeCoordinator[Any], platform: Platform
    ) -> Iterable[tuple[str, EntityDescription]]:
        raise NotImplementedError


async def test_unexpected_error_is_unknown(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(vendors.VENDORS, "egauge", ExplodingVendor())
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "egauge"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"url": "x"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while validating the form" in caplog.text
