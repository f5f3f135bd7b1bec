"""The Enapter config flow: token, site choice, errors, reauth and reconfigure."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from simulators.enapter import EXPIRED_TOKEN, TOKEN, EnapterSimulator


async def start(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "enapter" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "enapter"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "enapter"
    return dict(result)


def form(url: str, token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    return {"url": url, "api_token": token, "verify_ssl": True, **extra}


async def test_form_defaults_to_the_cloud(hass: HomeAssistant) -> None:
    result = await start(hass)
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults == {"url": "https://api.enapter.com", "verify_ssl": True}


async def test_cloud_with_two_sites_asks_which_defaulting_to_the_first(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str, lab_id: str
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "enapter_site"
    assert result["description_placeholders"] == {"count": "2"}
    # Submitting the form with only its defaults picks the first site.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Hydrogen Lab"
    assert result["result"].unique_id == lab_id
    assert result["data"] == {
        "vendor": "enapter",
        "url": cloud_url,
        "api_token": TOKEN,
        "verify_ssl": True,
        "site_id": lab_id,
        "site_name": "Hydrogen Lab",
        "gateway": False,
    }


async def test_choose_the_second_site(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str
) -> None:
    warehouse = list(sim.sites)[1]
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"site": warehouse})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Warehouse"
    assert result["result"].unique_id == warehouse


async def test_single_site_needs_no_choice(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str, lab_id: str
) -> None:
    del sim.sites[list(sim.sites)[1]]
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == lab_id


async def test_local_gateway(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str, lab_id: str
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(f"{cloud_url}/api/", verify_ssl=False)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == lab_id
    assert result["data"]["url"] == f"{cloud_url}/api"
    assert result["data"]["gateway"] is True
    assert result["data"]["verify_ssl"] is False
    # The gateway answers /v3/sites with 404 and has its one site at /v3/site.
    assert sim.requests_by_path["/api/v3/site"] == 1


@pytest.mark.parametrize(
    ("prepare", "token", "error"),
    [
        (lambda sim: None, "wrong-token", "invalid_auth"),  # 403 invalid token
        (lambda sim: None, EXPIRED_TOKEN, "invalid_auth"),  # 403 expired token
        (lambda sim: None, "   ", "invalid_auth"),  # 401 no token at all
        (lambda sim: sim.fail_next(1, 500), TOKEN, "cannot_connect"),
        (lambda sim: sim.fail_next(1, 400), TOKEN, "unknown"),
        (lambda sim: sim.sites.clear(), TOKEN, "no_devices"),
        (lambda sim: sim.rate_limit_next(1), TOKEN, "cannot_connect"),
    ],
)
async def test_errors_then_recovery(
    hass: HomeAssistant,
    sim: EnapterSimulator,
    cloud_url: str,
    prepare: Any,
    token: str,
    error: str,
) -> None:
    sites = dict(sim.sites)
    prepare(sim)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(cloud_url, token)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "enapter"
    assert result["errors"] == {"base": error}
    sim.sites.update(sites)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unreachable(hass: HomeAssistant, unused_tcp_port: int) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(f"http://127.0.0.1:{unused_tcp_port}")
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_invalid_url(hass: HomeAssistant) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form("ftp://gateway.local")
    )
    assert result["errors"] == {"url": "invalid_url"}


@pytest.mark.parametrize(
    "url",
    [
        "https://api.enapter.com/?token=x",
        "https://api.enapter.com/v3?access_token=x",
        "http://user:pw@gateway.local/api",
        " user:pw@gateway.local ",
        "{cloud}/?api_key=x",
    ],
)
async def test_url_with_credentials_is_refused(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str, url: str
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(url.format(cloud=cloud_url))
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"url": "url_has_credentials"}
    # Refused before anything was sent to the address.
    assert not sim.requests
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    assert result["step_id"] == "enapter_site"  # the token sees two sites


async def test_reconfigure_refuses_credentials_in_the_url(
    hass: HomeAssistant, sim: EnapterSimulator, entry: MockConfigEntry, cloud_url: str
) -> None:
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(f"{cloud_url}/?token={TOKEN}")
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"url": "url_has_credentials"}
    assert entry.data["url"] == cloud_url


async def test_site_without_devices(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str
) -> None:
    warehouse = list(sim.sites)[1]
    sim.remove_device(sim.warehouse_meter.id)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"site": warehouse})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "enapter_site"
    assert result["errors"] == {"base": "no_devices"}
    # The other site still works from the same form.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Hydrogen Lab"


async def test_site_form_failure(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str
) -> None:
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    sim.fail_next(1, 503)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "cannot_connect"}


async def test_already_configured(
    hass: HomeAssistant, entry: MockConfigEntry, cloud_url: str
) -> None:
    entry.add_to_hass(hass)
    result = await start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form(cloud_url))
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth(hass: HomeAssistant, sim: EnapterSimulator, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    sim.valid_tokens.add("new-token")
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "enapter_reauth"
    assert list(result["data_schema"].schema) == ["api_token"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_token": "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"api_token": "new-token"}
    )
    # The token sees two sites, but the entry's own site is chosen without asking.
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["api_token"] == "new-token"
    assert entry.data["site_id"] == entry.unique_id


async def test_reauth_token_for_another_account(
    hass: HomeAssistant, sim: EnapterSimulator, cloud_url: str
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="elsewhere",
        data={
            "vendor": "enapter",
            "url": cloud_url,
            "api_token": "old",
            "verify_ssl": True,
            "site_id": "elsewhere",
            "site_name": "Elsewhere",
            "gateway": False,
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"api_token": TOKEN})
    assert result["step_id"] == "enapter_site"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert entry.data["api_token"] == "old"


async def test_reconfigure_cloud_to_local_gateway(
    hass: HomeAssistant, entry: MockConfigEntry, cloud_url: str
) -> None:
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "enapter_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form("http://127.0.0.1:9")
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(f"{cloud_url}/api")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    # The gateway serves the same site: same entry, same entities.
    assert entry.data["url"] == f"{cloud_url}/api"
    assert entry.data["gateway"] is True


async def test_reconfigure_to_a_different_site(
    hass: HomeAssistant, sim: EnapterSimulator, server: TestServer, cloud_url: str
) -> None:
    warehouse = list(sim.sites)[1]
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=warehouse,
        data={
            "vendor": "enapter",
            "url": cloud_url,
            "api_token": TOKEN,
            "verify_ssl": True,
            "site_id": warehouse,
            "site_name": "Warehouse",
            "gateway": False,
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    # The gateway's one site is the lab, not the warehouse.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], form(f"{cloud_url}/api")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert entry.data["url"] == cloud_url
