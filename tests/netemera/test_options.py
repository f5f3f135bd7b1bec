"""Options: Cayenne LPP decoding and downlink switches per end-device."""

from __future__ import annotations

from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.netemera.settings import device_settings
from simulators.netemera import NetemeraSimulator

from .conftest import CLIMATE, LIGHT, RAW, RELAY, coordinator, entity_id, state_of, wait_for

LPP = {"decoder": "cayenne_lpp"}
RELAY_OPTIONS = {
    "decoder": "cayenne_lpp",
    "downlink_port": 1,
    "payload_on": "010101",
    "payload_off": "010100",
    "confirmed": False,
}


async def _options(
    hass: HomeAssistant, entry: MockConfigEntry, dev_eui: str, settings: dict[str, Any]
) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "netemera_device"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"device": dev_eui}
    )
    assert result["step_id"] == "netemera_decoder"
    assert result["description_placeholders"] == {"dev_eui": dev_eui}
    result = await hass.config_entries.options.async_configure(result["flow_id"], settings)
    await hass.async_block_till_done()
    return dict(result)


async def test_options_without_devices_abort(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_end_devices"


async def test_lpp_decoder_creates_sensors_without_losing_state(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(CLIMATE)
    await wait_for(lambda: state_of(hass, entity_registry, CLIMATE, "frame_counter") == "1")
    streams = simulator.request_counts["stream"]
    result = await _options(hass, init_integration, CLIMATE, LPP)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {CLIMATE: {"decoder": "cayenne_lpp"}}
    # Decoded from the payload already received: no need to wait for the next packet.
    device = simulator.devices[CLIMATE]
    temperature = state_of(hass, entity_registry, CLIMATE, "lpp_1_103")
    assert temperature == str(round(device.temperature, 1))
    humidity = hass.states.get(entity_id(entity_registry, CLIMATE, "lpp_2_104") or "")
    assert humidity is not None
    assert humidity.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.HUMIDITY
    assert humidity.name == "End-device 70b3d5ca40000000 Humidity (channel 2)"
    pressure = hass.states.get(entity_id(entity_registry, CLIMATE, "lpp_3_115") or "")
    assert pressure is not None
    assert pressure.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ATMOSPHERIC_PRESSURE
    assert pressure.attributes[ATTR_UNIT_OF_MEASUREMENT] == "hPa"
    # Applied in place: the stream was not reconnected, the counter kept its state.
    assert simulator.request_counts["stream"] == streams
    assert state_of(hass, entity_registry, CLIMATE, "frame_counter") == "1"

    simulator.send_uplink(CLIMATE)
    await wait_for(lambda: state_of(hass, entity_registry, CLIMATE, "frame_counter") == "2")
    assert state_of(hass, entity_registry, CLIMATE, "lpp_1_103") == str(
        round(simulator.devices[CLIMATE].temperature, 1)
    )


async def test_illuminance_and_new_channels_appear(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    await _options(hass, init_integration, LIGHT, LPP)
    lux = hass.states.get(entity_id(entity_registry, LIGHT, "lpp_1_101") or "")
    assert lux is not None
    assert lux.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ILLUMINANCE
    assert lux.attributes[ATTR_UNIT_OF_MEASUREMENT] == "lx"

    # A later frame brings analog input, digital input, voltage, current and a GPS fix.
    uplink = simulator.make_uplink(simulator.devices[LIGHT])
    uplink["frm_payload"] = (
        "0402FF38"  # ch4 analog -2.00
        + "050001"  # ch5 digital in 1
        + "06740172"  # ch6 voltage 3.70 V
        + "077503E8"  # ch7 current 1.000 A
        + "08880682A7FFE1F7000A28"  # ch8 gps
    )
    simulator.emit(uplink)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "lpp_4_2") is not None)
    assert state_of(hass, entity_registry, LIGHT, "lpp_4_2") == "-2.0"
    assert state_of(hass, entity_registry, LIGHT, "lpp_5_0") == "1"
    assert state_of(hass, entity_registry, LIGHT, "lpp_6_116") == "3.7"
    current = hass.states.get(entity_id(entity_registry, LIGHT, "lpp_7_117") or "")
    assert current is not None
    assert current.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.CURRENT
    assert state_of(hass, entity_registry, LIGHT, "lpp_8_136_latitude") == "42.6663"
    assert state_of(hass, entity_registry, LIGHT, "lpp_8_136_longitude") == "-0.7689"
    assert state_of(hass, entity_registry, LIGHT, "lpp_8_136_altitude") == "26.0"
    # The illuminance of the earlier frame is still shown.
    assert state_of(hass, entity_registry, LIGHT, "lpp_1_101") == lux.state


async def test_undecodable_payload_keeps_raw_and_warns_once(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "1")
    await _options(hass, init_integration, RAW, LPP)
    simulator.send_uplink(RAW)
    await wait_for(lambda: state_of(hass, entity_registry, RAW, "frame_counter") == "2")
    assert state_of(hass, entity_registry, RAW, "payload") == "CAFE0002"
    assert caplog.text.count("is not Cayenne LPP") == 1
    assert coordinator(init_integration).devices[RAW].decode_error is not None


async def test_decoder_off_removes_lpp_sensors_and_on_brings_them_back(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(LIGHT)
    await wait_for(lambda: state_of(hass, entity_registry, LIGHT, "frame_counter") == "1")
    await _options(hass, init_integration, LIGHT, LPP)
    assert entity_id(entity_registry, LIGHT, "lpp_1_101") is not None
    await _options(hass, init_integration, LIGHT, {"decoder": "none"})
    assert entity_id(entity_registry, LIGHT, "lpp_1_101") is None
    assert state_of(hass, entity_registry, LIGHT, "payload") not in (None, STATE_UNKNOWN)
    await _options(hass, init_integration, LIGHT, LPP)
    assert state_of(hass, entity_registry, LIGHT, "lpp_1_101") not in (None, STATE_UNKNOWN)


@pytest.mark.parametrize(
    ("settings", "errors"),
    [
        ({"payload_on": "01 0G", "payload_off": "00"}, {"payload_on": "invalid_hex"}),
        (
            {"payload_on": "010", "payload_off": ""},
            {"payload_on": "invalid_hex", "payload_off": "invalid_hex"},
        ),
        ({"payload_on": "01", "payload_off": "AA" * 243}, {"payload_off": "invalid_hex"}),
    ],
)
async def test_bad_hex_is_refused_in_the_form(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    settings: dict[str, str],
    errors: dict[str, str],
) -> None:
    simulator.send_uplink(RELAY)
    await wait_for(lambda: state_of(hass, entity_registry, RELAY, "frame_counter") == "1")
    result = await _options(
        hass, init_integration, RELAY, {"decoder": "none", "downlink_port": 1, **settings}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "decoder": "none",
            "downlink_port": 1,
            "payload_on": "0x01:01:01",
            "payload_off": "01 01 00",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[RELAY] == {
        "decoder": "none",
        "downlink_port": 1,
        "payload_on": "010101",
        "payload_off": "010100",
        "confirmed": False,
    }


async def test_downlink_switch_posts_and_is_optimistic(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(RELAY)
    await wait_for(lambda: state_of(hass, entity_registry, RELAY, "frame_counter") == "1")
    await _options(hass, init_integration, RELAY, RELAY_OPTIONS)
    switch = entity_id(entity_registry, RELAY, "downlink", "switch")
    assert switch is not None
    assert state_of(hass, entity_registry, RELAY, "downlink", "switch") == STATE_UNKNOWN

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert simulator.downlinks[-1] == {
        "dev_eui": RELAY,
        "f_port": 1,
        "confirmed": False,
        "frm_payload": "010101",
    }
    assert state_of(hass, entity_registry, RELAY, "downlink", "switch") == STATE_ON
    # The relay answers with its new state; the decoded digital output follows.
    await wait_for(lambda: state_of(hass, entity_registry, RELAY, "lpp_1_1") == "1")

    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    assert simulator.downlinks[-1]["frm_payload"] == "010100"
    assert state_of(hass, entity_registry, RELAY, "downlink", "switch") == STATE_OFF
    await wait_for(lambda: state_of(hass, entity_registry, RELAY, "lpp_1_1") == "0")

    # Removing the downlink settings removes the switch.
    await _options(hass, init_integration, RELAY, LPP)
    assert entity_id(entity_registry, RELAY, "downlink", "switch") is None


async def test_failed_downlink_raises_translated_error(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(RELAY)
    await wait_for(lambda: state_of(hass, entity_registry, RELAY, "frame_counter") == "1")
    await _options(hass, init_integration, RELAY, RELAY_OPTIONS)
    switch = entity_id(entity_registry, RELAY, "downlink", "switch")
    simulator.fail_next(1, 400, route="downlink", body="queue full")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
        )
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "command_failed"
    assert "queue full" in str(err.value)
    assert state_of(hass, entity_registry, RELAY, "downlink", "switch") == STATE_UNKNOWN

    simulator.fail_next(1, 503, route="downlink")
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: switch}, blocking=True
        )
    assert err.value.translation_key == "action_failed"


async def test_switch_state_survives_a_restart(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(RELAY)
    await wait_for(lambda: state_of(hass, entity_registry, RELAY, "frame_counter") == "1")
    await _options(hass, init_integration, RELAY, RELAY_OPTIONS)
    switch = entity_id(entity_registry, RELAY, "downlink", "switch")
    await hass.services.async_call(
        SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: switch}, blocking=True
    )
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, entity_registry, RELAY, "downlink", "switch") == STATE_ON


@pytest.mark.parametrize("entry_options", [{CLIMATE: LPP}])
async def test_stored_options_decode_from_the_first_packet(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    simulator.send_uplink(CLIMATE)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, entity_registry, CLIMATE, "lpp_1_103") is not None


def test_settings_fall_back_on_malformed_options() -> None:
    assert device_settings({RAW: "x"}, RAW).decoder == "none"
    assert device_settings({RAW: {"decoder": "mystery"}}, RAW).decoder == "none"
    bad_hex = {"downlink_port": 1, "payload_on": "zz", "payload_off": "00"}
    assert device_settings({RAW: bad_hex}, RAW).downlink is None
    good = {"downlink_port": 2, "payload_on": "01", "payload_off": "00", "confirmed": True}
    downlink = device_settings({RAW: good}, RAW).downlink
    assert downlink is not None
    assert (downlink.port, downlink.payload_on, downlink.confirmed) == (2, b"\x01", True)
