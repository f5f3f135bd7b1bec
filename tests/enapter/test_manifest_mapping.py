"""How manifest units and commands map to Home Assistant (pure functions)."""

from __future__ import annotations

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
import pytest

from custom_components.iot_bridge.api.enapter import parse_manifest
from custom_components.iot_bridge.api.enapter_manifest import TelemetrySpec
from custom_components.iot_bridge.compat import BinarySensorDeviceClass
from custom_components.iot_bridge.enapter.entities import (
    binary_sensor_class,
    device_entities,
    numeric_sensor_kind,
)
from custom_components.iot_bridge.enapter.model import command_pairs

M = SensorStateClass.MEASUREMENT


@pytest.mark.parametrize(
    ("name", "unit", "expected"),
    [
        ("power", "W", (SensorDeviceClass.POWER, "W", M)),
        ("power", "kW", (SensorDeviceClass.POWER, "kW", M)),
        ("power", "MW", (SensorDeviceClass.POWER, "MW", M)),
        ("import", "Wh", (SensorDeviceClass.ENERGY, "Wh", SensorStateClass.TOTAL_INCREASING)),
        ("import", "kWh", (SensorDeviceClass.ENERGY, "kWh", SensorStateClass.TOTAL_INCREASING)),
        ("import", "MWh", (SensorDeviceClass.ENERGY, "MWh", SensorStateClass.TOTAL_INCREASING)),
        ("remaining_energy", "kWh", (SensorDeviceClass.ENERGY_STORAGE, "kWh", M)),
        ("voltage", "V", (SensorDeviceClass.VOLTAGE, "V", M)),
        ("current", "A", (SensorDeviceClass.CURRENT, "A", M)),
        ("frequency", "Hz", (SensorDeviceClass.FREQUENCY, "Hz", M)),
        ("temperature", "Cel", (SensorDeviceClass.TEMPERATURE, "°C", M)),
        ("pressure", "Pa", (SensorDeviceClass.PRESSURE, "Pa", M)),
        ("pressure", "kPa", (SensorDeviceClass.PRESSURE, "kPa", M)),
        ("pressure", "bar", (SensorDeviceClass.PRESSURE, "bar", M)),
        ("pressure", "mbar", (SensorDeviceClass.PRESSURE, "mbar", M)),
        ("apparent", "VA", (SensorDeviceClass.APPARENT_POWER, "VA", M)),
        ("reactive", "VAR", (SensorDeviceClass.REACTIVE_POWER, "var", M)),
        ("load", "%", (None, "%", M)),
        ("soc", "%", (SensorDeviceClass.BATTERY, "%", M)),
        ("humidity", "%", (SensorDeviceClass.HUMIDITY, "%", M)),
        ("power_factor", None, (SensorDeviceClass.POWER_FACTOR, None, M)),
        ("uptime", "s", (SensorDeviceClass.DURATION, "s", M)),
        ("flow", "m3/h", (SensorDeviceClass.VOLUME_FLOW_RATE, "m³/h", M)),
        ("flow", "l/min", (SensorDeviceClass.VOLUME_FLOW_RATE, "L/min", M)),
        # Normal litres have no Home Assistant device class: the unit stays, nothing else.
        ("h2_flow", "Nl/h", (None, "NL/h", M)),
        ("charge", "Ah", (None, "Ah", M)),
        ("odd", "furlong/fortnight", (None, "furlong/fortnight", M)),
        ("count", None, (None, None, M)),
    ],
)
def test_units(name: str, unit: str | None, expected: tuple[object, ...]) -> None:
    kind = numeric_sensor_kind(name, TelemetrySpec(display_name=name, type="float", unit=unit))
    assert (kind.device_class, kind.unit, kind.state_class) == expected


def test_binary_sensor_classes() -> None:
    def spec(name: str) -> TelemetrySpec:
        return TelemetrySpec(display_name=name, type="boolean")

    assert binary_sensor_class("has_error", spec("Has Error")) is BinarySensorDeviceClass.PROBLEM
    assert binary_sensor_class("charging", spec("Charging")) is (
        BinarySensorDeviceClass.BATTERY_CHARGING
    )
    assert binary_sensor_class("pump_running", spec("Pump")) is BinarySensorDeviceClass.RUNNING
    assert binary_sensor_class("online", spec("Online")) is BinarySensorDeviceClass.CONNECTIVITY
    assert binary_sensor_class("door", spec("Door")) is None


def test_pairs() -> None:
    parsed = parse_manifest(
        {
            "telemetry": {
                "status": {
                    "display_name": "Status",
                    "type": "string",
                    "enum": ["idle", "running", "fault"],
                },
                "heater_enabled": {"display_name": "Heater", "type": "boolean"},
                "fan_state": {"display_name": "Fan", "type": "string", "enum": ["on", "off"]},
            },
            "commands": {
                "start": {"display_name": "Start"},
                "stop": {"display_name": "Stop"},
                "enable_heater": {"display_name": "Enable Heater"},
                "disable_heater": {"display_name": "Disable Heater"},
                "turn_fan_on": {"display_name": "Turn Fan On"},
                "turn_fan_off": {"display_name": "Turn Fan Off"},
                "open": {"display_name": "Open"},
                "close": {"display_name": "Close"},
                "light_on": {"display_name": "Light on"},
                "set_level": {
                    "display_name": "Set Level",
                    "arguments": {"level": {"type": "integer", "required": True}},
                },
                "stop_only": {"display_name": "Stop only"},
            },
        }
    )
    assert parsed is not None
    pairs = {(p.on, p.off): (p.label, p.attribute, p.on_values) for p in command_pairs(parsed)}
    assert pairs == {
        ("start", "stop"): (None, "status", frozenset({"running"})),
        ("enable_heater", "disable_heater"): ("Heater", "heater_enabled", None),
        ("turn_fan_on", "turn_fan_off"): ("Fan", "fan_state", frozenset({"on"})),
        ("open", "close"): (None, None, None),
    }
    entities = device_entities(parsed)
    # Unpaired commands without required arguments are buttons.
    assert sorted(b.key for b in entities.buttons) == ["command_light_on", "command_stop_only"]
    # The device's own start/stop switch takes the device's name.
    main = next(s for s in entities.switches if s.key == "switch_start")
    assert main.name is None
    assert device_entities(None).sensors == ()
