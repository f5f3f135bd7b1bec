"""eGauge: a simulated meter; the entry logs in with a user name and password."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.egauge import EgaugeSimulator, SimUser

from .base import ServedHarness

USER = "contract-user-5b1e"
PASSWORD = "contract-pass-9f3c0d"
NEW_PASSWORD = "contract-pass-rotated-71aa"


def _meter(serial: str, hostname: str) -> EgaugeSimulator:
    meter = EgaugeSimulator(serial=serial, hostname=hostname)
    meter.users[USER] = SimUser(PASSWORD, ("save", "ctrl"))
    return meter


class EgaugeHarness(ServedHarness):
    key = "egauge"
    store_names = ("egauge_energy",)
    entity_id = "sensor.egauge12345_grid"
    # Polled every 30 s: one failed poll makes the entities unavailable.
    outage = timedelta(minutes=2)

    async def async_start(self) -> None:
        self.sim = _meter("G12345678", "egauge12345")
        self.server = self.serve(self.sim.make_app)
        await self.server.start()

    def config_entry(self) -> MockConfigEntry:
        return self.mock_entry(
            self.sim.hostname,
            self.sim.serial,
            {
                "vendor": self.key,
                "url": self.server.url,
                "username": USER,
                "password": PASSWORD,
                "verify_ssl": True,
            },
        )

    def secrets(self, entry: MockConfigEntry) -> list[str]:
        return [entry.data["username"], entry.data["password"]]

    def issued_tokens(self) -> list[str]:
        return list(self.sim.issued_tokens)

    def refuse_credentials(self) -> None:
        self.sim.users[USER].password = NEW_PASSWORD
        self.sim.revoke_all_tokens()

    def new_credentials(self) -> dict[str, Any]:
        return {"username": USER, "password": NEW_PASSWORD}

    def refused_credentials(self) -> dict[str, Any]:
        return {"username": USER, "password": PASSWORD}

    async def async_other_device(self) -> dict[str, Any]:
        other = self.serve(_meter("G99999999", "egauge99999").make_app)
        await other.start()
        return {"url": other.url}
