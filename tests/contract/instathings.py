"""Instathings: the simulated cloud (REST and websocket on one port); an API client."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.instathings import InstathingsSimulator

from .base import ServedHarness

CLIENT_ID = "contract-client-2c7e"
CLIENT_SECRET = "contract-secret-a90b4f1e"
NEW_SECRET = "contract-secret-rotated-6d02"


class InstathingsHarness(ServedHarness):
    key = "instathings"
    entity_id = "sensor.living_room_temperature"
    # The websocket may be down this long before entities are unavailable (its grace
    # period), reconnect attempts included.
    outage = timedelta(minutes=5)

    async def async_start(self) -> None:
        self.sim = InstathingsSimulator(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, seed=1, history=5
        )
        self.server = self.serve(self.sim.make_app)
        await self.server.start()

    def config_entry(self) -> MockConfigEntry:
        return self.mock_entry(
            f"Instathings {self.sim.project}",
            self.sim.project,
            {
                "vendor": self.key,
                "project": self.sim.project,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "api_url": self.server.url,
                "websocket_url": self.server.url,
            },
        )

    def secrets(self, entry: MockConfigEntry) -> list[str]:
        return [entry.data["client_id"], entry.data["client_secret"]]

    def issued_tokens(self) -> list[str]:
        return list(self.sim.issued_tokens)

    def refuse_credentials(self) -> None:
        self.sim.client_secret = NEW_SECRET
        self.sim.expire_all_tokens()

    def new_credentials(self) -> dict[str, Any]:
        return {"client_id": CLIENT_ID, "client_secret": NEW_SECRET}

    def refused_credentials(self) -> dict[str, Any]:
        return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}

    async def async_other_device(self) -> dict[str, Any]:
        other = InstathingsSimulator(
            project="another-project", client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        server = self.serve(other.make_app)
        await server.start()
        return {"project": other.project, "api_url": server.url, "websocket_url": server.url}

    async def async_live(self, entry: MockConfigEntry) -> None:
        await self.async_stream_live(entry)
