"""Instathings IoT cloud: REST for devices and history, a websocket for live events."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import re
from typing import Any

from homeassistant.const import CONF_CLIENT_ID, CONF_CLIENT_SECRET, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from ..api.errors import ApiError
from ..api.instathings import (
    DEFAULT_WEBSOCKET_URL,
    InstathingsClient,
    default_api_url,
    normalize_api_url,
    normalize_websocket_url,
)
from ..compat import vol
from ..descriptions import IotBridgeEntityDescription
from ..errors import FlowError, flow_error_for, refuse_credentials_in_url
from ..vendor import SECRET_SELECTOR, EntryDraft, Vendor, VendorConfigEntry
from .coordinator import InstathingsCoordinator
from .entities import project_entity_descriptions

CONF_PROJECT = "project"
CONF_API_URL = "api_url"
CONF_WEBSOCKET_URL = "websocket_url"
# The form section holding the endpoint overrides; entry data keeps them flat.
SECTION_ENDPOINTS = "endpoints"

_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
# The project name is the first label of https://<project>.instathings.io.
_PROJECT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def _client(hass: HomeAssistant, data: Mapping[str, Any]) -> InstathingsClient:
    return InstathingsClient(
        async_get_clientsession(hass),
        data[CONF_API_URL],
        data[CONF_WEBSOCKET_URL],
        data[CONF_PROJECT],
        data[CONF_CLIENT_ID],
        data[CONF_CLIENT_SECRET],
    )


def _endpoint(
    user_input: Mapping[str, Any],
    key: str,
    normalize: Callable[[str], str],
    kept: str | None,
    default: str,
) -> str:
    """An endpoint override from the form; else the entry's own, else the documented default.

    Credentials (``user:password@``, ``?access_token=``) belong in the client fields:
    in an address they would be stored and shown as plain text.
    """
    text = str(user_input.get(key) or "").strip()
    if not text:
        return kept or default
    refuse_credentials_in_url(text, key)
    try:
        return normalize(text)
    except ValueError as err:
        raise FlowError("invalid_url", key) from err


class InstathingsVendor(Vendor[InstathingsCoordinator]):
    """Instathings: one entry per project; gateways and their sub-devices as devices."""

    key = "instathings"
    platforms = (Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH)
    secret_keys = frozenset({CONF_CLIENT_ID, CONF_CLIENT_SECRET})

    def user_schema(self) -> vol.Schema:
        """Project and API client; endpoint overrides in a collapsed section."""
        return vol.Schema(
            {
                vol.Required(CONF_PROJECT): str,
                vol.Required(CONF_CLIENT_ID): str,
                vol.Required(CONF_CLIENT_SECRET): SECRET_SELECTOR,
                vol.Optional(SECTION_ENDPOINTS): section(
                    vol.Schema(
                        {
                            vol.Optional(CONF_API_URL): _URL,
                            vol.Optional(CONF_WEBSOCKET_URL): _URL,
                        }
                    ),
                    {"collapsed": True},
                ),
            }
        )

    def form_values(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The entry's settings as the form holds them: endpoints inside their section."""
        return {
            CONF_PROJECT: data.get(CONF_PROJECT),
            CONF_CLIENT_ID: data.get(CONF_CLIENT_ID),
            CONF_CLIENT_SECRET: data.get(CONF_CLIENT_SECRET),
            SECTION_ENDPOINTS: {
                CONF_API_URL: data.get(CONF_API_URL),
                CONF_WEBSOCKET_URL: data.get(CONF_WEBSOCKET_URL),
            },
        }

    def reauth_schema(self) -> vol.Schema:
        """A new API client of the same project."""
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
        """Fetch a token and the device list with the given client."""
        project = str(user_input[CONF_PROJECT]).strip()
        if not _PROJECT.match(project):
            raise FlowError("invalid_project", CONF_PROJECT)
        # Empty endpoint fields keep the entry's own endpoints (they may have been
        # overridden); a new entry, or another project, gets the documented defaults.
        same = current is not None and str(current.get(CONF_PROJECT, "")).lower() == project.lower()
        kept = current if same and current is not None else {}
        endpoints: Mapping[str, Any] = user_input.get(SECTION_ENDPOINTS) or {}
        data = {
            CONF_PROJECT: project,
            CONF_CLIENT_ID: str(user_input[CONF_CLIENT_ID]).strip(),
            CONF_CLIENT_SECRET: user_input[CONF_CLIENT_SECRET],
            CONF_API_URL: _endpoint(
                endpoints,
                CONF_API_URL,
                normalize_api_url,
                kept.get(CONF_API_URL),
                default_api_url(project),
            ),
            CONF_WEBSOCKET_URL: _endpoint(
                endpoints,
                CONF_WEBSOCKET_URL,
                normalize_websocket_url,
                kept.get(CONF_WEBSOCKET_URL),
                DEFAULT_WEBSOCKET_URL,
            ),
        }
        client = _client(hass, data)
        try:
            await client.access_token()
            await client.list_devices()
        except ApiError as err:
            raise flow_error_for(err) from err
        return EntryDraft(title=f"Instathings {project}", unique_id=project.lower(), data=data)

    async def async_setup_entry(
        self, hass: HomeAssistant, entry: VendorConfigEntry[InstathingsCoordinator]
    ) -> InstathingsCoordinator:
        """Load devices and their newest values, then start the websocket task."""
        coordinator = InstathingsCoordinator(hass, entry, _client(hass, entry.data))
        await coordinator.async_config_entry_first_refresh()
        coordinator.async_start_stream()
        return coordinator

    def entity_descriptions(
        self, coordinator: InstathingsCoordinator, platform: Platform
    ) -> Iterable[tuple[str, IotBridgeEntityDescription]]:
        """Every device's entities, as its values so far call for."""
        return project_entity_descriptions(coordinator, platform)
