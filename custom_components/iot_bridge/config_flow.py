"""One config flow for every vendor: a menu, then the vendor's own form."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback

from .const import CONF_VENDOR, DOMAIN, LOGGER
from .errors import FlowError
from .vendor import EntryDraft, FollowUp, Vendor
from .vendors import VENDORS, vendor_for


class IotBridgeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Menu of vendors; each vendor step validates against the vendor itself."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with no vendor chosen."""
        self._vendor: Vendor[Any] | None = None
        self._follow_up: FollowUp | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Return the vendor's options flow."""
        flow = vendor_for(config_entry.data).options_flow(config_entry)
        if flow is None:  # pragma: no cover - guarded by async_supports_options_flow
            raise ValueError("vendor has no options")
        return flow

    @classmethod
    @callback
    def async_supports_options_flow(cls, config_entry: ConfigEntry) -> bool:
        """Offer options only for vendors that have some."""
        return vendor_for(config_entry.data).options_flow(config_entry) is not None

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask which vendor to add."""
        return self.async_show_menu(step_id="user", menu_options=list(VENDORS))

    async def async_step_egauge(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add an eGauge meter."""
        return await self._async_step_vendor("egauge", user_input)

    async def async_step_enapter(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add an Enapter site (cloud or local gateway)."""
        return await self._async_step_vendor("enapter", user_input)

    async def async_step_enapter_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose which of the token's Enapter sites to add."""
        return await self._async_step_follow_up(user_input)

    async def async_step_efento(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add an Efento gateway (it will POST to Home Assistant)."""
        return await self._async_step_vendor("efento", user_input)

    async def async_step_instathings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add an Instathings project."""
        return await self._async_step_vendor("instathings", user_input)

    async def async_step_netemera(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add a Netemera LoRaWAN application (uplinks over SSE)."""
        return await self._async_step_vendor("netemera", user_input)

    # --- the generic steps ----------------------------------------------------

    async def _async_step_vendor(
        self, key: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show a vendor's form, validate it, and create the entry."""
        vendor = self._vendor = VENDORS[key]
        errors: dict[str, str] = {}
        if user_input is not None:
            outcome = await self._async_validate(
                vendor.async_validate(self.hass, user_input, None), errors
            )
            if outcome is not None:
                return await self._async_handle_outcome(outcome)
        schema = self.add_suggested_values_to_schema(vendor.user_schema(), user_input or {})
        return self.async_show_form(step_id=key, data_schema=schema, errors=errors)

    async def _async_step_follow_up(self, user_input: dict[str, Any] | None) -> ConfigFlowResult:
        """Show or finish a vendor's further form (e.g. which site)."""
        follow_up = self._follow_up
        assert follow_up is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            outcome = await self._async_validate(follow_up.finish(user_input), errors)
            if outcome is not None:
                return await self._async_handle_outcome(outcome)
        return self.async_show_form(
            step_id=follow_up.step_id,
            data_schema=follow_up.schema,
            errors=errors,
            description_placeholders=follow_up.placeholders,
        )

    @staticmethod
    async def _async_validate(
        validation: Awaitable[EntryDraft | FollowUp], errors: dict[str, str]
    ) -> EntryDraft | FollowUp | None:
        """Await a vendor's validation; record a form error instead of raising."""
        try:
            return await validation
        except FlowError as err:
            errors[err.field] = err.key
        except Exception:  # noqa: BLE001 - any surprise must still end as a form error
            LOGGER.exception("Unexpected error while validating the form")
            errors["base"] = "unknown"
        return None

    async def _async_handle_outcome(self, outcome: EntryDraft | FollowUp) -> ConfigFlowResult:
        if isinstance(outcome, FollowUp):
            self._follow_up = outcome
            return await self._async_step_follow_up(None)
        return await self._async_finish(outcome)

    async def _async_finish(self, draft: EntryDraft) -> ConfigFlowResult:
        """Create the entry, or update it when re-authenticating or reconfiguring."""
        vendor = self._vendor
        assert vendor is not None
        await self.async_set_unique_id(draft.unique_id)
        data = {CONF_VENDOR: vendor.key, **draft.data}
        if self.source == SOURCE_REAUTH:
            self._abort_if_unique_id_mismatch(reason="wrong_device")
            return self.async_update_reload_and_abort(self._get_reauth_entry(), data=data)
        if self.source == SOURCE_RECONFIGURE:
            self._abort_if_unique_id_mismatch(reason="wrong_device")
            result = self.async_update_reload_and_abort(
                self._get_reconfigure_entry(), data=data, title=draft.title
            )
            if not draft.placeholders:
                return result
            # Settings the user must keep copying elsewhere are shown again.
            shown = result.copy()
            shown["reason"] = f"{vendor.key}_reconfigured"
            shown["description_placeholders"] = draft.placeholders
            return shown
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=draft.title,
            data=data,
            description=vendor.key if draft.placeholders else None,
            description_placeholders=draft.placeholders,
        )

    # --- reauth: one form per vendor, asking only for its credentials ------------

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start re-authentication when the vendor refused our credentials."""
        vendor = self._vendor = vendor_for(entry_data)
        if vendor.reauth_schema() is None:
            return self.async_abort(reason="reauth_not_supported")
        return await self._async_step_reauth_form(None)

    async def async_step_egauge_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New credentials of the meter's user."""
        return await self._async_step_reauth_form(user_input)

    async def async_step_enapter_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new Enapter API token."""
        return await self._async_step_reauth_form(user_input)

    async def async_step_instathings_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A new Instathings API client."""
        return await self._async_step_reauth_form(user_input)

    async def async_step_netemera_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """New Netemera client credentials."""
        return await self._async_step_reauth_form(user_input)

    async def _async_step_reauth_form(self, user_input: dict[str, Any] | None) -> ConfigFlowResult:
        """Ask for new credentials and check them against the entry's device or account."""
        entry = self._get_reauth_entry()
        vendor = self._vendor = vendor_for(entry.data)
        schema = vendor.reauth_schema()
        assert schema is not None  # async_step_reauth aborts for vendors without one
        errors: dict[str, str] = {}
        if user_input is not None:
            current = dict(entry.data)
            outcome = await self._async_validate(
                vendor.async_validate(self.hass, {**_form_fields(current), **user_input}, current),
                errors,
            )
            if outcome is not None:
                return await self._async_handle_outcome(outcome)
        return self.async_show_form(
            step_id=f"{vendor.key}_reauth",
            data_schema=schema,
            errors=errors,
            description_placeholders={"name": entry.title},
        )

    # --- reconfigure: the vendor's own form, prefilled --------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change an entry's settings; it must stay the same device or account."""
        return await self._async_step_reconfigure_form(None)

    async def async_step_egauge_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Another address or user for the same meter."""
        return await self._async_step_reconfigure_form(user_input)

    async def async_step_enapter_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Another URL or token for the same site (cloud or its gateway)."""
        return await self._async_step_reconfigure_form(user_input)

    async def async_step_efento_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Rename the gateway; its endpoints and token stay."""
        return await self._async_step_reconfigure_form(user_input)

    async def async_step_instathings_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Another API client or endpoints for the same project."""
        return await self._async_step_reconfigure_form(user_input)

    async def async_step_netemera_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Other credentials for the same application."""
        return await self._async_step_reconfigure_form(user_input)

    async def _async_step_reconfigure_form(
        self, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        vendor = self._vendor = vendor_for(entry.data)
        errors: dict[str, str] = {}
        if user_input is not None:
            outcome = await self._async_validate(
                vendor.async_validate(self.hass, user_input, dict(entry.data)), errors
            )
            if outcome is not None:
                return await self._async_handle_outcome(outcome)
        schema = self.add_suggested_values_to_schema(
            vendor.user_schema(), user_input or vendor.form_values(_form_fields(entry.data))
        )
        return self.async_show_form(
            step_id=f"{vendor.key}_reconfigure",
            data_schema=schema,
            errors=errors,
            description_placeholders={"name": entry.title},
        )


def _form_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data without the bookkeeping the flow adds itself."""
    return {key: value for key, value in data.items() if key != CONF_VENDOR}
