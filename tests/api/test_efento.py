"""Parsing what an Efento gateway POSTs, and the reply we send back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import json
import re
from typing import Any

import pytest

from custom_components.iot_bridge.api.efento import (
    PARAM_KINDS,
    EfentoMessageError,
    HeartbeatMessage,
    InvalidParam,
    Measurement,
    MeasurementsMessage,
    Param,
    ParamKind,
    RejectedMeasurement,
    build_measurements_reply,
    kind_for,
    parse_message,
)
from custom_components.iot_bridge.api.errors import ApiPayloadError
from custom_components.iot_bridge.api.timestamps import (
    MAX_INTERVAL,
    MAX_UPTIME,
    timestamp_or_none,
)

from .efento_examples import (
    DOC_HEARTBEAT_EXAMPLE,
    DOC_HEARTBEAT_STRUCTURE,
    DOC_MEASUREMENTS_EXAMPLE,
    DOC_MEASUREMENTS_EXAMPLE_FIXED,
    DOC_MEASUREMENTS_STRUCTURE,
    DOC_REPLY_EXAMPLE,
    DOC_REPLY_STRUCTURE,
    DOC_TYPO,
)

T0 = datetime(2024, 10, 12, 15, 28, 21, tzinfo=UTC)
TEMPERATURE = ParamKind("temperature", "°C")
HUMIDITY = ParamKind("humidity", "%")
DIFF = ParamKind("differential_pressure", "Pa")
OPENING = ParamKind("opening", None, binary=True)


def _measurements(body: Any) -> MeasurementsMessage:
    message = parse_message(json.dumps(body))
    assert isinstance(message, MeasurementsMessage)
    return message


def _one(params: list[Any], **fields: Any) -> Measurement:
    item = {
        "serial": "282C024FFFB1",
        "response_handle": 1,
        "measured_at": "2024-10-12 15:28:21 UTC",
        "params": params,
        **fields,
    }
    message = _measurements({"measurements": [item]})
    assert message.rejected == ()
    (measurement,) = message.measurements
    return measurement


def _reason(body: str | bytes) -> str:
    with pytest.raises(EfentoMessageError) as info:
        parse_message(body)
    return info.value.reason


# ----- the documentation's own examples ------------------------------------


def test_doc_measurements_example_as_published_is_rejected_as_not_json() -> None:
    """The page's example has `"channel: 1, "type: ...` in its fourth measurement."""
    assert DOC_MEASUREMENTS_EXAMPLE.count(DOC_TYPO) == 1
    with pytest.raises(ApiPayloadError) as info:
        parse_message(DOC_MEASUREMENTS_EXAMPLE)
    assert isinstance(info.value, EfentoMessageError)
    assert info.value.reason == "not JSON"
    assert _reason(DOC_MEASUREMENTS_EXAMPLE.encode()) == "not JSON"


@pytest.mark.parametrize(
    "template", [DOC_MEASUREMENTS_STRUCTURE, DOC_HEARTBEAT_STRUCTURE, DOC_REPLY_STRUCTURE]
)
def test_doc_structure_templates_are_not_messages(template: str) -> None:
    assert _reason(template) == "not JSON"


def test_doc_measurements_example_with_its_typo_repaired() -> None:
    message = parse_message(DOC_MEASUREMENTS_EXAMPLE_FIXED.encode())
    assert isinstance(message, MeasurementsMessage)
    assert message.rejected == ()

    def measurement(n: int, next_at: str, params: tuple[Param, ...]) -> Measurement:
        return Measurement(
            serial=f"282C024FFFB{n}",
            response_handle=n,
            battery="ok",
            signal=-70,
            measured_at=T0,
            measurement_interval=180,
            next_measurement_at=datetime.fromisoformat(next_at).replace(tzinfo=UTC),
            params=params,
            invalid_params=(),
        )

    assert message.measurements == (
        measurement(
            1, "2024-10-12 18:28:21", (Param(1, "temperature", "ok", TEMPERATURE, 6.0, None),)
        ),
        measurement(
            2,
            "2024-10-12 18:58:21",
            (
                Param(1, "temperature", "ok", TEMPERATURE, 12.0, None),
                Param(2, "humidity", "ok", HUMIDITY, 51.0, None),
            ),
        ),
        measurement(
            3,
            "2024-10-12 20:28:21",
            (
                Param(1, "temperature", "ok", TEMPERATURE, 50.0, None),
                Param(2, "humidity", "ok", HUMIDITY, 30.0, None),
                Param(3, "pressure_diff", "ok", DIFF, 21.0, None),
            ),
        ),
        measurement(
            4,
            "2024-10-12 16:28:21",
            (
                Param(1, "open-close", "ok", OPENING, None, True),
                Param(2, "open-close", "ok", OPENING, None, False),
                Param(3, "open-close", "ok", OPENING, None, False),
            ),
        ),
    )
    assert all(m.battery_low is False for m in message.measurements)
    assert message.measurements[0].measured_at.utcoffset() == timedelta(0)


def test_doc_heartbeat_example() -> None:
    assert parse_message(DOC_HEARTBEAT_EXAMPLE) == HeartbeatMessage(
        name="Efento-Gateway-030A",
        model="HG6-v1.2-LECH",
        software_version="01.00.00-c723d",
        current_time=datetime(2024, 11, 8, 13, 56, 32, tzinfo=UTC),
        uptime=2401,
        mac="28:2C:02:4F:03:0A",
        sensors_number="128/128",
        loggers_in_range=128,
        next_communication_at=datetime(2024, 11, 8, 14, 16, 32, tzinfo=UTC),
        is_usb_connected=True,
        is_charging=True,
        battery_level=None,
    )


def test_doc_reply_example_is_what_the_builder_makes() -> None:
    assert build_measurements_reply([1, 2, 3], [4]) == json.loads(DOC_REPLY_EXAMPLE)


def test_type_table_covers_every_documented_type() -> None:
    documented = re.search(r'"type" : \[string\], // (.*)', DOC_MEASUREMENTS_STRUCTURE)
    assert documented is not None
    names = [name.strip() for name in documented.group(1).split("/")]
    assert names == ["temperature", "humidity", "pressure", "pressure_diff", "open-close"]
    assert sorted(PARAM_KINDS) == sorted(names)


# ----- type mapping ---------------------------------------------------------


def test_kind_for_maps_vendor_names_to_neutral_kinds() -> None:
    assert kind_for("temperature") == TEMPERATURE
    assert kind_for("humidity") == HUMIDITY
    assert kind_for("pressure") == ParamKind("pressure", "hPa")
    assert kind_for("pressure_diff") == DIFF
    assert kind_for("pressure-diff") == DIFF
    assert kind_for(" Open_Close ") == OPENING
    assert kind_for("co2") is None


# ----- values and statuses --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(6, 6.0), (21.5, 21.5), ("21.5", 21.5), (" -3 ", -3.0), ("1e2", 100.0), ("0", 0.0)],
)
def test_numbers_and_numeric_strings_are_both_values(raw: Any, expected: float) -> None:
    (param,) = _one([{"channel": 1, "type": "temperature", "value": raw, "status": "ok"}]).params
    assert param.value == expected
    assert param.is_on is None
    assert param.ok


@pytest.mark.parametrize(("raw", "is_on"), [("open", True), ("closed", False), (" OPEN ", True)])
def test_open_close_values(raw: str, is_on: bool) -> None:
    (param,) = _one([{"channel": 2, "type": "open-close", "value": raw, "status": "ok"}]).params
    assert (param.is_on, param.value, param.kind) == (is_on, None, OPENING)


@pytest.mark.parametrize("value", [None, "", "n/a", 12, "12"])
def test_error_channel_keeps_the_param_without_a_value(value: Any) -> None:
    measurement = _one(
        [
            {"channel": 1, "type": "temperature", "value": value, "status": "error"},
            {"channel": 2, "type": "open-close", "value": value, "status": "ERROR"},
        ]
    )
    assert measurement.invalid_params == ()
    assert [(p.channel, p.status, p.value, p.is_on, p.ok) for p in measurement.params] == [
        (1, "error", None, None, False),
        (2, "error", None, None, False),
    ]


def test_unknown_status_is_kept_but_its_value_is_not_trusted() -> None:
    (param,) = _one(
        [{"channel": 1, "type": "humidity", "value": 40, "status": "sensor_lost"}]
    ).params
    assert (param.status, param.value, param.ok) == ("sensor_lost", None, False)


def test_unknown_type_is_kept_with_its_number() -> None:
    (param,) = _one([{"channel": 4, "type": "CO2", "value": "415", "status": "ok"}]).params
    assert param == Param(4, "co2", "ok", None, 415.0, None)


def test_partly_invalid_params_keep_the_valid_ones() -> None:
    where = "measurements[0].params"
    measurement = _one(
        [
            {"channel": 1, "type": "temperature", "value": "20.5", "status": "ok"},
            {"type": "humidity", "value": 40, "status": "ok"},
            {"channel": 3, "value": 40, "status": "ok"},
            {"channel": 4, "type": "humidity", "value": 40},
            {"channel": 5, "type": "humidity", "value": "forty", "status": "ok"},
            {"channel": 6, "type": "humidity", "status": "ok"},
            {"channel": 7, "type": "open-close", "value": "ajar", "status": "ok"},
            "channel 8",
            {"channel": 1, "type": "humidity", "value": 41, "status": "ok"},
            {"channel": "9", "type": "humidity", "value": 42, "status": "ok"},
        ]
    )
    assert [(p.channel, p.type, p.value) for p in measurement.params] == [
        (1, "temperature", 20.5),
        (9, "humidity", 42.0),
    ]
    assert measurement.invalid_params == (
        InvalidParam(1, None, f"{where}[1]: channel missing"),
        InvalidParam(2, 3, f"{where}[2]: type missing"),
        InvalidParam(3, 4, f"{where}[3]: status missing"),
        InvalidParam(4, 5, f"{where}[4]: value is not a number"),
        InvalidParam(5, 6, f"{where}[5]: value is not a number"),
        InvalidParam(6, 7, f"{where}[6]: value is not open or closed"),
        InvalidParam(7, None, f"{where}[7]: not an object"),
        InvalidParam(8, 1, f"{where}[8]: duplicate channel 1"),
    )


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (None, "measurements[0]: params missing"),
        ({"channel": 1}, "measurements[0]: params not a list"),
    ],
)
def test_measurement_without_a_params_list_still_carries_its_health(
    params: Any, reason: str
) -> None:
    item: dict[str, Any] = {
        "serial": "S1",
        "measured_at": "2024-10-12 15:28:21 UTC",
        "battery": "low",
    }
    if params is not None:
        item["params"] = params
    (measurement,) = _measurements({"measurements": [item]}).measurements
    assert measurement.params == ()
    assert measurement.invalid_params == (InvalidParam(None, None, reason),)
    assert measurement.battery_low is True


@pytest.mark.parametrize(
    ("battery", "low"), [("ok", False), ("low", True), ("LOW", True), ("empty", None), (5, None)]
)
def test_battery(battery: Any, low: bool | None) -> None:
    assert _one([], battery=battery).battery_low is low


def test_wrong_types_of_optional_fields_become_none() -> None:
    measurement = _one(
        [],
        battery=None,
        signal="strong",
        measurement_interval=[180],
        next_measurement_at="soon",
    )
    assert (
        measurement.battery,
        measurement.signal,
        measurement.measurement_interval,
        measurement.next_measurement_at,
    ) == (None, None, None, None)


def test_signal_given_as_a_string_is_read() -> None:
    assert _one([], signal="-81").signal == -81


# ----- measurement-level decisions ------------------------------------------


def test_missing_serial_or_time_rejects_only_that_measurement_and_keeps_its_handle() -> None:
    good = {"serial": "A", "response_handle": 1, "measured_at": "2024-10-12 15:28:21 UTC"}
    message = _measurements(
        {
            "measurements": [
                good,
                {"response_handle": 2, "measured_at": "2024-10-12 15:28:21 UTC"},
                {"serial": "  ", "response_handle": 3, "measured_at": "2024-10-12 15:28:21 UTC"},
                {"serial": "D", "response_handle": 4},
                {"serial": "E", "response_handle": 5, "measured_at": "yesterday"},
                {"serial": 6, "measured_at": "2024-10-12 15:28:21 UTC"},
            ]
        }
    )
    assert [m.serial for m in message.measurements] == ["A"]
    assert message.rejected == (
        RejectedMeasurement(1, 2, None, "measurements[1]: serial missing"),
        RejectedMeasurement(2, 3, None, "measurements[2]: serial missing"),
        RejectedMeasurement(3, 4, "D", "measurements[3]: measured_at missing"),
        RejectedMeasurement(4, 5, "E", "measurements[4]: measured_at not ISO 8601"),
        RejectedMeasurement(5, None, None, "measurements[5]: serial missing"),
    )
    reply = build_measurements_reply(
        (m.response_handle for m in message.measurements),
        (r.response_handle for r in message.rejected),
    )
    assert reply == {"Y": [1], "N": [2, 3, 4, 5]}


def test_handle_is_optional() -> None:
    item = {"serial": "A", "measured_at": "2024-10-12 15:28:21 UTC", "params": []}
    (measurement,) = _measurements({"measurements": [item]}).measurements
    assert measurement.response_handle is None
    assert _one([], response_handle=None).response_handle is None


def test_handle_given_as_an_integral_string_or_float_is_read() -> None:
    assert _one([], response_handle="7").response_handle == 7
    assert _one([], response_handle=8.0).response_handle == 8


@pytest.mark.parametrize("handle", ["seven", 1.5, True, [1], {"id": 1}, ""])
def test_unreadable_handle_fails_the_whole_message(handle: Any) -> None:
    good = {"serial": "A", "response_handle": 1, "measured_at": "2024-10-12 15:28:21 UTC"}
    bad = {"serial": "B", "response_handle": handle, "measured_at": "2024-10-12 15:28:21 UTC"}
    body = json.dumps({"measurements": [good, bad]})
    assert _reason(body) == "measurements[1]: response_handle is not an integer"


@pytest.mark.parametrize("item", ["282C024FFFB1", 5, None, []])
def test_measurement_that_is_not_an_object_fails_the_whole_message(item: Any) -> None:
    assert _reason(json.dumps({"measurements": [{}, {}, item]})) == "measurements[2]: not an object"
    assert _reason(json.dumps({"measurements": [item]})) == "measurements[0]: not an object"


# ----- shape detection and whole-body errors --------------------------------


def test_shape_detection() -> None:
    assert parse_message('{"measurements": []}') == MeasurementsMessage((), ())
    heartbeat = parse_message(b'{"mac": "28:2C:02:4F:03:0A"}')
    assert isinstance(heartbeat, HeartbeatMessage)
    assert heartbeat.mac == "28:2C:02:4F:03:0A"
    assert heartbeat.name is None
    # A measurements body carrying gateway fields is still a measurements body.
    both = parse_message('{"name": "gw", "measurements": []}')
    assert isinstance(both, MeasurementsMessage)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "not JSON"),
        ("   ", "not JSON"),
        ("<html>", "not JSON"),
        ('{"measurements": [', "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        ("[]", "not a JSON object"),
        ('"measurements"', "not a JSON object"),
        ("null", "not a JSON object"),
        ("{}", "neither a measurements nor a heartbeat message"),
        ('{"Y": [1], "N": []}', "neither a measurements nor a heartbeat message"),
        ('{"measurements": {"serial": "A"}}', "measurements: not a list"),
        ('{"measurements": null}', "measurements: not a list"),
    ],
)
def test_whole_body_errors(body: str | bytes, reason: str) -> None:
    assert _reason(body) == reason


def test_error_message_names_the_vendor_and_reason() -> None:
    with pytest.raises(EfentoMessageError, match=r"^Efento message: not a JSON object$"):
        parse_message("[1]")


def test_utf8_bom_is_accepted() -> None:
    assert parse_message('\ufeff{"measurements": []}'.encode()) == MeasurementsMessage((), ())


# ----- heartbeat tolerance --------------------------------------------------


def test_heartbeat_with_wrong_types_keeps_what_it_can() -> None:
    message = parse_message(
        json.dumps(
            {
                "name": 5,
                "model": "HG6",
                "current_time": "1731074192",
                "uptime": "2401",
                "sensors_number": 7,
                "next_communication_at": None,
                "power_monitor": {
                    "is_usb_connected": "yes",
                    "is_charging": False,
                    "battery_level": 55,
                },
            }
        )
    )
    assert message == HeartbeatMessage(
        name=None,
        model="HG6",
        software_version=None,
        current_time=None,
        uptime=2401,
        mac=None,
        sensors_number="7",
        loggers_in_range=7,
        next_communication_at=None,
        is_usb_connected=None,
        is_charging=False,
        battery_level=55,
    )


@pytest.mark.parametrize("power", [None, "on", [True]])
def test_heartbeat_power_monitor_not_an_object(power: Any) -> None:
    message = parse_message(
        json.dumps({"uptime": 1, "power_monitor": power, "sensors_number": "x/9"})
    )
    assert isinstance(message, HeartbeatMessage)
    assert (message.is_usb_connected, message.is_charging, message.battery_level) == (None,) * 3
    assert (message.sensors_number, message.loggers_in_range) == ("x/9", None)


# ----- timestamps -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-10-12 15:28:21 UTC", T0),
        (" 2024-10-12 15:28:21 UTC ", T0),
        ("2024-10-12T15:28:21Z", T0),
        ("2024-10-12T17:28:21+02:00", T0),
        ("2024-10-12 15:28:21", T0),
        (1728746901, T0),
        (1728746901.0, T0),
        ("2024-10-12 25:28:21 UTC", None),
        ("12.10.2024 15:28", None),
        ("1728746901", None),
        ("", None),
        (None, None),
        (True, None),
        (10**20, None),
        ({"at": 1}, None),
    ],
)
def test_efento_time_forms(raw: Any, expected: datetime | None) -> None:
    """What the gateway sends: Efento's " UTC" text, ISO 8601, Unix seconds as numbers."""
    parsed = timestamp_or_none(raw, epoch="s")
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is UTC


def test_offset_timestamps_are_converted_to_utc() -> None:
    parsed = timestamp_or_none("2024-10-12T17:28:21+02:00")
    assert parsed is not None
    assert parsed.tzinfo is UTC
    assert parsed.hour == 15
    assert parsed.astimezone(timezone(timedelta(hours=2))).hour == 17


# ----- reply builder --------------------------------------------------------


def test_reply_builder_dedupes_keeps_order_and_lets_yes_win() -> None:
    reply = build_measurements_reply([3, 1, 3, None, 2], [4, 1, 4, None, 5])
    assert reply == {"Y": [3, 1, 2], "N": [4, 5]}
    assert json.loads(json.dumps(reply)) == reply


def test_reply_builder_accepts_generators_and_empty_input() -> None:
    assert build_measurements_reply(iter(()), (h for h in list[int]())) == {"Y": [], "N": []}
    assert build_measurements_reply([], [7]) == {"Y": [], "N": [7]}


# ----- regressions: times and durations that cannot be real ------------------


@pytest.mark.parametrize(
    "measured_at",
    [
        "9999-12-31T23:59:59-14:00",  # used to raise OverflowError for the whole message
        "9999-12-31 23:59:59 UTC",  # used to be applied, then overflow the first deadline
        "1970-01-01 00:00:00 UTC",
        1e20,
    ],
)
def test_impossible_measured_at_rejects_only_that_logger(measured_at: Any) -> None:
    message = _measurements(
        {
            "measurements": [
                {"serial": "A", "response_handle": 1, "measured_at": "2024-10-12 15:28:21 UTC"},
                {"serial": "B", "response_handle": 2, "measured_at": measured_at},
                {"serial": "C", "response_handle": 3, "measured_at": "2024-10-12 15:28:21 UTC"},
            ]
        }
    )
    assert [m.serial for m in message.measurements] == ["A", "C"]
    (rejected,) = message.rejected
    assert (rejected.index, rejected.response_handle, rejected.serial) == (1, 2, "B")
    assert rejected.reason.startswith("measurements[1]: measured_at ")


def test_impossible_next_measurement_at_reads_as_none() -> None:
    measurement = _one([], next_measurement_at="9999-12-31T23:59:59-14:00")
    assert measurement.next_measurement_at is None


@pytest.mark.parametrize("interval", [1e15, 10**30, "1000000000000000"])
def test_huge_measurement_interval_is_clamped(interval: Any) -> None:
    measurement = _one([], measurement_interval=interval)
    assert measurement.measurement_interval == MAX_INTERVAL.total_seconds()
    # What the Home Assistant side computes with it (a logger's deadline):
    assert measurement.measured_at + timedelta(seconds=measurement.measurement_interval) > T0


def test_negative_measurement_interval_reads_as_zero() -> None:
    assert _one([], measurement_interval=-180).measurement_interval == 0


@pytest.mark.parametrize("uptime", [1e12, 10**30])
def test_huge_uptime_is_clamped(uptime: float) -> None:
    message = parse_message(json.dumps({"current_time": 1728746901, "uptime": uptime}))
    assert isinstance(message, HeartbeatMessage)
    assert message.uptime == MAX_UPTIME.total_seconds()
    # The gateway's boot time on the Home Assistant side:
    assert message.current_time is not None
    boot = message.current_time - timedelta(seconds=message.uptime)
    assert boot > datetime(1900, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("current_time", [1e20, 4102444800, -1, "9999-12-31T23:59:59-14:00"])
def test_impossible_heartbeat_times_read_as_none(current_time: Any) -> None:
    message = parse_message(
        json.dumps({"current_time": current_time, "next_communication_at": current_time})
    )
    assert isinstance(message, HeartbeatMessage)
    assert (message.current_time, message.next_communication_at) == (None, None)
