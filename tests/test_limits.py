"""A limit on what remote input may create is reported once and cleared when there is room."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.limits import async_clear_limit, async_report_limit


async def test_report_and_clear(hass: HomeAssistant, caplog: pytest.LogCaptureFixture) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Gateway", data={"vendor": "efento"})
    entry.add_to_hass(hass)
    issues = ir.async_get(hass)

    async_report_limit(hass, entry, "loggers", 100, 3)
    async_report_limit(hass, entry, "loggers", 100, 5)
    issue = issues.async_get_issue(DOMAIN, f"{entry.entry_id}_loggers_limit")
    assert issue is not None
    assert issue.translation_key == "limit_reached"
    assert issue.translation_placeholders == {
        "name": "Gateway",
        "what": "loggers",
        "limit": "100",
        "refused": "5",
    }
    assert caplog.text.count("past the limit of 100") == 1

    async_clear_limit(hass, entry, "loggers")
    assert issues.async_get_issue(DOMAIN, f"{entry.entry_id}_loggers_limit") is None
    # Reached again later: said again.
    async_report_limit(hass, entry, "loggers", 100, 1)
    assert caplog.text.count("past the limit of 100") == 2


async def test_removing_the_entry_drops_its_notices(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Gateway", data={"vendor": "efento"})
    other = MockConfigEntry(domain=DOMAIN, title="Other", data={"vendor": "efento"})
    entry.add_to_hass(hass)
    other.add_to_hass(hass)
    async_report_limit(hass, entry, "loggers", 100, 3)
    async_report_limit(hass, other, "loggers", 100, 3)

    await hass.config_entries.async_remove(entry.entry_id)

    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, f"{entry.entry_id}_loggers_limit") is None
    assert issues.async_get_issue(DOMAIN, f"{other.entry_id}_loggers_limit") is not None
