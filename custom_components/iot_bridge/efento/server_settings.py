"""The gateway's Server settings as the flows show them: address, paths, token."""

from __future__ import annotations

from collections.abc import Mapping
import secrets
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.network import NoURLAvailableError, get_url

from .const import CONF_TOKEN, CONF_WEBHOOK_ID
from .view import heartbeat_path, measurements_path

# Shown instead of a URL when Home Assistant does not know its own address.
SERVER_HINT = "http://<Home Assistant address>:8123"


def new_token() -> str:
    """A strong Organization Token for the gateway (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def settings_placeholders(hass: HomeAssistant, data: Mapping[str, Any]) -> dict[str, str]:
    """What the user types into the gateway's Server settings."""
    try:
        server = get_url(hass, allow_cloud=False, prefer_external=False)
    except NoURLAvailableError:
        server = SERVER_HINT
    return {
        "server": server,
        "measurements_url": measurements_path(data[CONF_WEBHOOK_ID]),
        "heartbeat_url": heartbeat_path(data[CONF_WEBHOOK_ID]),
        "token": data[CONF_TOKEN],
    }
