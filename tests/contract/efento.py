"""Efento: an emulated gateway that POSTs to Home Assistant's own HTTP server.

Here Home Assistant is the server. The entry's identity (its webhook id) and the
gateway's token are generated, so there are no credentials for Home Assistant to
re-authenticate and no other device to reconfigure the entry to. The gateway's
paths are read from the entry's options, which show the gateway's server settings.
"""

from __future__ import annotations

from datetime import timedelta
import secrets

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.efento_gateway import EmulatedGateway

from .base import HttpClientFactory, Outage, VendorHarness


class EfentoHarness(VendorHarness):
    key = "efento"
    store_names = ("efento",)
    has_credentials = False
    reaches_other_devices = False
    calls_home_assistant = True
    entity_id = "sensor.efento_282c024fffb1_temperature"
    # A logger is due again 3 minutes after a measurement, with 10 minutes of grace.
    outage = timedelta(minutes=30)

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        http_client: HttpClientFactory,
    ) -> None:
        """Generate the entry's webhook id and the gateway's token."""
        super().__init__(hass, freezer, http_client)
        self.webhook_id = secrets.token_hex(32)
        self.token = secrets.token_urlsafe(32)
        self.gateway: EmulatedGateway | None = None
        self._entry: MockConfigEntry | None = None
        self._wrong_token = False

    async def async_start(self) -> None:
        # The gateway needs Home Assistant's HTTP server before any entry exists.
        assert await async_setup_component(self.hass, "http", {})

    async def async_close(self) -> None:
        self.gateway = None

    def config_entry(self) -> MockConfigEntry:
        return self.mock_entry(
            "Efento gateway",
            self.webhook_id,
            {"vendor": self.key, "webhook_id": self.webhook_id, "token": self.token},
        )

    def secrets(self, entry: MockConfigEntry) -> list[str]:
        return [self.webhook_id, self.token]

    def refuse_credentials(self) -> None:
        """The gateway presents a token that Home Assistant does not know."""
        self._wrong_token = True
        if self.gateway is not None:
            self.gateway.token = secrets.token_urlsafe(32)

    async def async_drop_connections(self) -> None:
        """Home Assistant holds no connection to the gateway: nothing to drop."""

    async def async_source_down(self, outage: Outage = "unreachable") -> None:
        """The gateway goes quiet (it only ever calls in)."""

    async def async_source_up(self) -> None:
        """The gateway reports again."""
        assert self._entry is not None
        assert set(await self.async_push(self._entry)) == {201}

    async def async_live(self, entry: MockConfigEntry) -> None:
        assert set(await self.async_push(entry)) == {201}

    def undelivered(self) -> int:
        return 0 if self.gateway is None else len(self.gateway.pending)

    async def async_gateway(self, entry: MockConfigEntry) -> EmulatedGateway:
        """The gateway, set up with the paths and token the entry's options show."""
        self._entry = entry
        if self.gateway is not None:
            return self.gateway
        flows = self.hass.config_entries.options
        shown = await flows.async_init(entry.entry_id)
        flows.async_abort(shown["flow_id"])
        settings = shown["description_placeholders"]
        assert settings is not None
        client = await self.http_client()
        self.gateway = EmulatedGateway(
            client.session,
            str(client.make_url("/")).rstrip("/"),
            settings["measurements_url"],
            settings["heartbeat_url"],
            settings["token"] if not self._wrong_token else secrets.token_urlsafe(32),
            loggers=3,
            # The clock is frozen: a real 5-minute pause would never end.
            pause_on_503=0,
        )
        return self.gateway

    async def async_push(self, entry: MockConfigEntry) -> list[int | None]:
        """Measure and send a heartbeat; return the status of every POST that was tried.

        The gateway keeps whatever was not answered 201 and sends it first next time.
        """
        gateway = await self.async_gateway(entry)
        before = len(gateway.replies)
        gateway.enqueue("measurements", gateway.measurements_path, gateway.measurements_payload())
        gateway.enqueue("heartbeat", gateway.heartbeat_path, gateway.heartbeat_payload())
        await gateway.flush(max_attempts=len(gateway.pending) + 1)
        await self.hass.async_block_till_done()
        return [reply.status for reply in gateway.replies[before:]]
