"""Applying measurements: Y/N, ordering, repeats, values, errors, dynamic loggers, writes."""

from __future__ import annotations

import json
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.efento_gateway import EmulatedGateway
from tests.devices import find_device

from .conftest import GatewayFactory

B1 = "282C024FFFB1"


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _changes(hass: HomeAssistant) -> list[Event[Any]]:
    events: list[Event[Any]] = []

    @callback
    def record(event: Event[Any]) -> None:
        events.append(event)

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    return events


def _measurement(serial: str, handle: int | None, at: str, params: list[Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "serial": serial,
        "battery": "ok",
        "signal": -60,
        "measured_at": at,
        "measurement_interval": 180,
        "next_measurement_at": "2024-10-12 16:00:00 UTC",
        "params": params,
    }
    if handle is not None:
        item["response_handle"] = handle
    return item


def _temp(value: Any, status: str = "ok", channel: int = 1) -> dict[str, Any]:
    return {"channel": channel, "type": "temperature", "value": value, "status": status}


async def _post(gateway: EmulatedGateway, *items: dict[str, Any]) -> Any:
    reply = await gateway.post_once(gateway.measurements_path, _json({"measurements": list(items)}))
    assert reply.status == 201, reply
    return reply.json()


def _json(data: Any) -> str:
    return json.dumps(data)


@pytest.mark.usefixtures("init_integration")
async def test_values_as_numbers_and_strings(hass: HomeAssistant, gateway: EmulatedGateway) -> None:
    await _post(gateway, _measurement(B1, 1, "2024-10-12 15:28:21 UTC", [_temp(6)]))
    await hass.async_block_till_done()
    assert _state(hass, "sensor.efento_282c024fffb1_temperature") == "6.0"
    await _post(gateway, _measurement(B1, 1, "2024-10-12 15:29:21 UTC", [_temp("21.5")]))
    assert _state(hass, "sensor.efento_282c024fffb1_temperature") == "21.5"
    gateway.string_values = True
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    logger = gateway.loggers[1]
    humidity = _state(hass, "sensor.efento_282c024fffb2_humidity")
    assert float(humidity) == logger.values[1] or float(humidity) == round(logger.values[1])


@pytest.mark.usefixtures("init_integration")
async def test_error_channel_is_unknown(hass: HomeAssistant, gateway: EmulatedGateway) -> None:
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    entity_id = "sensor.efento_282c024fffb2_humidity"
    assert _state(hass, entity_id) not in (STATE_UNKNOWN, "unavailable")
    gateway.loggers[1].error_channels.add(2)
    assert await gateway.send_measurements()
    assert _state(hass, entity_id) == STATE_UNKNOWN
    assert _state(hass, "sensor.efento_282c024fffb2_temperature") not in (STATE_UNKNOWN,)


@pytest.mark.usefixtures("init_integration")
async def test_partly_invalid_params_apply_the_rest_and_answer(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    params = [
        _temp(20),
        {"channel": 2, "type": "humidity", "value": 40, "status": "ok"},
        {"channel": 3, "type": "pressure", "value": 1000.5, "status": "ok"},
    ]
    await _post(gateway, _measurement(B1, 7, "2024-10-12 15:28:21 UTC", params))
    await hass.async_block_till_done()
    params = [
        _temp(21),
        {"channel": 2, "type": "humidity", "value": "wet", "status": "ok"},
        {"type": "pressure", "value": 1, "status": "ok"},  # no channel: ignored
    ]
    reply = await _post(gateway, _measurement(B1, 7, "2024-10-12 15:29:21 UTC", params))
    assert reply == {"Y": [7], "N": []}
    assert _state(hass, "sensor.efento_282c024fffb1_temperature") == "21.0"
    assert _state(hass, "sensor.efento_282c024fffb1_humidity") == STATE_UNKNOWN
    assert _state(hass, "sensor.efento_282c024fffb1_pressure") == "1000.5"


@pytest.mark.usefixtures("init_integration")
async def test_unusable_measurements_are_still_answered(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    no_serial = _measurement("", 5, "2024-10-12 15:28:21 UTC", [_temp(1)])
    bad_time = _measurement("282C024FFFC0", 6, "yesterday", [_temp(1)])
    no_handle = _measurement(B1, None, "2024-10-12 15:28:21 UTC", [_temp(3)])
    reply = await _post(gateway, no_serial, bad_time, no_handle)
    assert reply == {"Y": [5, 6], "N": []}
    await hass.async_block_till_done()
    assert _state(hass, "sensor.efento_282c024fffb1_temperature") == "3.0"
    assert hass.states.get("sensor.efento_282c024fffc0_temperature") is None


async def test_accept_switch_decides_y_or_n(
    hass: HomeAssistant, init_integration: MockConfigEntry, gateway: EmulatedGateway
) -> None:
    assert await gateway.send_doc_examples()
    await hass.async_block_till_done()
    switch = "switch.efento_282c024fffb4_accept_measurements"
    assert _state(hass, switch) == "on"
    await hass.services.async_call("switch", "turn_off", {"entity_id": switch}, blocking=True)
    assert _state(hass, switch) == "off"
    gateway.enqueue("measurements", gateway.measurements_path, gateway.doc_measurements_payload())
    assert await gateway.flush()
    assert gateway.replies[-1].json() == {"Y": [1, 2, 3], "N": [4]}
    assert gateway.synchronised[4] is False
    # Its rejected-but-named measurements are answered N as well.
    reply = await _post(gateway, _measurement("282C024FFFB4", 4, "bad", []))
    assert reply == {"Y": [], "N": [4]}
    await hass.services.async_call("switch", "turn_on", {"entity_id": switch}, blocking=True)
    assert _state(hass, switch) == "on"
    gateway.enqueue("measurements", gateway.measurements_path, gateway.doc_measurements_payload())
    assert await gateway.flush()
    assert gateway.replies[-1].json() == {"Y": [1, 2, 3, 4], "N": []}


@pytest.mark.usefixtures("init_integration")
async def test_newest_measurement_of_a_backlog_wins_in_any_order(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    items = [
        _measurement(B1, 1, "2024-10-12 15:20:00 UTC", [_temp(2)]),
        _measurement(B1, 1, "2024-10-12 15:30:00 UTC", [_temp(4)]),
        _measurement(B1, 1, "2024-10-12 15:25:00 UTC", [_temp(3)]),
    ]
    reply = await _post(gateway, *items)
    assert reply == {"Y": [1], "N": []}
    await hass.async_block_till_done()
    assert _state(hass, "sensor.efento_282c024fffb1_temperature") == "4.0"
    assert (
        _state(hass, "sensor.efento_282c024fffb1_last_measurement") == "2024-10-12T15:30:00+00:00"
    )


@pytest.mark.usefixtures("init_integration")
async def test_older_or_repeated_message_changes_nothing(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    newer = _measurement(B1, 1, "2024-10-12 15:30:00 UTC", [_temp(4)])
    await _post(gateway, newer)
    await hass.async_block_till_done()
    events = _changes(hass)
    # The gateway resends a message it did not get 201 for; and an old buffered one.
    assert await _post(gateway, newer) == {"Y": [1], "N": []}
    older = _measurement(B1, 1, "2024-10-12 15:00:00 UTC", [_temp(-5)])
    assert await _post(gateway, older) == {"Y": [1], "N": []}
    await hass.async_block_till_done()
    assert events == []
    assert _state(hass, "sensor.efento_282c024fffb1_temperature") == "4.0"


@pytest.mark.usefixtures("init_integration")
async def test_older_heartbeat_does_not_overwrite(
    hass: HomeAssistant, gateway: EmulatedGateway
) -> None:
    assert await gateway.send_heartbeat()
    await hass.async_block_till_done()
    software = "sensor.efento_gateway_software_version"
    old = gateway.heartbeat_payload()
    # Sent an hour before the one already applied (a resend after an outage).
    old["current_time"] = int(old["current_time"]) - 3600
    old["software_version"] = "00.00.01"
    gateway.enqueue("heartbeat", gateway.heartbeat_path, old)
    assert await gateway.flush()
    assert _state(hass, software) == "01.00.00-c723d"


@pytest.mark.usefixtures("init_integration")
async def test_one_logger_of_100_writes_only_its_own_states(
    hass: HomeAssistant, make_gateway: GatewayFactory
) -> None:
    gateway = await make_gateway(loggers=100)
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    assert len(hass.states.async_entity_ids()) > 500
    writes: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        writes.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    # state_reported covers writes that did not change the state.
    hass.bus.async_listen(EVENT_STATE_REPORTED, record, event_filter=callback(lambda _: True))
    serial = gateway.loggers[42].serial
    assert await gateway.send_measurements([serial])
    await hass.async_block_till_done()
    assert writes
    assert all(serial.lower() in entity_id for entity_id in writes), writes
    # Temperature, humidity, pressure + signal, battery, last measurement, switch at most.
    assert len(set(writes)) <= 7


async def test_new_loggers_and_channels_appear(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    await _post(gateway, _measurement(B1, 1, "2024-10-12 15:20:00 UTC", [_temp(2)]))
    await hass.async_block_till_done()
    params = [
        _temp(2),
        _temp(3, channel=2),
        {"channel": 3, "type": "co2", "value": "412", "status": "ok"},
    ]
    await _post(gateway, _measurement(B1, 1, "2024-10-12 15:21:00 UTC", params))
    await hass.async_block_till_done()
    assert _state(hass, "sensor.efento_282c024fffb1_temperature_2") == "3.0"
    assert _state(hass, "sensor.efento_282c024fffb1_co2_3") == "412.0"
    # Channel 1 changes what it measures: a new entity, the old one unavailable.
    params = [{"channel": 1, "type": "humidity", "value": 50, "status": "ok"}]
    await _post(gateway, _measurement(B1, 1, "2024-10-12 15:22:00 UTC", params))
    await hass.async_block_till_done()
    assert _state(hass, "sensor.efento_282c024fffb1_humidity") == "50.0"
    assert _state(hass, "sensor.efento_282c024fffb1_temperature") == "unavailable"
    logger = find_device(hass, ("iot_bridge", f"efento_{init_integration.entry_id}_{B1}"))
    assert logger is not None
    assert logger.serial_number == B1
    assert logger.manufacturer == "Efento"
    gateway_device = device_registry.async_get(logger.via_device_id or "")
    assert gateway_device is not None
    assert gateway_device.name == "Efento gateway"
    assert await gateway.send_heartbeat()
    gateway_device = device_registry.async_get(logger.via_device_id or "")
    assert gateway_device is not None
    assert gateway_device.name == "Efento-Gateway-030A"
    assert gateway_device.model == "HG6-v1.2-LECH"
    assert gateway_device.sw_version == "01.00.00-c723d"
    assert (dr.CONNECTION_NETWORK_MAC, "28:2c:02:4f:03:0a") in gateway_device.connections
