"""Options: per end-device decoder and downlink switch, applied without a reload.

The first form picks a device the application has heard from; the second sets
its decoder and, optionally, the port and hex payloads its switch sends.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult, OptionsFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)

from ..api.netemera import validate_hex
from ..compat import vol
from ..vendor import VendorConfigEntry
from .coordinator import NetemeraCoordinator
from .entities import entity_descriptions
from .model import Decoder
from .settings import (
    CONF_CONFIRMED,
    CONF_DECODER,
    CONF_DOWNLINK_PORT,
    CONF_PAYLOAD_OFF,
    CONF_PAYLOAD_ON,
)

CONF_DEVICE = "device"


class NetemeraOptionsFlow(OptionsFlow):
    """Choose an end-device, then set how it is decoded and switched."""

    def __init__(self) -> None:
        """Start with no device chosen."""
        self._dev_eui: str | None = None

    @property
    def _entry(self) -> VendorConfigEntry[NetemeraCoordinator]:
        # Home Assistant types an options flow's entry loosely; the vendor only
        # offers this flow for its own entries.
        return self.config_entry

    def _coordinator(self) -> NetemeraCoordinator | None:
        """The running coordinator, when the entry is loaded."""
        entry = self._entry
        if entry.state is not ConfigEntryState.LOADED:
            return None
        return entry.runtime_data.coordinator

    def _known_devices(self) -> list[str]:
        entry = self._entry
        coordinator = self._coordinator()
        devices = coordinator.devices if coordinator is not None else {}
        # Devices configured earlier stay choosable even when not heard from lately.
        return sorted(set(devices) | set(entry.options))

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Start with the choice of device."""
        return await self.async_step_netemera_device()

    async def async_step_netemera_device(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the end-device to set up."""
        devices = self._known_devices()
        if not devices:
            return self.async_abort(reason="no_end_devices")
        if user_input is not None:
            self._dev_eui = user_input[CONF_DEVICE]
            return await self.async_step_netemera_decoder()
        schema = vol.Schema(
            {
                vol.Required(CONF_DEVICE, default=devices[0]): SelectSelector(
                    SelectSelectorConfig(
                        options=[SelectOptionDict(value=eui, label=eui) for eui in devices],
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                )
            }
        )
        return self.async_show_form(step_id="netemera_device", data_schema=schema)

    async def async_step_netemera_decoder(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Decoder, and the downlink the switch sends (leave the port empty for no switch)."""
        dev_eui = self._dev_eui
        assert dev_eui is not None
        errors: dict[str, str] = {}
        current: dict[str, Any] = dict(self._entry.options.get(dev_eui) or {})
        if user_input is not None:
            settings = _settings_from_form(user_input, errors)
            if not errors:
                options = {**self._entry.options, dev_eui: settings}
                # Applied in place (no reload, the stream stays connected); the entry has
                # no update listener, so reauth and reconfigure may reload it.
                if (coordinator := self._coordinator()) is not None:
                    async_apply_options(self.hass, coordinator, options)
                return self.async_create_entry(data=options)
            current = user_input
        schema = self.add_suggested_values_to_schema(_decoder_schema(), current)
        return self.async_show_form(
            step_id="netemera_decoder",
            data_schema=schema,
            errors=errors,
            description_placeholders={"dev_eui": dev_eui},
        )


@callback
def async_apply_options(
    hass: HomeAssistant, coordinator: NetemeraCoordinator, options: dict[str, Any]
) -> None:
    """Use new settings at once and delete the entities they no longer create."""
    if not coordinator.async_set_options(options):
        return
    entry = coordinator.config_entry
    prefix = f"{entry.unique_id}_"
    wanted = {
        f"{prefix}{device_key}_{description.key}"
        for platform in (Platform.SENSOR, Platform.SWITCH)
        for device_key, description in entity_descriptions(coordinator, platform)
    }
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        dev_eui = entity.unique_id.removeprefix(prefix).split("_", 1)[0]
        if entity.unique_id not in wanted and dev_eui in coordinator.devices:
            registry.async_remove(entity.entity_id)


def _decoder_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_DECODER, default=Decoder.NONE.value): SelectSelector(
                SelectSelectorConfig(
                    options=[decoder.value for decoder in Decoder],
                    translation_key="netemera_decoder",
                    mode=SelectSelectorMode.LIST,
                )
            ),
            vol.Optional(CONF_DOWNLINK_PORT): NumberSelector(
                NumberSelectorConfig(min=1, max=223, step=1, mode=NumberSelectorMode.BOX)
            ),
            vol.Optional(CONF_PAYLOAD_ON): TextSelector(),
            vol.Optional(CONF_PAYLOAD_OFF): TextSelector(),
            vol.Optional(CONF_CONFIRMED, default=False): BooleanSelector(),
        }
    )


def _settings_from_form(user_input: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    """Check the form; return the device's options (hex normalised to upper case)."""
    settings: dict[str, Any] = {CONF_DECODER: user_input.get(CONF_DECODER, Decoder.NONE.value)}
    port = user_input.get(CONF_DOWNLINK_PORT)
    if port is None:
        return settings
    settings[CONF_DOWNLINK_PORT] = int(port)
    settings[CONF_CONFIRMED] = bool(user_input.get(CONF_CONFIRMED, False))
    for key in (CONF_PAYLOAD_ON, CONF_PAYLOAD_OFF):
        text = str(user_input.get(key) or "").strip()
        try:
            payload = validate_hex(text)
        except ValueError:
            errors[key] = "invalid_hex"
            continue
        if not payload:
            errors[key] = "invalid_hex"
            continue
        settings[key] = payload.hex().upper()
    return settings
