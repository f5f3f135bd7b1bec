"""Instathings entities: inferred from data keys, devices from the device list."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.components.sensor import ATTR_STATE_CLASS, SensorDeviceClass, SensorStateClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    EntityCategory,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.iot_bridge.api.instathings import DataRecord
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.instathings.entities import (
    flag_description,
    humanize,
    sensor_description,
)
from custom_components.iot_bridge.instathings.model import InstathingsDeviceState, ValueKind
from custom_components.iot_bridge.instathings.numbers import normalize_key
from custom_components.iot_bridge.vendors import VENDORS
from simulators.instathings import (
    GATEWAY_ID,
    PLUG_ID,
    SENSOR_ID,
    VIRTUAL_ID,
    InstathingsSimulator,
)
from tests.devices import find_device

from .conftest import coordinator_of, setup_live, wait_for
from .test_model import blank_device


def entity_id(entity_registry: er.EntityRegistry, platform: str, device: str, key: str) -> str:
    found = entity_registry.async_get_entity_id(platform, DOMAIN, f"demo_{device}_{key}")
    assert found is not None, (platform, device, key)
    return found


def state_of(hass: HomeAssistant, entity: str) -> str:
    state = hass.states.get(entity)
    assert state is not None, entity
    return state.state


@pytest.mark.parametrize("platform", [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_snapshot(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    config_entry: MockConfigEntry,
    platform: Platform,
) -> None:
    # One platform per snapshot, as snapshot_platform wants.
    with patch.object(VENDORS["instathings"], "platforms", (platform,)):
        await setup_live(hass, config_entry)
        await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_devices_and_hierarchy(
    hass: HomeAssistant, device_registry: dr.DeviceRegistry
) -> None:
    gateway = find_device(hass, (DOMAIN, f"instathings_{GATEWAY_ID}"))
    assert gateway is not None
    assert (gateway.name, gateway.manufacturer, gateway.model, gateway.sw_version) == (
        "Home gateway",
        "Instathings",
        "Gate",
        "1.7.1",
    )
    sensor = find_device(hass, (DOMAIN, f"instathings_{SENSOR_ID}"))
    assert sensor is not None
    assert (sensor.name, sensor.manufacturer, sensor.model) == (
        "Living room",
        "Xiaomi",
        "WSDCGQ11LM",
    )
    assert sensor.via_device_id == gateway.id
    plug = find_device(hass, (DOMAIN, f"instathings_{PLUG_ID}"))
    assert plug is not None
    assert plug.via_device_id == gateway.id
    virtual = find_device(hass, (DOMAIN, f"instathings_{VIRTUAL_ID}"))
    assert virtual is not None
    assert (virtual.name, virtual.model, virtual.via_device_id) == (
        "device1",
        "Virtual device",
        None,
    )


@pytest.mark.usefixtures("init_integration")
async def test_first_values_are_the_newest_records(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, sim: InstathingsSimulator
) -> None:
    sensor = sim.records[SENSOR_ID][-1]["data"]
    plug = sim.records[PLUG_ID][-1]["data"]
    temperature = entity_id(entity_registry, "sensor", SENSOR_ID, "temperature")
    assert float(state_of(hass, temperature)) == sensor["temperature"]
    assert (
        float(state_of(hass, entity_id(entity_registry, "sensor", PLUG_ID, "energy")))
        == (plug["energy"])
    )
    switch = entity_id(entity_registry, "switch", PLUG_ID, "state")
    assert state_of(hass, switch) == plug["state"].lower()
    assert switch == "switch.kettle_plug"  # the plug's main feature carries its name
    assert (
        state_of(hass, entity_id(entity_registry, "binary_sensor", GATEWAY_ID, "cloud_connection"))
        == "on"
    )


@pytest.mark.parametrize(
    ("device", "key", "device_class", "unit", "state_class"),
    [
        (SENSOR_ID, "temperature", SensorDeviceClass.TEMPERATURE, "°C", "measurement"),
        (SENSOR_ID, "humidity", SensorDeviceClass.HUMIDITY, "%", "measurement"),
        (SENSOR_ID, "battery", SensorDeviceClass.BATTERY, "%", "measurement"),
        (PLUG_ID, "power", SensorDeviceClass.POWER, "W", "measurement"),
        (PLUG_ID, "energy", SensorDeviceClass.ENERGY, "kWh", "total_increasing"),
        (PLUG_ID, "voltage", SensorDeviceClass.VOLTAGE, "V", "measurement"),
        (PLUG_ID, "current", SensorDeviceClass.CURRENT, "A", "measurement"),
        (VIRTUAL_ID, "value", None, None, "measurement"),
    ],
)
@pytest.mark.usefixtures("init_integration")
async def test_device_class_and_unit_from_key_names(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device: str,
    key: str,
    device_class: SensorDeviceClass | None,
    unit: str | None,
    state_class: str,
) -> None:
    state = hass.states.get(entity_id(entity_registry, "sensor", device, key))
    assert state is not None
    assert state.attributes.get(ATTR_DEVICE_CLASS) == device_class
    assert state.attributes.get(ATTR_UNIT_OF_MEASUREMENT) == unit
    assert state.attributes.get(ATTR_STATE_CLASS) == state_class


@pytest.mark.usefixtures("init_integration")
async def test_radio_quality_is_diagnostic_and_off_by_default(
    entity_registry: er.EntityRegistry,
) -> None:
    link = entity_registry.async_get(entity_id(entity_registry, "sensor", SENSOR_ID, "linkquality"))
    assert link is not None
    assert link.entity_category is EntityCategory.DIAGNOSTIC
    assert link.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    battery = entity_registry.async_get(entity_id(entity_registry, "sensor", SENSOR_ID, "battery"))
    assert battery is not None
    assert battery.entity_category is EntityCategory.DIAGNOSTIC
    assert battery.disabled_by is None


async def test_new_keys_and_kinds_add_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    sim: InstathingsSimulator,
) -> None:
    await sim.add_data(
        SENSOR_ID,
        {
            "temperature": 22.25,
            "pressure": 1013.2,
            "pm2.5": 12,
            "co2": 640,
            "contact": True,
            "occupancy": False,
            "mode": "eco",
            "color": {"x": 0.3, "y": 0.4},  # objects have no entity
            "note": None,
        },
    )
    await wait_for(lambda: hass.states.get("sensor.living_room_pressure") is not None)
    pressure = hass.states.get("sensor.living_room_pressure")
    assert pressure is not None
    assert pressure.state == "1013.2"
    assert pressure.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ATMOSPHERIC_PRESSURE
    assert pressure.attributes[ATTR_UNIT_OF_MEASUREMENT] == "hPa"
    pm25 = hass.states.get(entity_id(entity_registry, "sensor", SENSOR_ID, "pm2.5"))
    assert pm25 is not None
    assert pm25.name == "Living room PM2.5"
    assert pm25.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.PM25
    assert state_of(hass, entity_id(entity_registry, "sensor", SENSOR_ID, "co2")) == "640"
    # zigbee2mqtt's contact is true when closed: the opening sensor is off.
    assert (
        state_of(hass, entity_id(entity_registry, "binary_sensor", SENSOR_ID, "contact")) == "off"
    )
    assert (
        state_of(hass, entity_id(entity_registry, "binary_sensor", SENSOR_ID, "occupancy")) == "off"
    )
    mode = hass.states.get(entity_id(entity_registry, "sensor", SENSOR_ID, "mode"))
    assert mode is not None
    assert mode.state == "eco"
    assert ATTR_STATE_CLASS not in mode.attributes
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"demo_{SENSOR_ID}_color") is None
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"demo_{SENSOR_ID}_note") is None
    assert init_integration.state is ConfigEntryState.LOADED


async def test_value_of_the_wrong_type_is_unknown(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    sim: InstathingsSimulator,
) -> None:
    temperature = entity_id(entity_registry, "sensor", SENSOR_ID, "temperature")
    humidity = entity_id(entity_registry, "sensor", SENSOR_ID, "humidity")
    await sim.add_data(SENSOR_ID, {"temperature": "hot", "humidity": 50.5})
    await wait_for(lambda: state_of(hass, temperature) == "unknown")
    assert state_of(hass, humidity) == "50.5"
    # The kind stays: no second entity for the same key.
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, f"demo_{SENSOR_ID}_temperature")
    assert (
        coordinator_of(init_integration).devices[SENSOR_ID].kinds["temperature"] is ValueKind.NUMBER
    )


def test_key_names() -> None:
    assert normalize_key("isVirtualData") == "is_virtual_data"
    assert normalize_key("pm2.5") == "pm2_5"
    assert humanize("device_temperature") == "Device temperature"
    assert humanize("isVirtualData") == "Is virtual data"
    assert humanize("CO2_level") == "CO2 level"
    assert humanize("_") == "_"
    # A known last word gives the class; only a whole-name match gives the nice name.
    outdoor = sensor_description("outdoor_temperature", ValueKind.NUMBER)
    assert outdoor.device_class is SensorDeviceClass.TEMPERATURE
    assert outdoor.translation_placeholders == {"key": "Outdoor temperature"}
    assert sensor_description("power_factor", ValueKind.NUMBER).device_class is None
    assert (
        sensor_description("energy", ValueKind.NUMBER).state_class
        is SensorStateClass.TOTAL_INCREASING
    )
    assert flag_description("battery_low").entity_category is EntityCategory.DIAGNOSTIC


def test_text_and_number_values() -> None:
    state = InstathingsDeviceState(blank_device("d"))
    state.apply(DataRecord("d", 1, {"mode": "x" * 300, "count": 3, "level": True}))
    text = sensor_description("mode", ValueKind.TEXT)
    assert text.value_fn(state) == "x" * 255
    assert sensor_description("count", ValueKind.TEXT).value_fn(state) == "3"
    assert sensor_description("color", ValueKind.TEXT).value_fn(state) is None
    assert sensor_description("level", ValueKind.NUMBER).value_fn(state) is None
    assert flag_description("count").is_on_fn(state) is None


async def test_unavailable_when_a_device_goes(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    sim: InstathingsSimulator,
) -> None:
    temperature = entity_id(entity_registry, "sensor", SENSOR_ID, "temperature")
    await sim.unpair_device(SENSOR_ID)
    await wait_for(lambda: state_of(hass, temperature) == STATE_UNAVAILABLE)
