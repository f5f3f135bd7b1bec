"""The Efento flow: generated path and token, settings shown again, token rotation."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.network import NoURLAvailableError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.efento.server_settings import SERVER_HINT
from simulators.efento_gateway import EmulatedGateway

from .conftest import TOKEN, WEBHOOK_ID, GatewayFactory


async def _create(hass: HomeAssistant, user_input: dict[str, str]) -> dict:  # type: ignore[type-arg]
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "efento" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "efento"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "efento"
    assert result["errors"] == {}
    return await hass.config_entries.flow.async_configure(result["flow_id"], user_input)  # type: ignore[return-value]


async def test_create_entry_generates_path_and_token(hass: HomeAssistant) -> None:
    result = await _create(hass, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Efento gateway"
    assert result["description"] == "efento"
    data = result["data"]
    assert data["vendor"] == "efento"
    webhook_id, token = data["webhook_id"], data["token"]
    assert len(webhook_id) >= 32
    assert len(token) >= 40
    assert result["result"].unique_id == webhook_id
    placeholders = result["description_placeholders"]
    assert placeholders["measurements_url"] == f"/api/iot_bridge/efento/{webhook_id}/measurements"
    assert placeholders["heartbeat_url"] == f"/api/iot_bridge/efento/{webhook_id}/heartbeat"
    assert placeholders["token"] == token
    assert placeholders["server"]
    await hass.async_block_till_done()


async def test_several_gateways_get_their_own_path_and_token(hass: HomeAssistant) -> None:
    first = await _create(hass, {"name": "Cold room"})
    second = await _create(hass, {"name": "Warehouse"})
    assert first["title"] == "Cold room"
    assert first["data"]["name"] == "Cold room"
    assert second["title"] == "Warehouse"
    assert first["data"]["webhook_id"] != second["data"]["webhook_id"]
    assert first["data"]["token"] != second["data"]["token"]
    await hass.async_block_till_done()
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


async def test_server_address_shown_when_known(hass: HomeAssistant) -> None:
    hass.config.internal_url = "http://homeassistant.local:8123"
    result = await _create(hass, {})
    assert result["description_placeholders"]["server"] == "http://homeassistant.local:8123"
    await hass.async_block_till_done()


async def test_server_hint_when_address_unknown(hass: HomeAssistant) -> None:
    with patch(
        "custom_components.iot_bridge.efento.server_settings.get_url",
        side_effect=NoURLAvailableError,
    ):
        result = await _create(hass, {})
    assert result["description_placeholders"]["server"] == SERVER_HINT
    await hass.async_block_till_done()


async def test_reconfigure_keeps_path_and_token_and_shows_them(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "efento_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Cold room"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "efento_reconfigured"
    placeholders = result["description_placeholders"]
    assert placeholders["token"] == TOKEN
    assert placeholders["measurements_url"].startswith("/")
    assert WEBHOOK_ID in placeholders["heartbeat_url"]
    await hass.async_block_till_done()
    assert init_integration.title == "Cold room"
    assert init_integration.data["token"] == TOKEN
    assert init_integration.data["webhook_id"] == WEBHOOK_ID
    assert init_integration.unique_id == WEBHOOK_ID


async def test_reconfigure_without_name_uses_default_title(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "  "})
    assert result["reason"] == "efento_reconfigured"
    await hass.async_block_till_done()
    assert init_integration.title == "Efento gateway"
    assert "name" not in init_integration.data


async def test_options_show_settings_without_rotating(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "efento_settings"
    assert result["description_placeholders"]["token"] == TOKEN
    assert WEBHOOK_ID in result["description_placeholders"]["measurements_url"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"rotate_token": False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.data["token"] == TOKEN


async def test_options_rotate_token(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_gateway: GatewayFactory
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"rotate_token": True}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "efento_rotated"
    new_token = init_integration.data["token"]
    assert new_token != TOKEN
    assert len(new_token) >= 40
    assert result["description_placeholders"]["token"] == new_token
    assert init_integration.data["webhook_id"] == WEBHOOK_ID
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY

    # The old token stops working at once; the gateway keeps the message and
    # delivers it as soon as it has the new one.
    old: EmulatedGateway = await make_gateway(token=TOKEN)
    assert not await old.send_measurements()
    assert old.replies[-1].status == 401
    assert len(old.pending) == 1
    old.token = new_token
    assert await old.flush()
    assert old.replies[-1].status == 201
