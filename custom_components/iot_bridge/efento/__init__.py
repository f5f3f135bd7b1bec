"""Efento wireless loggers: Home Assistant is the server the Efento gateway POSTs to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.components import webhook
from homeassistant.config_entries import ConfigEntry, OptionsFlow
from homeassistant.const import CONF_NAME, Platform
from homeassistant.core import HomeAssistant

from ..compat import vol
from ..descriptions import IotBridgeEntityDescription
from ..vendor import EntryDraft, Vendor
from . import entities
from .const import CONF_TOKEN, CONF_WEBHOOK_ID, DEFAULT_TITLE, STORE_NAME, VENDOR_KEY
from .coordinator import EfentoConfigEntry, EfentoCoordinator
from .options import EfentoOptionsFlow
from .registry_ids import async_migrate
from .server_settings import new_token, settings_placeholders
from .view import async_register_view


class EfentoVendor(Vendor[EfentoCoordinator]):
    """Efento: one entry per gateway, identified by its generated webhook id."""

    key = VENDOR_KEY
    platforms = (Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH)
    store_names = (STORE_NAME,)
    secret_keys = frozenset({CONF_TOKEN, CONF_WEBHOOK_ID})

    def user_schema(self) -> vol.Schema:
        """Only an optional name: everything else is generated."""
        return vol.Schema({vol.Optional(CONF_NAME): str})

    async def async_validate(
        self,
        hass: HomeAssistant,
        user_input: dict[str, Any],
        current: Mapping[str, Any] | None,
    ) -> EntryDraft:
        """Generate the path and token; reconfiguring keeps both (the options rotate the token)."""
        name = (user_input.get(CONF_NAME) or "").strip()
        if current is None:
            webhook_id = webhook.async_generate_id()
            token = new_token()
        else:
            webhook_id = current[CONF_WEBHOOK_ID]
            token = current[CONF_TOKEN]
        data: dict[str, Any] = {CONF_WEBHOOK_ID: webhook_id, CONF_TOKEN: token}
        if name:
            data[CONF_NAME] = name
        return EntryDraft(
            title=name or DEFAULT_TITLE,
            unique_id=webhook_id,
            data=data,
            placeholders=settings_placeholders(hass, data),
        )

    async def async_setup_entry(
        self, hass: HomeAssistant, entry: EfentoConfigEntry
    ) -> EfentoCoordinator:
        """Make sure the endpoint exists, restore the stored state and publish it."""
        # First, so that the gateway hears 503 (not 404) whatever happens below.
        async_register_view(hass)
        # Before any device or entity is registered under its new name.
        async_migrate(hass, entry)
        coordinator = EfentoCoordinator(hass, entry)
        await coordinator.async_config_entry_first_refresh()
        coordinator.async_register_gateway_device()
        return coordinator

    def unique_id_base(self, entry: ConfigEntry[Any]) -> str:
        """The entry id: the entry's unique id is the webhook id, a secret."""
        return entry.entry_id

    def options_flow(self, entry: ConfigEntry[Any]) -> OptionsFlow:
        """Show the gateway settings again and rotate the token."""
        return EfentoOptionsFlow()

    def entity_descriptions(
        self, coordinator: EfentoCoordinator, platform: Platform
    ) -> Iterable[tuple[str, IotBridgeEntityDescription]]:
        """The gateway's entities and every logger's."""
        return entities.entity_descriptions(coordinator, platform)
