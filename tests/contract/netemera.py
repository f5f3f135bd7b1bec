"""Netemera: the simulated authorization and application servers on one port."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.netemera import NetemeraSimulator

from .base import ServedHarness

CLIENT_ID = "contract-client-8d41"
CLIENT_SECRET = "contract-secret-0e6f9b27"
NEW_SECRET = "contract-secret-rotated-c3a5"
APPLICATION_ID = "sim-app"


class NetemeraHarness(ServedHarness):
    key = "netemera"
    store_names = ("netemera",)
    entity_id = "sensor.end_device_70b3d5ca40000000_frame_counter"
    # The stream may be down this long before entities are unavailable (its grace
    # period), reconnect attempts included.
    outage = timedelta(minutes=5)

    async def async_start(self) -> None:
        self.sim = NetemeraSimulator(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, application_id=APPLICATION_ID
        )
        self.sim.keepalive_interval = 5.0
        # Every device reports once, so set-up finds them all in the last hour's history.
        self.sim.tick()
        self.freezer.tick(timedelta(seconds=1))
        self.server = self.serve(self.sim.make_app)
        await self.server.start()

    def config_entry(self) -> MockConfigEntry:
        api_url = f"{self.server.url}/api/v3"
        return self.mock_entry(
            f"Netemera {APPLICATION_ID}",
            # The application server's address without its scheme, and the application.
            f"{api_url.removeprefix('http://')}/{APPLICATION_ID}",
            {
                "vendor": self.key,
                "auth_url": self.server.url,
                "api_url": api_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "application_id": APPLICATION_ID,
            },
        )

    def secrets(self, entry: MockConfigEntry) -> list[str]:
        return [entry.data["client_id"], entry.data["client_secret"]]

    def issued_tokens(self) -> list[str]:
        return list(self.sim.issued_tokens)

    def refuse_credentials(self) -> None:
        self.sim.client_secret = NEW_SECRET
        self.sim.expire_tokens()

    def new_credentials(self) -> dict[str, Any]:
        return {"client_id": CLIENT_ID, "client_secret": NEW_SECRET}

    def refused_credentials(self) -> dict[str, Any]:
        return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}

    async def async_other_device(self) -> dict[str, Any]:
        other = NetemeraSimulator(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, application_id="another-app"
        )
        server = self.serve(other.make_app)
        await server.start()
        return {
            "auth_url": server.url,
            "api_url": f"{server.url}/api/v3",
            "application_id": "another-app",
        }

    async def async_live(self, entry: MockConfigEntry) -> None:
        await self.async_stream_live(entry)
