"""The config flow: vendor menu, the eGauge form, reauth and reconfigure."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from simulators.egauge import EgaugeSimulator

from .conftest import Clock, serve


async def _egauge_form(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert "egauge" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "egauge"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "egauge"
    return dict(result)


async def test_user_flow_creates_entry(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator
) -> None:
    result = await _egauge_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        # A pasted URL with /api and a trailing slash is normalised.
        {"url": f"{meter_url}/api/", "username": "owner", "password": "secret"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "egauge12345"
    assert result["data"] == {
        "vendor": "egauge",
        "url": meter_url,
        "username": "owner",
        "password": "secret",
        "verify_ssl": True,
    }
    assert result["result"].unique_id == "G12345678"
    # The flow logs out again: it leaves no token behind on the meter.
    assert simulator.requests_by_path["/api/auth/logout"] == 1


async def test_user_flow_without_settings_right_uses_serial_as_title(
    hass: HomeAssistant, meter_url: str
) -> None:
    result = await _egauge_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": meter_url, "username": "dataonly", "password": "data"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "eGauge G12345678"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"url": "ftp://meter", "username": "owner", "password": "secret"}, {"url": "invalid_url"}),
        ({"username": "owner", "password": "wrong"}, {"base": "invalid_auth"}),
        ({"username": "nobody", "password": "secret"}, {"base": "invalid_auth"}),
        ({"username": "viewer", "password": "view"}, {"base": "missing_permission"}),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, meter_url: str, form: dict[str, Any], error: dict[str, str]
) -> None:
    result = await _egauge_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": meter_url, **form}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": meter_url, "username": "owner", "password": "secret"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw@{host}",
        "  http://owner:secret@{host}/api  ",
        "owner:secret@{host}",
        "http://{host}/?password=secret",
    ],
)
async def test_user_flow_refuses_credentials_in_the_url(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator, url: str
) -> None:
    result = await _egauge_form(hass)
    host = meter_url.removeprefix("http://")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": url.format(host=host), "username": "owner", "password": "secret"},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"url": "url_has_credentials"}
    # Refused before anything was sent to the address.
    assert not simulator.requests_by_path
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": meter_url, "username": "owner", "password": "secret"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reconfigure_refuses_credentials_in_the_url(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter_url: str
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    host = meter_url.removeprefix("http://")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "url": f"http://owner:secret@{host}",
            "username": "owner",
            "password": "secret",
            "verify_ssl": True,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"url": "url_has_credentials"}
    assert init_integration.data["url"] == meter_url


async def test_user_flow_unreachable_meter(hass: HomeAssistant, unused_tcp_port: int) -> None:
    result = await _egauge_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"url": f"http://127.0.0.1:{unused_tcp_port}", "username": "owner", "password": "x"},
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_flow_meter_server_error(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator
) -> None:
    result = await _egauge_form(hass)
    simulator.fail_next_requests(1, status=503)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": meter_url, "username": "owner", "password": "secret"}
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_user_flow_garbled_answer_is_unknown(
    hass: HomeAssistant, meter_url: str, simulator: EgaugeSimulator
) -> None:
    result = await _egauge_form(hass)
    simulator.malformed_next = 1
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": meter_url, "username": "owner", "password": "secret"}
    )
    assert result["errors"] == {"base": "unknown"}


async def test_user_flow_same_meter_twice_aborts(
    hass: HomeAssistant, meter_url: str, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await _egauge_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": meter_url, "username": "owner", "password": "secret"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def simulator_url(entry: MockConfigEntry) -> str:
    url = entry.data["url"]
    assert isinstance(url, str)
    return url


async def test_reconfigure_moves_to_new_address(
    hass: HomeAssistant, init_integration: MockConfigEntry, clock: Clock
) -> None:
    # The same meter behind another address (say, after a DHCP change).
    moved = EgaugeSimulator(clock=clock)
    server = await serve(moved)
    try:
        new_url = str(server.make_url("/")).rstrip("/")
        result = await init_integration.start_reconfigure_flow(hass)
        assert result["step_id"] == "egauge_reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"url": new_url, "username": "owner", "password": "secret", "verify_ssl": False},
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert init_integration.data["url"] == new_url
        assert init_integration.data["verify_ssl"] is False
        await hass.async_block_till_done()
        assert moved.requests_by_path["/api/register"] >= 1
    finally:
        await server.close()


async def test_reconfigure_form_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, unused_tcp_port: int
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "url": f"http://127.0.0.1:{unused_tcp_port}",
            "username": "owner",
            "password": "secret",
            "verify_ssl": True,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
