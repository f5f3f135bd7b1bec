"""The Instathings config flow: form, endpoint section, errors, reauth and reconfigure."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.iot_bridge.api.instathings import (
    DEFAULT_WEBSOCKET_URL,
    normalize_api_url,
    normalize_websocket_url,
)
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.errors import FlowError
from custom_components.iot_bridge.instathings import _endpoint
from simulators.instathings import CLIENT_ID, CLIENT_SECRET, PROJECT, InstathingsSimulator

from .conftest import serve

GOOD = {"project": PROJECT, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def _endpoints(api_url: str | None = None, websocket_url: str | None = None) -> dict[str, Any]:
    """The form's collapsed endpoint section."""
    values = {"api_url": api_url, "websocket_url": websocket_url}
    return {"endpoints": {key: value for key, value in values.items() if value is not None}}


async def _form(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "instathings" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "instathings"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "instathings"
    return dict(result)


def _fields(result: dict[str, Any]) -> list[str]:
    return [str(key) for key in result["data_schema"].schema]


async def test_form_offers_endpoints_in_a_collapsed_section(hass: HomeAssistant) -> None:
    result = await _form(hass)
    assert _fields(result) == ["project", "client_id", "client_secret", "endpoints"]
    endpoints = result["data_schema"].schema["endpoints"]
    assert endpoints.options == {"collapsed": True}
    assert [str(key) for key in endpoints.schema.schema] == ["api_url", "websocket_url"]


def test_endpoints_default_to_the_documented_ones() -> None:
    assert (
        _endpoint({}, "api_url", normalize_api_url, None, "https://acme.instathings.io")
        == "https://acme.instathings.io"
    )
    assert (
        _endpoint({"websocket_url": "  "}, "websocket_url", normalize_websocket_url, None, "x")
        == "x"
    )
    # An entry keeps its own endpoint when the form does not show the field.
    assert (
        _endpoint({}, "api_url", normalize_api_url, "https://kept", "https://default")
        == "https://kept"
    )
    assert (
        _endpoint({"api_url": "https://h/x/"}, "api_url", normalize_api_url, None, "d")
        == "https://h/x"
    )
    for bad in ("http://", "http://[::1"):
        with pytest.raises(FlowError) as err:
            _endpoint({"api_url": bad}, "api_url", normalize_api_url, None, "d")
        assert (err.value.key, err.value.field) == ("invalid_url", "api_url")


async def test_user_flow_creates_entry(
    hass: HomeAssistant, base_url: str, sim: InstathingsSimulator
) -> None:
    result = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**GOOD, "project": f" {PROJECT} ", **_endpoints(f"{base_url}/", base_url)},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Instathings demo"
    assert result["data"] == {
        "vendor": "instathings",
        **GOOD,
        "api_url": base_url,
        "websocket_url": base_url,
    }
    assert result["result"].unique_id == "demo"
    # A token and the device list prove the client works.
    assert sim.request_counts["token"] >= 1
    assert sim.request_counts["devices"] >= 1
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_secret": "wrong"}, {"base": "invalid_auth"}),
        ({"client_id": "nobody"}, {"base": "invalid_auth"}),
        ({"project": "not a project!"}, {"project": "invalid_project"}),
        (_endpoints("ftp://127.0.0.1", "http://127.0.0.1"), {"api_url": "invalid_url"}),
        (_endpoints("http://127.0.0.1", "nowhere"), {"websocket_url": "invalid_url"}),
        # Credentials belong in the client fields, not in an address.
        (
            _endpoints("http://sim-client:sim-secret@127.0.0.1", "http://127.0.0.1"),
            {"api_url": "url_has_credentials"},
        ),
        (
            _endpoints("http://127.0.0.1", "wss://127.0.0.1/?access_token=eyJhbGciOi"),
            {"websocket_url": "url_has_credentials"},
        ),
        (_endpoints("http://127.0.0.1/?apiKey=1", None), {"api_url": "url_has_credentials"}),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, base_url: str, change: dict[str, str], error: dict[str, str]
) -> None:
    urls = _endpoints(base_url, base_url)
    result = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**GOOD, **urls, **change}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {**GOOD, **urls})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_user_flow_unreachable(hass: HomeAssistant, unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    result = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**GOOD, **_endpoints(url, url)}
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_flow_server_error(
    hass: HomeAssistant, base_url: str, sim: InstathingsSimulator
) -> None:
    result = await _form(hass)
    sim.fail_next(1, status=503)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**GOOD, **_endpoints(base_url, base_url)}
    )
    assert result["errors"] == {"base": "cannot_connect"}


@pytest.fixture
async def garbled_url() -> AsyncGenerator[str]:
    """A server whose token works but whose device list is not a list."""
    app = web.Application()

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "opaque"})

    async def devices(request: web.Request) -> web.Response:
        return web.json_response({"devices": "surprise"})

    app.router.add_post("/authentication/v1/oauth/token", token)
    app.router.add_get("/device/v1/devices", devices)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


async def test_user_flow_garbled_answer_is_unknown(hass: HomeAssistant, garbled_url: str) -> None:
    result = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**GOOD, **_endpoints(garbled_url, garbled_url)}
    )
    assert result["errors"] == {"base": "unknown"}


async def test_same_project_twice_aborts(
    hass: HomeAssistant, base_url: str, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        # Project names are host names: case does not make another project.
        {**GOOD, "project": "DEMO", **_endpoints(base_url, base_url)},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth_with_new_client(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    sim.client_id, sim.client_secret = "new-client", "new-secret"
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "instathings_reauth"
    assert _fields(dict(result)) == ["client_id", "client_secret"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"client_id": "new-client", "client_secret": "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"client_id": "new-client", "client_secret": "new-secret"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data["client_id"] == "new-client"
    assert init_integration.data["client_secret"] == "new-secret"
    # The endpoints stay as they were.
    assert init_integration.data["api_url"].startswith("http://127.0.0.1:")
    await hass.async_block_till_done()


async def test_reconfigure_with_empty_endpoints_keeps_them(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    sim.client_secret = "rotated"
    api_url = init_integration.data["api_url"]
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "instathings_reconfigure"
    assert _fields(dict(result)) == ["project", "client_id", "client_secret", "endpoints"]
    # The form shows the entry's own endpoints.
    endpoints = result["data_schema"].schema["endpoints"].schema.schema
    suggested = {str(key): key.description["suggested_value"] for key in endpoints}
    websocket_url = init_integration.data["websocket_url"]
    assert suggested == {"api_url": api_url, "websocket_url": websocket_url}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**GOOD, "client_secret": "rotated", **_endpoints()}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data["client_secret"] == "rotated"
    assert init_integration.data["api_url"] == api_url
    await hass.async_block_till_done()


async def test_reconfigure_moves_endpoints(
    hass: HomeAssistant, init_integration: MockConfigEntry, sim: InstathingsSimulator
) -> None:
    # The same project behind another address (an on-premise proxy, say).
    server = await serve(sim)
    try:
        new_url = f"http://127.0.0.1:{server.port}"
        result = await init_integration.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**GOOD, **_endpoints(new_url, new_url)}
        )
        assert result["reason"] == "reconfigure_successful"
        assert init_integration.data["websocket_url"] == new_url
        await hass.async_block_till_done()
    finally:
        await hass.config_entries.async_unload(init_integration.entry_id)
        await server.close()


async def test_reconfigure_of_another_project_gets_default_endpoints(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    # With empty endpoint fields another project means the documented endpoints.
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**GOOD, "project": "invalid-"}
    )
    assert result["errors"] == {"project": "invalid_project"}


async def test_reconfigure_refuses_credentials_in_an_endpoint(
    hass: HomeAssistant, init_integration: MockConfigEntry, base_url: str
) -> None:
    websocket_url = init_integration.data["websocket_url"]
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**GOOD, **_endpoints(base_url, f"{base_url}/?project=demo&access_token=secret")},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"websocket_url": "url_has_credentials"}
    assert init_integration.data["websocket_url"] == websocket_url


async def test_reconfigure_form_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**GOOD, **_endpoints(url, DEFAULT_WEBSOCKET_URL)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_rest_flow_api_takes_the_endpoint_section(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, base_url: str
) -> None:
    """What scripts/demo.py does: the REST flow API, endpoints nested in their section."""
    assert await async_setup_component(hass, "config", {})
    # The integration's own dependencies (webhook) register routes before the server starts.
    assert await async_setup_component(hass, DOMAIN, {})
    client = await hass_client()
    base = "/api/config/config_entries/flow"
    resp = await client.post(base, json={"handler": DOMAIN})
    flow = await resp.json()
    resp = await client.post(f"{base}/{flow['flow_id']}", json={"next_step_id": "instathings"})
    form = await resp.json()
    fields = {field["name"]: field for field in form["data_schema"]}
    assert list(fields) == ["project", "client_id", "client_secret", "endpoints"]
    assert fields["endpoints"]["type"] == "expandable"
    assert [field["name"] for field in fields["endpoints"]["schema"]] == [
        "api_url",
        "websocket_url",
    ]
    resp = await client.post(
        f"{base}/{flow['flow_id']}", json={**GOOD, **_endpoints(base_url, base_url)}
    )
    result = await resp.json()
    assert result["type"] == "create_entry"
    assert result["title"] == "Instathings demo"
    await hass.async_block_till_done()
