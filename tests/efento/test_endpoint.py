"""Every status code the gateway's documentation asks for, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
import logging

from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.efento.const import MAX_BODY_BYTES
from custom_components.iot_bridge.efento.view import measurements_path
from simulators.efento_gateway import EmulatedGateway
from tests.api.efento_examples import DOC_HEARTBEAT_EXAMPLE, DOC_MEASUREMENTS_EXAMPLE

from .conftest import TOKEN, WEBHOOK_ID, GatewayFactory

TEMPERATURE = "sensor.efento_282c024fffb1_temperature"


@pytest.mark.usefixtures("init_integration")
async def test_documentation_examples_answered_201_with_handles(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    assert await gateway.send_doc_examples()
    measurements, heartbeat = gateway.replies
    assert measurements.status == 201
    assert measurements.json() == {"Y": [1, 2, 3, 4], "N": []}
    assert heartbeat.status == 201
    assert gateway.synchronised == {1: True, 2: True, 3: True, 4: True}
    assert gateway.pending == ()
    await hass.async_block_till_done()
    assert hass.states.get(TEMPERATURE).state == "6.0"


@pytest.mark.usefixtures("init_integration")
async def test_published_example_text_with_its_typo_is_400(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    reply = await gateway.post_once(gateway.measurements_path, DOC_MEASUREMENTS_EXAMPLE)
    assert reply.status == 400
    assert reply.json() == {"error": "not JSON"}
    # The heartbeat example is valid as published.
    reply = await gateway.post_once(gateway.heartbeat_path, DOC_HEARTBEAT_EXAMPLE)
    assert reply.status == 201


@pytest.mark.usefixtures("init_integration")
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[1, 2]", "not a JSON object"),
        ('{"foo": 1}', "neither a measurements nor a heartbeat message"),
        ('{"measurements": {}}', "measurements: not a list"),
        ('{"measurements": [1]}', "measurements[0]: not an object"),
        (b"\xff\xfe{", "not UTF-8 text"),
    ],
)
async def test_undocumented_shapes_are_400_with_reason(
    gateway: EmulatedGateway, body: str | bytes, reason: str
) -> None:
    reply = await gateway.post_once(gateway.measurements_path, body)
    assert reply.status == 400
    assert reply.json() == {"error": reason}


async def test_bad_bodies_logged_once_per_kind_and_raise_a_repair_issue(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    caplog: pytest.LogCaptureFixture,
    issue_registry: ir.IssueRegistry,
) -> None:
    issue_id = f"efento_bad_messages_{init_integration.entry_id}"
    gateway.enqueue("measurements", gateway.measurements_path, "{not json")
    with caplog.at_level(logging.DEBUG, logger="custom_components.iot_bridge"):
        for _ in range(4):
            assert not await gateway.flush()
        assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
        assert not await gateway.flush()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "400" in r.message]
    assert len(warnings) == 1
    assert "not JSON" in warnings[0].message
    assert TOKEN not in caplog.text
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "efento_bad_messages"
    assert issue.translation_placeholders == {
        "name": "Efento gateway",
        "count": "5",
        "reason": "measurements: not JSON",
    }
    # The gateway resends it every time: it stays first in the buffer.
    assert [r.status for r in gateway.replies] == [400] * 5
    assert len(gateway.pending) == 1

    # Another kind of fault is logged once more.
    caplog.clear()
    await gateway.post_once(gateway.heartbeat_path, '{"measurements": [1]}')
    await gateway.post_once(gateway.heartbeat_path, '{"measurements": [2, 3]}')
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1

    # A good message clears the issue.
    reply = await gateway.post_once(gateway.heartbeat_path, DOC_HEARTBEAT_EXAMPLE)
    assert reply.status == 201
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.usefixtures("init_integration")
async def test_missing_or_wrong_token_is_401(
    hass: HomeAssistant, make_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = await make_gateway(token="not-the-token")
    assert not await wrong.send_measurements()
    assert not await wrong.send_measurements()
    assert [r.status for r in wrong.replies] == [401, 401]
    assert len(wrong.pending) == 2  # nothing lost
    ours = [r for r in caplog.records if r.name.startswith("custom_components.iot_bridge")]
    assert len(ours) == 1
    assert "answered 401" in ours[0].message
    assert "not-the-token" not in caplog.text
    missing = await make_gateway(token="")
    missing.token = ""
    # aiohttp drops nothing: send without the header at all.
    session = missing._session
    async with session.post(f"{missing.base_url}{missing.measurements_path}", data=b"{}") as resp:
        assert resp.status == 401
    assert hass.states.get(TEMPERATURE) is None


@pytest.mark.usefixtures("init_integration")
async def test_unknown_path_is_404(make_gateway: GatewayFactory) -> None:
    stranger = await make_gateway(webhook_id="unknown")
    assert not await stranger.send_heartbeat()
    assert stranger.replies[-1].status == 404


async def test_other_vendors_entry_is_404(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_gateway: GatewayFactory
) -> None:
    other = MockConfigEntry(
        domain=DOMAIN, unique_id="G123", data={"vendor": "egauge", "token": TOKEN}
    )
    other.add_to_hass(hass)
    stranger = await make_gateway(webhook_id="G123")
    assert not await stranger.send_heartbeat()
    assert stranger.replies[-1].status == 404


@pytest.mark.usefixtures("init_integration")
async def test_oversized_body_is_413(gateway: EmulatedGateway) -> None:
    big = b'{"measurements": [' + b" " * MAX_BODY_BYTES + b"]}"
    reply = await gateway.post_once(gateway.measurements_path, big)
    assert reply.status == 413


@pytest.mark.usefixtures("init_integration")
async def test_oversized_chunked_body_is_413(gateway: EmulatedGateway) -> None:
    """Without Content-Length the limit holds while reading."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"measurements": ['
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536
        yield b"]}"

    async with gateway._session.post(
        f"{gateway.base_url}{gateway.measurements_path}",
        data=chunks(),
        headers={"X-Api-Token": TOKEN},
    ) as resp:
        assert resp.status == 413


@pytest.mark.usefixtures("init_integration")
async def test_body_just_under_the_limit_is_read(gateway: EmulatedGateway) -> None:
    payload = gateway.doc_heartbeat_payload()
    text = json.dumps(payload)
    padded = text[:-1] + " " * (MAX_BODY_BYTES - len(text)) + "}"
    assert len(padded) == MAX_BODY_BYTES
    reply = await gateway.post_once(gateway.heartbeat_path, padded)
    assert reply.status == 201


@pytest.mark.usefixtures("init_integration")
async def test_content_type_need_not_be_exact(gateway: EmulatedGateway) -> None:
    gateway.custom_headers = {"Content-Type": "text/plain", "X-Site": "north"}
    assert await gateway.send_measurements()
    assert gateway.replies[-1].status == 201


@pytest.mark.usefixtures("init_integration")
async def test_both_endpoints_may_share_one_path(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    gateway.heartbeat_path = gateway.measurements_path
    assert await gateway.send_doc_examples()
    assert [r.status for r in gateway.replies] == [201, 201]
    await hass.async_block_till_done()
    assert hass.states.get("sensor.efento_gateway_software_version").state == "01.00.00-c723d"
    assert hass.states.get(TEMPERATURE).state == "6.0"


async def test_unloaded_or_disabled_entry_is_503_not_404(
    hass: HomeAssistant, init_integration: MockConfigEntry, gateway: EmulatedGateway
) -> None:
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    gateway.enqueue("measurements", gateway.measurements_path, gateway.measurements_payload())
    assert not await gateway.flush(max_attempts=2)
    assert [r.status for r in gateway.replies] == [503, 503]
    assert gateway.pauses == 2
    # A wrong token is still told apart while the entry is down.
    reply = await gateway.post_once(gateway.measurements_path, b"{}")
    assert reply.status == 503
    gateway.token = "wrong"
    reply = await gateway.post_once(gateway.measurements_path, b"{}")
    assert reply.status == 401
    gateway.token = TOKEN

    await hass.config_entries.async_set_disabled_by(
        init_integration.entry_id, ConfigEntryDisabler.USER
    )
    await hass.async_block_till_done()
    reply = await gateway.post_once(gateway.measurements_path, b"{}")
    assert reply.status == 503

    await hass.config_entries.async_set_disabled_by(init_integration.entry_id, None)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert await gateway.flush()
    assert gateway.replies[-1].status == 201


async def test_503_has_retry_after(
    hass: HomeAssistant, init_integration: MockConfigEntry, gateway: EmulatedGateway
) -> None:
    hass.set_state(CoreState.starting)
    async with gateway._session.post(
        f"{gateway.base_url}{measurements_path(WEBHOOK_ID)}",
        data=b"{}",
        headers={"X-Api-Token": TOKEN},
    ) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "300"
    hass.set_state(CoreState.running)


@pytest.mark.usefixtures("init_integration")
async def test_get_is_not_allowed(gateway: EmulatedGateway) -> None:
    async with gateway._session.get(f"{gateway.base_url}{gateway.measurements_path}") as resp:
        assert resp.status == 405


async def test_view_registered_once_for_several_entries(
    hass: HomeAssistant, init_integration: MockConfigEntry, make_gateway: GatewayFactory
) -> None:
    second = MockConfigEntry(
        domain=DOMAIN,
        title="Second",
        unique_id="second-webhook",
        data={"vendor": "efento", "webhook_id": "second-webhook", "token": "token-2"},
    )
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    other = await make_gateway(webhook_id="second-webhook", token="token-2")
    assert await other.send_heartbeat()
    # Entry tokens are not interchangeable.
    crossed = await make_gateway(webhook_id="second-webhook", token=TOKEN)
    assert not await crossed.send_heartbeat()
    assert crossed.replies[-1].status == 401
