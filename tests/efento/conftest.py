"""An Efento entry and an emulated gateway POSTing to Home Assistant's HTTP server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine
from datetime import datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.efento.view import heartbeat_path, measurements_path
from simulators.efento_gateway import EmulatedGateway

WEBHOOK_ID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
TOKEN = "s3cret-organization-token-for-tests-only-1234"
# Fixed, so that snapshots of unique ids (built from it) are stable.
ENTRY_ID = "01JAEFENT0GATEWAYENTRY0001"
# Three minutes after the documentation's example measurements were taken.
NOW = datetime(2024, 10, 12, 15, 31, 21, tzinfo=dt_util.UTC)

type GatewayFactory = Callable[..., Coroutine[Any, Any, EmulatedGateway]]


@pytest.fixture(autouse=True)
def frozen_time(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    freezer.move_to(NOW)
    return freezer


@pytest.fixture
def config_entry() -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id=ENTRY_ID,
        title="Efento gateway",
        unique_id=WEBHOOK_ID,
        data={"vendor": "efento", "webhook_id": WEBHOOK_ID, "token": TOKEN},
    )


@pytest.fixture
async def init_integration(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
async def make_gateway(
    hass: HomeAssistant, hass_client_no_auth: ClientSessionGenerator
) -> AsyncGenerator[GatewayFactory]:
    """Build emulated gateways that POST over real HTTP to Home Assistant's app."""

    async def factory(
        *, token: str = TOKEN, webhook_id: str = WEBHOOK_ID, **kwargs: Any
    ) -> EmulatedGateway:
        client = await hass_client_no_auth()
        # Time is frozen in these tests: a real pause would never end.
        kwargs.setdefault("pause_on_503", 0)
        kwargs.setdefault("loggers", 3)
        return EmulatedGateway(
            client.session,
            str(client.make_url("/")).rstrip("/"),
            measurements_path(webhook_id),
            heartbeat_path(webhook_id),
            token,
            **kwargs,
        )

    return factory


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> EmulatedGateway:
    return await make_gateway()
