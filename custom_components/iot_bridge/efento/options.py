"""Options of an Efento entry: show the gateway settings again, rotate the token."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow

from ..compat import vol
from ..const import LOGGER
from .const import CONF_ROTATE_TOKEN, CONF_TOKEN
from .server_settings import new_token, settings_placeholders


class EfentoOptionsFlow(OptionsFlow):
    """One form with the settings; ticking the box issues a new token at once."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Start with the settings form (its own step id: options strings are shared)."""
        return await self.async_step_efento_settings()

    async def async_step_efento_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the current settings; rotate the token when asked."""
        entry = self.config_entry
        if user_input is None:
            return self.async_show_form(
                step_id="efento_settings",
                data_schema=vol.Schema({vol.Required(CONF_ROTATE_TOKEN, default=False): bool}),
                description_placeholders=settings_placeholders(self.hass, entry.data),
            )
        if not user_input.get(CONF_ROTATE_TOKEN):
            return self.async_create_entry(data=dict(entry.options))
        # The view reads the token from the entry on every request: no reload needed,
        # and the old token stops working now.
        self.hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_TOKEN: new_token()}
        )
        LOGGER.info("Efento gateway %s: token rotated", entry.title)
        return await self.async_step_efento_rotated()

    async def async_step_efento_rotated(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the new token until the user has copied it."""
        if user_input is None:
            return self.async_show_form(
                step_id="efento_rotated",
                data_schema=vol.Schema({}),
                description_placeholders=settings_placeholders(self.hass, self.config_entry.data),
            )
        return self.async_create_entry(data=dict(self.config_entry.options))
