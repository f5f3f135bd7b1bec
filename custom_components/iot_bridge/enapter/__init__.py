"""Enapter sites (electrolysers, batteries, meters, gateways) through HTTP API v3.

The same entry works against Enapter Cloud and a local Enapter Gateway: both
serve API v3, the gateway under ``/api`` with exactly one site.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry, OptionsFlow
from homeassistant.const import CONF_API_TOKEN, CONF_URL, CONF_VERIFY_SSL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from ..api.enapter import DEFAULT_CLOUD_URL, EnapterClient, EnapterSite, normalize_url
from ..api.errors import ApiError
from ..compat import vol
from ..descriptions import IotBridgeEntityDescription
from ..energy_history_options import HistoryOptionsFlow
from ..errors import FlowError, flow_error_for, refuse_credentials_in_url
from ..vendor import SECRET_SELECTOR, EntryDraft, FollowUp, Vendor, VendorConfigEntry
from .coordinator import MAX_URL_LENGTH, EnapterCoordinator
from .entities import entity_descriptions
from .history import EnapterEnergyHistory

CONF_SITE = "site"
CONF_SITE_ID = "site_id"
CONF_SITE_NAME = "site_name"
CONF_GATEWAY = "gateway"
SITE_STEP = "enapter_site"


def _client(hass: HomeAssistant, data: Mapping[str, Any]) -> EnapterClient:
    # A gateway reached over https usually has a self-signed certificate.
    session = async_get_clientsession(hass, verify_ssl=data.get(CONF_VERIFY_SSL, True))
    return EnapterClient(
        session, data[CONF_URL], data[CONF_API_TOKEN], max_url_length=MAX_URL_LENGTH
    )


class EnapterVendor(Vendor[EnapterCoordinator]):
    """Enapter: one entry per site, identified by the site's id."""

    key = "enapter"
    platforms = (
        Platform.BINARY_SENSOR,
        Platform.BUTTON,
        Platform.NUMBER,
        Platform.SELECT,
        Platform.SENSOR,
        Platform.SWITCH,
    )
    secret_keys = frozenset({CONF_API_TOKEN})

    def user_schema(self) -> vol.Schema:
        """API URL (cloud by default), token and certificate check."""
        return vol.Schema(
            {
                vol.Required(CONF_URL, default=DEFAULT_CLOUD_URL): str,
                vol.Required(CONF_API_TOKEN): SECRET_SELECTOR,
                vol.Required(CONF_VERIFY_SSL, default=True): bool,
            }
        )

    def reauth_schema(self) -> vol.Schema:
        """A new API token."""
        return vol.Schema({vol.Required(CONF_API_TOKEN): SECRET_SELECTOR})

    async def async_validate(
        self,
        hass: HomeAssistant,
        user_input: dict[str, Any],
        current: Mapping[str, Any] | None,
    ) -> EntryDraft | FollowUp:
        """Check the token by listing its sites; ask which one when there are several."""
        text = (user_input.get(CONF_URL) or "").strip() or DEFAULT_CLOUD_URL
        refuse_credentials_in_url(text, CONF_URL)
        try:
            url = normalize_url(text)
        except ValueError as err:
            raise FlowError("invalid_url", CONF_URL) from err
        data = {
            CONF_URL: url,
            CONF_API_TOKEN: user_input[CONF_API_TOKEN].strip(),
            CONF_VERIFY_SSL: user_input.get(CONF_VERIFY_SSL, True),
        }
        client = _client(hass, data)
        try:
            sites = await client.list_sites()
        except ApiError as err:
            raise flow_error_for(err) from err
        if not sites:
            raise FlowError("no_devices")

        async def finish(site: EnapterSite) -> EntryDraft:
            gateway = bool(client.is_gateway)
            try:
                devices = await client.list_devices(None if gateway else site.id)
            except ApiError as err:
                raise flow_error_for(err) from err
            if not devices:
                raise FlowError("no_devices")
            return EntryDraft(
                title=site.name,
                unique_id=site.id,
                data={
                    **data,
                    CONF_SITE_ID: site.id,
                    CONF_SITE_NAME: site.name,
                    CONF_GATEWAY: gateway,
                },
            )

        # Re-authenticating or reconfiguring: stay on the entry's site when the token sees it.
        known = next(
            (site for site in sites if current and site.id == current.get(CONF_SITE_ID)), None
        )
        if known is not None:
            return await finish(known)
        if len(sites) == 1:
            return await finish(sites[0])
        by_id = {site.id: site for site in sites}

        async def chosen(user_input: dict[str, Any]) -> EntryDraft:
            return await finish(by_id.get(user_input.get(CONF_SITE, ""), sites[0]))

        options = [SelectOptionDict(value=site.id, label=site.name) for site in sites]
        return FollowUp(
            step_id=SITE_STEP,
            schema=vol.Schema(
                {
                    vol.Required(CONF_SITE, default=sites[0].id): SelectSelector(
                        SelectSelectorConfig(options=options, mode=SelectSelectorMode.LIST)
                    )
                }
            ),
            finish=chosen,
            placeholders={"count": str(len(sites))},
        )

    async def async_setup_entry(
        self, hass: HomeAssistant, entry: VendorConfigEntry[EnapterCoordinator]
    ) -> EnapterCoordinator:
        """List the site's devices and read their telemetry once."""
        data = entry.data
        site = EnapterSite(id=data[CONF_SITE_ID], name=data.get(CONF_SITE_NAME) or entry.title)
        coordinator = EnapterCoordinator(
            hass, entry, _client(hass, data), site, gateway=bool(data.get(CONF_GATEWAY))
        )
        await coordinator.async_config_entry_first_refresh()
        return coordinator

    def entity_descriptions(
        self, coordinator: EnapterCoordinator, platform: Platform
    ) -> Iterable[tuple[str, IotBridgeEntityDescription]]:
        """Every listed device's entities of the platform, as its manifest calls for."""
        return entity_descriptions(coordinator.devices, platform)

    def options_flow(self, entry: ConfigEntry[Any]) -> OptionsFlow:
        """How many days of the counters' history the energy statistics start with."""
        return HistoryOptionsFlow()

    def energy_history(self, coordinator: EnapterCoordinator) -> EnapterEnergyHistory:
        """The energy counters' hours from the cloud's telemetry history."""
        return EnapterEnergyHistory(coordinator)
