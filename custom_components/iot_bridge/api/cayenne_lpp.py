"""Cayenne Low Power Payload (LPP) decoder.

A payload is a sequence of ``channel (1 byte), type (1 byte), value (n bytes)``
items, big-endian. The types are the IPSO-derived LPP v1 set plus the extended
types that the widely used ElectronicCats/TTN libraries agree on. Types whose
code differs between libraries (e.g. 143/144) or that have a variable length
(polyline) are refused rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiPayloadError

type LppNumber = int | float
type LppReading = LppNumber | tuple[LppNumber, ...]


class LppDecodeError(ApiPayloadError, ValueError):
    """The payload is not valid Cayenne LPP (truncated or of an unknown type).

    Still a ValueError, which it was before it joined the API errors.
    """


@dataclass(frozen=True, slots=True)
class LppValue:
    """One decoded item.

    ``value`` is a number, or a tuple for the multi-axis types: accelerometer and
    gyrometer ``(x, y, z)``, gps ``(latitude, longitude, altitude_m)``,
    colour ``(r, g, b)``. Types with a divisor of 1 decode to ``int``.
    """

    channel: int
    type_id: int
    name: str
    value: LppReading
    unit: str | None


@dataclass(frozen=True, slots=True)
class _Field:
    width: int
    signed: bool
    divisor: int


@dataclass(frozen=True, slots=True)
class _LppType:
    name: str
    unit: str | None
    fields: tuple[_Field, ...]

    @property
    def size(self) -> int:
        return sum(field.width for field in self.fields)


def _one(name: str, unit: str | None, width: int, signed: bool, divisor: int) -> _LppType:
    return _LppType(name, unit, (_Field(width, signed, divisor),))


def _axes(name: str, unit: str | None, width: int, signed: bool, divisor: int) -> _LppType:
    return _LppType(name, unit, (_Field(width, signed, divisor),) * 3)


TYPES: dict[int, _LppType] = {
    0: _one("digital_input", None, 1, False, 1),
    1: _one("digital_output", None, 1, False, 1),
    2: _one("analog_input", None, 2, True, 100),
    3: _one("analog_output", None, 2, True, 100),
    100: _one("generic_sensor", None, 4, False, 1),
    101: _one("illuminance", "lx", 2, False, 1),
    102: _one("presence", None, 1, False, 1),
    103: _one("temperature", "°C", 2, True, 10),
    104: _one("humidity", "%", 1, False, 2),
    113: _axes("accelerometer", "G", 2, True, 1000),
    115: _one("barometer", "hPa", 2, False, 10),
    116: _one("voltage", "V", 2, False, 100),
    117: _one("current", "A", 2, False, 1000),
    118: _one("frequency", "Hz", 4, False, 1),
    120: _one("percentage", "%", 1, False, 1),
    121: _one("altitude", "m", 2, True, 1),
    125: _one("concentration", "ppm", 2, False, 1),
    128: _one("power", "W", 2, False, 1),
    130: _one("distance", "m", 4, False, 1000),
    131: _one("energy", "kWh", 4, False, 1000),
    132: _one("direction", "°", 2, False, 1),
    133: _one("unix_time", "s", 4, False, 1),
    134: _axes("gyrometer", "°/s", 2, True, 100),
    135: _axes("colour", None, 1, False, 1),
    136: _LppType(
        "gps",
        None,
        (_Field(3, True, 10000), _Field(3, True, 10000), _Field(3, True, 100)),
    ),
    142: _one("switch", None, 1, False, 1),
}


def decode(payload: bytes) -> list[LppValue]:
    """Decode a whole LPP payload; raise LppDecodeError rather than return part of it."""
    values: list[LppValue] = []
    offset = 0
    while offset < len(payload):
        if offset + 2 > len(payload):
            raise LppDecodeError(f"truncated item header at byte {offset}")
        channel, type_id = payload[offset], payload[offset + 1]
        lpp_type = TYPES.get(type_id)
        if lpp_type is None:
            raise LppDecodeError(f"unknown type {type_id} on channel {channel} at byte {offset}")
        offset += 2
        if offset + lpp_type.size > len(payload):
            raise LppDecodeError(
                f"truncated {lpp_type.name} on channel {channel}: needs {lpp_type.size} bytes, "
                f"{len(payload) - offset} left"
            )
        numbers: list[LppNumber] = []
        for field in lpp_type.fields:
            raw = int.from_bytes(payload[offset : offset + field.width], "big", signed=field.signed)
            offset += field.width
            # Division (not multiplying by 0.1) keeps 217 -> 21.7 exact in repr.
            numbers.append(raw if field.divisor == 1 else raw / field.divisor)
        value: LppReading = numbers[0] if len(numbers) == 1 else tuple(numbers)
        values.append(LppValue(channel, type_id, lpp_type.name, value, lpp_type.unit))
    return values


def encode_digital_output(channel: int, value: int) -> bytes:
    """Build the LPP item that sets a digital output (the usual actuator downlink)."""
    if not 0 <= channel <= 255 or not 0 <= value <= 255:
        raise ValueError("channel and value must each fit in one byte")
    return bytes((channel, 1, value))
