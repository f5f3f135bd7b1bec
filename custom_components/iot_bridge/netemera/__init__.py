"""Netemera LoRaWAN application server: uplinks over SSE, history catch-up, downlinks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry, OptionsFlow
from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import dt as dt_util

from ..api.errors import ApiError, ApiForbiddenError
from ..api.netemera import NetemeraClient, normalize_url
from ..compat import vol
from ..descriptions import IotBridgeEntityDescription
from ..errors import FlowError, flow_error_for, refuse_credentials_in_url
from ..vendor import SECRET_SELECTOR, EntryDraft, Vendor, VendorConfigEntry
from .coordinator import NetemeraCoordinator
from .entities import entity_descriptions
from .options import NetemeraOptionsFlow

CONF_AUTH_URL: Final = "auth_url"
CONF_API_URL: Final = "api_url"
CONF_APPLICATION_ID: Final = "application_id"
API_PATH = "/api/v3"
# The flow proves read access on this much history.
VALIDATION_WINDOW = timedelta(hours=1)

_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))


def _client(hass: HomeAssistant, data: Mapping[str, Any]) -> NetemeraClient:
    return NetemeraClient(
        async_get_clientsession(hass),
        data[CONF_AUTH_URL],
        data[CONF_API_URL],
        data[CONF_CLIENT_ID],
        data[CONF_CLIENT_SECRET],
        data[CONF_APPLICATION_ID],
    )


class NetemeraVendor(Vendor[NetemeraCoordinator]):
    """Netemera: one entry per application on an application server."""

    key = "netemera"
    platforms = (Platform.SENSOR, Platform.SWITCH)
    store_names = ("netemera",)
    secret_keys = frozenset({CONF_CLIENT_ID, CONF_CLIENT_SECRET})

    def user_schema(self) -> vol.Schema:
        """Both servers' addresses, the API client's credentials and the application."""
        return vol.Schema(
            {
                vol.Required(CONF_AUTH_URL): _URL,
                vol.Required(CONF_API_URL): _URL,
                vol.Required(CONF_CLIENT_ID): str,
                vol.Required(CONF_CLIENT_SECRET): SECRET_SELECTOR,
                vol.Required(CONF_APPLICATION_ID): str,
            }
        )

    def reauth_schema(self) -> vol.Schema:
        """A new client id and secret."""
        return vol.Schema(
            {
                vol.Required(CONF_CLIENT_ID): str,
                vol.Required(CONF_CLIENT_SECRET): SECRET_SELECTOR,
            }
        )

    async def async_validate(
        self,
        hass: HomeAssistant,
        user_input: dict[str, Any],
        current: Mapping[str, Any] | None,
    ) -> EntryDraft:
        """Get a token, then read the application's last hour of history."""
        try:
            auth_url = normalize_url(user_input[CONF_AUTH_URL])
        except ValueError as err:
            raise FlowError("invalid_url", CONF_AUTH_URL) from err
        refuse_credentials_in_url(auth_url, CONF_AUTH_URL)
        try:
            api_url = normalize_url(user_input[CONF_API_URL])
        except ValueError as err:
            raise FlowError("invalid_url", CONF_API_URL) from err
        # The client id and secret have their own fields; in a URL they would be
        # stored and shown in plain text (and the API URL is the token audience).
        refuse_credentials_in_url(api_url, CONF_API_URL)
        if not api_url.endswith(API_PATH):
            raise FlowError("invalid_api_url", CONF_API_URL)
        application_id = user_input[CONF_APPLICATION_ID].strip()
        data = {
            CONF_AUTH_URL: auth_url,
            CONF_API_URL: api_url,
            CONF_CLIENT_ID: user_input[CONF_CLIENT_ID].strip(),
            CONF_CLIENT_SECRET: user_input[CONF_CLIENT_SECRET],
            CONF_APPLICATION_ID: application_id,
        }
        client = _client(hass, data)
        try:
            await client.authorize()
        except ApiForbiddenError as err:
            # The token endpoint refuses an audience it does not know: the API URL is wrong.
            raise FlowError("invalid_api_url", CONF_API_URL) from err
        except ApiError as err:
            raise flow_error_for(err) from err
        try:
            await client.history(dt_util.utcnow() - VALIDATION_WINDOW)
        except ApiForbiddenError as err:
            raise FlowError("forbidden") from err
        except ApiError as err:
            raise flow_error_for(err) from err
        return EntryDraft(
            title=f"Netemera {application_id}",
            unique_id=f"{_url_identity(api_url)}/{application_id}",
            data=data,
        )

    async def async_setup_entry(
        self, hass: HomeAssistant, entry: VendorConfigEntry[NetemeraCoordinator]
    ) -> NetemeraCoordinator:
        """Restore known devices, catch up from history, then follow the stream."""
        coordinator = NetemeraCoordinator(hass, entry, _client(hass, entry.data))
        # API errors map themselves: refused credentials start re-authentication,
        # an unreachable server retries set-up later.
        await coordinator.async_config_entry_first_refresh()
        coordinator.async_start_stream()
        return coordinator

    def options_flow(self, entry: ConfigEntry[Any]) -> OptionsFlow:
        """Per end-device decoder and downlink."""
        return NetemeraOptionsFlow()

    def entity_descriptions(
        self, coordinator: NetemeraCoordinator, platform: Platform
    ) -> Iterable[tuple[str, IotBridgeEntityDescription]]:
        """Every end-device's sensors and, where a downlink is configured, its switch."""
        return entity_descriptions(coordinator, platform)


def _url_identity(url: str) -> str:
    """The API URL without scheme and letter case: the same server however it is typed."""
    parts = urlsplit(url)
    return f"{(parts.netloc or '').lower()}{parts.path}"
