"""Enapter: the simulated cloud API; the entry holds an API token and one site."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.enapter import EnapterSimulator

from .base import ServedHarness

TOKEN = "contract-enapter-token-3e5d8a0c"
NEW_TOKEN = "contract-enapter-token-rotated-b41f"


class EnapterHarness(ServedHarness):
    key = "enapter"
    entity_id = "sensor.electrolyser_el_2_1_stack_temperature"
    # Polled every 30 s: one failed poll makes the entities unavailable.
    outage = timedelta(minutes=2)

    async def async_start(self) -> None:
        self.sim = EnapterSimulator(page_size=2)
        self.sim.valid_tokens = {TOKEN}
        self.site_id = next(iter(self.sim.sites))
        self.server = self.serve(self.sim.make_app)
        await self.server.start()

    def config_entry(self) -> MockConfigEntry:
        site = self.sim.sites[self.site_id]
        return self.mock_entry(
            site.name,
            site.id,
            {
                "vendor": self.key,
                "url": self.server.url,
                "api_token": TOKEN,
                "verify_ssl": True,
                "site_id": site.id,
                "site_name": site.name,
                "gateway": False,
            },
        )

    def secrets(self, entry: MockConfigEntry) -> list[str]:
        return [entry.data["api_token"]]

    def refuse_credentials(self) -> None:
        self.sim.valid_tokens = {NEW_TOKEN}

    def new_credentials(self) -> dict[str, Any]:
        return {"api_token": NEW_TOKEN}

    def refused_credentials(self) -> dict[str, Any]:
        return {"api_token": TOKEN}

    async def async_other_device(self) -> dict[str, Any]:
        # Another account: the same token there sees only a site of its own.
        other = EnapterSimulator(with_demo_devices=False)
        site = other.add_site("Another Account")
        other.add_device("meter", site.id, name="Another Meter")
        other.valid_tokens = {TOKEN}
        server = self.serve(other.make_app)
        await server.start()
        return {"url": server.url}
