"""eGauge energy meters, polled through the meter's local WebAPI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry, OptionsFlow
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from ..api.egauge import EgaugeClient, normalize_url
from ..api.errors import ApiError
from ..compat import vol
from ..descriptions import IotBridgeEntityDescription
from ..energy_history_options import HistoryOptionsFlow
from ..errors import FlowError, flow_error_for, refuse_credentials_in_url, setup_error_for
from ..vendor import SECRET_SELECTOR, EntryDraft, Vendor, VendorConfigEntry
from .coordinator import METER, EgaugeCoordinator
from .entities import meter_sensor_descriptions
from .history import EgaugeEnergyHistory


def _client(hass: HomeAssistant, data: Mapping[str, Any]) -> EgaugeClient:
    # Meters usually have self-signed certificates: the user may turn checks off.
    session = async_get_clientsession(hass, verify_ssl=data.get(CONF_VERIFY_SSL, True))
    return EgaugeClient(session, data[CONF_URL], data[CONF_USERNAME], data[CONF_PASSWORD])


class EgaugeVendor(Vendor[EgaugeCoordinator]):
    """eGauge: one entry per meter, identified by its serial number."""

    key = "egauge"
    platforms = (Platform.SENSOR,)
    store_names = ("egauge_energy",)
    secret_keys = frozenset({CONF_PASSWORD, CONF_USERNAME})

    def user_schema(self) -> vol.Schema:
        """URL, credentials and whether to check the meter's certificate."""
        return vol.Schema(
            {
                vol.Required(CONF_URL): str,
                vol.Required(CONF_USERNAME): str,
                vol.Required(CONF_PASSWORD): SECRET_SELECTOR,
                vol.Required(CONF_VERIFY_SSL, default=True): bool,
            }
        )

    def reauth_schema(self) -> vol.Schema:
        """A new user name and password."""
        return vol.Schema(
            {
                vol.Required(CONF_USERNAME): str,
                vol.Required(CONF_PASSWORD): SECRET_SELECTOR,
            }
        )

    async def async_validate(
        self,
        hass: HomeAssistant,
        user_input: dict[str, Any],
        current: Mapping[str, Any] | None,
    ) -> EntryDraft:
        """Log in, read the meter's identity and one reading."""
        text = user_input[CONF_URL].strip()
        refuse_credentials_in_url(text, CONF_URL)
        try:
            url = normalize_url(text)
        except ValueError as err:
            raise FlowError("invalid_url", CONF_URL) from err
        data = {
            CONF_URL: url,
            CONF_USERNAME: user_input[CONF_USERNAME],
            CONF_PASSWORD: user_input[CONF_PASSWORD],
            CONF_VERIFY_SSL: user_input.get(CONF_VERIFY_SSL, True),
        }
        client = _client(hass, data)
        try:
            await client.login()
            identity = await client.get_identity()
            # Reading registers proves the user has the rights the entry needs.
            await client.get_readings()
        except ApiError as err:
            raise flow_error_for(err) from err
        finally:
            await client.close()
        return EntryDraft(
            title=identity.hostname or f"eGauge {identity.serial}",
            unique_id=identity.serial,
            data=data,
        )

    def options_flow(self, entry: ConfigEntry[Any]) -> OptionsFlow:
        """How many days of the meter's history the energy statistics start with."""
        return HistoryOptionsFlow()

    async def async_setup_entry(
        self, hass: HomeAssistant, entry: VendorConfigEntry[EgaugeCoordinator]
    ) -> EgaugeCoordinator:
        """Log in, read the identity and run the first poll."""
        client = _client(hass, entry.data)
        try:
            await client.login()
            identity = await client.get_identity()
        except ApiError as err:
            raise setup_error_for(err) from err
        coordinator = EgaugeCoordinator(hass, entry, client, identity)
        await coordinator.async_config_entry_first_refresh()
        return coordinator

    def entity_descriptions(
        self, coordinator: EgaugeCoordinator, platform: Platform
    ) -> Iterable[tuple[str, IotBridgeEntityDescription]]:
        """Every register's sensors; eGauge has no other platforms."""
        if platform is not Platform.SENSOR or coordinator.data is None:
            return ()
        return ((METER, description) for description in meter_sensor_descriptions(coordinator.data))

    def energy_history(self, coordinator: EgaugeCoordinator) -> EgaugeEnergyHistory:
        """Hourly energy statistics from the meter's own minute history."""
        return EgaugeEnergyHistory(coordinator)
