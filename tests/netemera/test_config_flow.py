"""The Netemera form: token + history check, every error, reauth and reconfigure."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from simulators.netemera import NetemeraSimulator


def form(base_url: str, **changes: str) -> dict[str, Any]:
    return {
        "auth_url": base_url,
        "api_url": f"{base_url}/api/v3",
        "client_id": "sim-client",
        "client_secret": "sim-secret",
        "application_id": "sim-app",
        **changes,
    }


async def _netemera_form(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "netemera" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "netemera"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "netemera"
    return dict(result)


async def test_user_flow_creates_entry(
    hass: HomeAssistant, base_url: str, simulator: NetemeraSimulator
) -> None:
    result = await _netemera_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        # Trailing slashes and spaces are tidied; the token audience is the clean API URL.
        form(base_url, auth_url=f" {base_url}/ ", api_url=f"{base_url}/api/v3/"),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Netemera sim-app"
    assert result["data"] == {"vendor": "netemera", **form(base_url)}
    host = base_url.removeprefix("http://")
    assert result["result"].unique_id == f"{host}/api/v3/sim-app"
    # The form's check: one token, then the application's history.
    assert simulator.request_counts["token"] >= 1
    assert simulator.request_counts["history"] >= 1
    await hass.config_entries.async_unload(result["result"].entry_id)


@pytest.mark.parametrize(
    ("changes", "knob", "error"),
    [
        ({"client_secret": "wrong"}, None, {"base": "invalid_auth"}),
        ({"client_id": "nobody"}, None, {"base": "invalid_auth"}),
        ({}, "forbidden", {"base": "forbidden"}),
        ({"application_id": "other-app"}, None, {"base": "forbidden"}),
        ({}, "audience", {"api_url": "invalid_api_url"}),
        ({}, "token_500", {"base": "cannot_connect"}),
        ({}, "history_500", {"base": "cannot_connect"}),
        ({}, "garbled_token", {"base": "unknown"}),
        ({}, "garbled_history", {"base": "unknown"}),
        ({"auth_url": "ftp://auth"}, None, {"auth_url": "invalid_url"}),
        ({"api_url": "not a url"}, None, {"api_url": "invalid_url"}),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant,
    base_url: str,
    simulator: NetemeraSimulator,
    changes: dict[str, str],
    knob: str | None,
    error: dict[str, str],
) -> None:
    if knob == "forbidden":
        simulator.forbidden = True
    elif knob == "audience":
        simulator.audience = "https://elsewhere.example/api/v3"
    elif knob == "token_500":
        simulator.fail_next(1, 500, route="token")
    elif knob == "history_500":
        simulator.fail_next(1, 503, route="history")
    elif knob == "garbled_token":
        simulator.fail_next(1, 200, route="token", body="{}", content_type="application/json")
    elif knob == "garbled_history":
        simulator.fail_next(1, 200, route="history", body="[", content_type="application/json")
    result = await _netemera_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(base_url, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    simulator.forbidden = False
    simulator.audience = None
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(base_url))
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("auth_url", "http://sim-client:sim-secret@{host}"),
        ("auth_url", "http://{host}/?client_secret=sim-secret"),
        ("api_url", "http://user@{host}/api/v3"),
        ("api_url", "http://{host}/api/v3?access_token=abc"),
    ],
)
async def test_urls_with_credentials_are_refused_before_anything_is_sent(
    hass: HomeAssistant, base_url: str, simulator: NetemeraSimulator, field: str, url: str
) -> None:
    result = await _netemera_form(hass)
    host = base_url.removeprefix("http://")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(base_url, **{field: url.format(host=host)})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: "url_has_credentials"}
    # Refused before a token request could carry them anywhere.
    assert sum(simulator.request_counts.values()) == 0
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(base_url))
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_api_url_must_end_in_api_v3(hass: HomeAssistant, base_url: str) -> None:
    result = await _netemera_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(base_url, api_url=base_url)
    )
    assert result["errors"] == {"api_url": "invalid_api_url"}


async def test_unreachable_server(hass: HomeAssistant, unused_tcp_port: int) -> None:
    result = await _netemera_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(f"http://127.0.0.1:{unused_tcp_port}")
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_same_application_twice_aborts(
    hass: HomeAssistant, base_url: str, simulator: NetemeraSimulator
) -> None:
    result = await _netemera_form(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(base_url))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    result = await _netemera_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form(base_url, api_url=f"{base_url.upper()}/api/v3".replace("HTTP", "http")),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.config_entries.async_unload(hass.config_entries.async_entries(DOMAIN)[0].entry_id)


async def _created_entry(hass: HomeAssistant, base_url: str) -> MockConfigEntry:
    host = base_url.removeprefix("http://")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Netemera sim-app",
        unique_id=f"{host}/api/v3/sim-app",
        data={"vendor": "netemera", **form(base_url)},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_reconfigure_new_auth_server_and_credentials(
    hass: HomeAssistant, base_url: str, simulator: NetemeraSimulator
) -> None:
    entry = await _created_entry(hass, base_url)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "netemera_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form(base_url, auth_url=f"{base_url}/api/v1/oauth2/token"),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["auth_url"] == f"{base_url}/api/v1/oauth2/token"
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_form_error(
    hass: HomeAssistant, base_url: str, simulator: NetemeraSimulator
) -> None:
    entry = await _created_entry(hass, base_url)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(base_url, client_secret="wrong")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    await hass.config_entries.async_unload(entry.entry_id)
