"""Diagnostics for an entry, with every secret redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import (
    CONF_ACCESS_TOKEN,
    CONF_API_TOKEN,
    CONF_CLIENT_SECRET,
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant

from .api.urls import redact_url
from .vendor import IotBridgeConfigEntry

# Redacted for every vendor, whatever the vendor package declares on top.
ALWAYS_REDACTED = frozenset(
    {
        CONF_ACCESS_TOKEN,
        CONF_API_TOKEN,
        CONF_CLIENT_SECRET,
        CONF_PASSWORD,
        CONF_TOKEN,
        CONF_USERNAME,
        "jwt",
        "refresh_token",
        "webhook_id",
    }
)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IotBridgeConfigEntry
) -> dict[str, Any]:
    """Return the entry, its coordinator state and the vendor's data."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    redacted = ALWAYS_REDACTED | runtime.vendor.secret_keys
    diagnostics: dict[str, Any] = _redact_urls(
        {
            "entry": {
                "title": entry.title,
                "vendor": runtime.vendor.key,
                "data": async_redact_data(dict(entry.data), redacted),
                "options": async_redact_data(dict(entry.options), redacted),
            },
            "coordinator": {
                "last_update_success": coordinator.last_update_success,
                "update_interval": str(coordinator.update_interval),
            },
            "vendor": async_redact_data(coordinator.diagnostics(), redacted),
        }
    )
    if runtime.history is not None:
        diagnostics["energy_history"] = runtime.history.diagnostics()
    return diagnostics


def _redact_urls(value: Any) -> Any:
    """Blank credentials inside URLs (user:password@, ?access_token=), wherever they are.

    Keys say nothing about a URL's secrets, so every string is looked at.
    """
    if isinstance(value, str):
        return redact_url(value) if "@" in value or "?" in value or "#" in value else value
    if isinstance(value, dict):
        return {key: _redact_urls(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_urls(item) for item in value]
    return value
