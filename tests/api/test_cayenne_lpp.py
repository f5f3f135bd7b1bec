"""Cayenne LPP decoding: every supported type, and refusal of broken payloads."""

from __future__ import annotations

import pytest

from custom_components.iot_bridge.api.cayenne_lpp import (
    TYPES,
    LppDecodeError,
    LppReading,
    LppValue,
    decode,
    encode_digital_output,
)

# (hex item, type name, expected value, unit) — vectors hand-encoded from the LPP tables.
CASES: list[tuple[str, str, LppReading, str | None]] = [
    ("0100FF", "digital_input", 255, None),
    ("010101", "digital_output", 1, None),
    ("0102FF9C", "analog_input", -1.0, None),
    ("01030929", "analog_output", 23.45, None),
    ("016400010000", "generic_sensor", 65536, None),
    ("0165FFFF", "illuminance", 65535, "lx"),
    ("016601", "presence", 1, None),
    ("01670110", "temperature", 27.2, "°C"),
    ("0167FFD7", "temperature", -4.1, "°C"),
    ("016861", "humidity", 48.5, "%"),
    ("017104D2FB2E0000", "accelerometer", (1.234, -1.234, 0.0), "G"),
    ("01732797", "barometer", 1013.5, "hPa"),
    ("017404B0", "voltage", 12.0, "V"),
    ("01750FA0", "current", 4.0, "A"),
    ("0176000186A0", "frequency", 100000, "Hz"),
    ("017864", "percentage", 100, "%"),
    ("0179FF38", "altitude", -200, "m"),
    ("017D0190", "concentration", 400, "ppm"),
    ("01800DAC", "power", 3500, "W"),
    ("0182000004D2", "distance", 1.234, "m"),
    ("018300BC614E", "energy", 12345.678, "kWh"),
    ("01840168", "direction", 360, "°"),
    ("018565A0BC00", "unix_time", 1705032704, "s"),
    ("0186FF9C00C8FED4", "gyrometer", (-1.0, 2.0, -3.0), "°/s"),
    ("0187FF8000", "colour", (255, 128, 0), None),
    ("018806765FF2960A0003E8", "gps", (42.3519, -87.9094, 10.0), None),
    ("018E01", "switch", 1, None),
]


@pytest.mark.parametrize(("item", "name", "value", "unit"), CASES, ids=[c[0] for c in CASES])
def test_each_type(item: str, name: str, value: LppReading, unit: str | None) -> None:
    [decoded] = decode(bytes.fromhex(item))
    assert decoded.channel == 1
    assert decoded.name == name
    assert decoded.type_id == int(item[2:4], 16)
    assert decoded.value == value
    assert decoded.unit == unit


def test_every_supported_type_has_a_case() -> None:
    assert {int(item[2:4], 16) for item, *_ in CASES} == set(TYPES)


def test_integral_types_decode_to_int_and_scaled_types_to_exact_float() -> None:
    [digital, temperature] = decode(bytes.fromhex("0000010267 00D9".replace(" ", "")))
    assert type(digital.value) is int
    assert temperature.value == 21.7
    assert repr(temperature.value) == "21.7"


def test_cayenne_documentation_example_with_several_channels() -> None:
    assert decode(bytes.fromhex("03670110056700FF")) == [
        LppValue(3, 103, "temperature", 27.2, "°C"),
        LppValue(5, 103, "temperature", 25.5, "°C"),
    ]


def test_climate_frame_like_the_simulator_sends() -> None:
    values = decode(bytes.fromhex("016700D7026859037327AE"))
    assert [(v.channel, v.name, v.value) for v in values] == [
        (1, "temperature", 21.5),
        (2, "humidity", 44.5),
        (3, "barometer", 1015.8),
    ]


def test_empty_payload_decodes_to_nothing() -> None:
    assert decode(b"") == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("01", "truncated item header at byte 0"),
        ("0167", "truncated temperature on channel 1: needs 2 bytes, 0 left"),
        ("016700", "truncated temperature on channel 1: needs 2 bytes, 1 left"),
        ("018806765FF2960A0003", "truncated gps on channel 1: needs 9 bytes, 8 left"),
        ("01670110FE", "truncated item header at byte 4"),
        ("CAFE0001", "unknown type 254 on channel 202 at byte 0"),
        ("0167011002F001", "unknown type 240 on channel 2 at byte 4"),
    ],
)
def test_broken_payloads_raise_with_a_clear_message(payload: str, message: str) -> None:
    with pytest.raises(LppDecodeError) as err:
        decode(bytes.fromhex(payload))
    assert str(err.value) == message
    assert isinstance(err.value, ValueError)


def test_encode_digital_output_round_trips() -> None:
    assert encode_digital_output(1, 1) == bytes.fromhex("010101")
    assert decode(encode_digital_output(4, 0)) == [LppValue(4, 1, "digital_output", 0, None)]
    with pytest.raises(ValueError):
        encode_digital_output(256, 1)
    with pytest.raises(ValueError):
        encode_digital_output(1, -1)
