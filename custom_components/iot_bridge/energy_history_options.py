"""Options of a vendor whose device keeps energy records: how much history to read."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)

from .compat import vol
from .energy_history import CONF_HISTORY_DAYS, MAX_HISTORY_DAYS, history_days
from .vendor import IotBridgeConfigEntry


class HistoryOptionsFlow(OptionsFlow):
    """Pick the backfill period; a loaded entry reads a longer one at once, without a reload."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the one form."""
        return await self.async_step_history(user_input)

    async def async_step_history(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the number of days of history to import."""
        entry: IotBridgeConfigEntry = self.config_entry
        if user_input is not None:
            days = history_days(user_input)
            if entry.state is ConfigEntryState.LOADED and entry.runtime_data.history is not None:
                entry.runtime_data.history.async_set_days(days)
            return self.async_create_entry(data={**entry.options, CONF_HISTORY_DAYS: days})
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_HISTORY_DAYS, default=history_days(entry.options)
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=0,
                        max=MAX_HISTORY_DAYS,
                        step=1,
                        mode=NumberSelectorMode.BOX,
                        unit_of_measurement="d",
                    )
                ),
            }
        )
        return self.async_show_form(step_id="history", data_schema=schema)
