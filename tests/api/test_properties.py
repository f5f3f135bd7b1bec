"""Property-based tests: every parser in api/ answers any input with a value or its own error.

"Its own error" means an ``ApiError`` subclass (or ``ValueError`` for validators of
what a user typed); anything else escaping (OverflowError, RecursionError,
TypeError...) would end a coordinator's update or a stream with a traceback.
The inputs are JSON-like trees, random text and bytes, and vendor-shaped objects
whose fields take random or hostile values (far-future times, huge numbers).
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime, timedelta, timezone
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.iot_bridge.api import enapter, netemera
from custom_components.iot_bridge.api.backoff import Backoff
from custom_components.iot_bridge.api.cayenne_lpp import LppDecodeError, decode
from custom_components.iot_bridge.api.efento import (
    EfentoMessageError,
    HeartbeatMessage,
    MeasurementsMessage,
    parse_message,
)
from custom_components.iot_bridge.api.egauge import (
    EgaugeReading,
    normalize_url as egauge_url,
    parse_history,
    parse_readings,
)
from custom_components.iot_bridge.api.enapter_manifest import Manifest, display_unit, parse_manifest
from custom_components.iot_bridge.api.errors import ApiError, ApiPayloadError
from custom_components.iot_bridge.api.fields import (
    as_bool,
    as_float,
    as_int,
    as_list,
    as_mapping,
    as_str,
)
from custom_components.iot_bridge.api.http import (
    MAX_RETRY_AFTER,
    decode_json,
    parse_retry_after,
    raise_for_status,
)
from custom_components.iot_bridge.api.instathings import (
    jwt_claims,
    normalize_api_url,
    normalize_websocket_url,
)
from custom_components.iot_bridge.api.instathings_events import (
    BadMessage,
    DataEvent,
    parse_device,
    parse_event,
    parse_record,
    parse_type,
)
from custom_components.iot_bridge.api.netemera import (
    BadEvent,
    KeepAlive,
    Uplink,
    parse_uplink,
    validate_hex,
)
from custom_components.iot_bridge.api.sse import SseError, SseEvent, SseParser
from custom_components.iot_bridge.api.timestamps import (
    EARLIEST,
    MAX_FUTURE,
    MAX_INTERVAL,
    MAX_UPTIME,
    InvalidTimestampError,
    check_epoch,
    clamp_duration,
    parse_timestamp,
)
from custom_components.iot_bridge.api.urls import (
    parse_url,
    redact_url,
    url_has_credentials,
)

FAST = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# --- strategies -----------------------------------------------------------------------

HOSTILE_NUMBERS = st.sampled_from(
    [0, -1, 1e15, 1e20, 1e308, -1e308, 10**400, -(10**400), math.inf, -math.inf, math.nan]
)
NUMBERS = st.integers() | st.floats() | HOSTILE_NUMBERS
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=20)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Deep enough for a RecursionError from json.loads whatever the interpreter's stack limit.
DEEP_NESTING = st.sampled_from([1, 1000, 100_000]).map(lambda depth: "[" * depth)
ZONES = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14, minutes=-30))]
)
TIME_TEXT = (
    st.datetimes(timezones=ZONES).map(lambda moment: moment.isoformat())
    | st.datetimes().map(lambda moment: f"{moment:%Y-%m-%d %H:%M:%S} UTC")
    | st.sampled_from(
        [
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31 23:59:59 UTC",
            "2016-10-31T21:41:51.765598114Z",
            "2024-10-12 15:28:21 UTC",
            "1970-01-01T00:00:00Z",
            "",
        ]
    )
)
EPOCH_SECONDS = st.integers(min_value=-(10**12), max_value=10**12) | st.floats() | HOSTILE_NUMBERS
TIMES = TIME_TEXT | EPOCH_SECONDS | st.integers().map(lambda n: n * 1000) | JSON
VALUES = JSON | TIMES | NUMBERS


def shaped(keys: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of ``keys``, each with its typical or any other value."""
    return st.fixed_dictionaries({}, optional={key: value | JSON for key, value in keys.items()})


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


def in_bounds(moment: datetime) -> bool:
    return moment.tzinfo is UTC and EARLIEST <= moment <= datetime.now(
        UTC
    ) + MAX_FUTURE + timedelta(minutes=1)


# --- timestamps, Retry-After, fields ----------------------------------------------------


@FAST
@given(value=TIMES, epoch=st.sampled_from([None, "s", "ms"]))
def test_timestamps_are_believable_utc_or_refused(value: Any, epoch: Any) -> None:
    try:
        moment = parse_timestamp(value, epoch=epoch)
    except InvalidTimestampError:
        return
    assert in_bounds(moment)


@FAST
@given(value=NUMBERS, unit=st.sampled_from(["s", "ms"]))
def test_check_epoch_returns_the_number_or_refuses(value: Any, unit: Any) -> None:
    try:
        assert check_epoch(value, unit) == value
    except InvalidTimestampError:
        return


@FAST
@given(seconds=st.none() | NUMBERS, maximum=st.sampled_from([MAX_INTERVAL, MAX_UPTIME]))
def test_clamped_durations_stay_in_range(seconds: Any, maximum: timedelta) -> None:
    result = clamp_duration(seconds, maximum=maximum)
    if result is not None:
        assert timedelta(0) <= result <= maximum
        assert EARLIEST - result <= EARLIEST + result


@FAST
@given(
    header=st.none()
    | st.text(max_size=40)
    | NUMBERS.map(str)
    | st.sampled_from(
        [
            "Sun, 01 Mar 2026 12:02:00 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Mon, 1 Jan 0001 0:0:0 +1400",
        ]
    )
)
def test_retry_after_is_none_or_a_bounded_number(header: str | None) -> None:
    seconds = parse_retry_after(header)
    if seconds is not None:
        assert 0 <= seconds <= MAX_RETRY_AFTER
        assert timedelta(seconds=seconds) <= timedelta(hours=1)


@FAST
@given(
    status=st.integers(min_value=100, max_value=599),
    headers=st.dictionaries(st.sampled_from(["Retry-After", "Content-Type", "X"]), st.text()),
    text=st.text(max_size=300),
)
def test_status_mapping_raises_only_api_errors(
    status: int, headers: dict[str, str], text: str
) -> None:
    if status < 300:
        raise_for_status(status, headers, text, "probe")
        return
    with pytest.raises(ApiError) as info:
        raise_for_status(status, headers, text, "probe")
    assert len(str(info.value)) < 300


@FAST
@given(text=st.text() | JSON.map(dumps) | DEEP_NESTING)
def test_decode_json_returns_a_value_or_payload_error(text: str) -> None:
    with contextlib.suppress(ApiPayloadError):
        decode_json(text, "probe")


@FAST
@given(value=VALUES)
def test_field_readers_return_their_type_or_none(value: Any) -> None:
    number = as_float(value)
    assert number is None or (isinstance(number, float) and math.isfinite(number))
    integer = as_int(value)
    assert integer is None or (isinstance(integer, int) and not isinstance(integer, bool))
    assert as_bool(value) in (None, True, False)
    assert as_str(value) is None or isinstance(as_str(value), str)
    assert as_mapping(value) is None or isinstance(as_mapping(value), dict)
    assert as_list(value) is None or isinstance(as_list(value), list)


@FAST
@given(floor=st.none() | NUMBERS, failures=st.integers(0, 3000))
def test_backoff_delays_are_finite_and_capped(floor: Any, failures: int) -> None:
    backoff = Backoff(initial=1, maximum=300)
    backoff._attempt = failures
    delay = backoff.next_delay(floor=floor)
    assert 0 < delay <= 300


# --- Efento ----------------------------------------------------------------------------

PARAM = shaped(
    {
        "channel": st.integers(-2, 5),
        "type": st.sampled_from(["temperature", "humidity", "open-close", "pressure_diff", "x"]),
        "status": st.sampled_from(["ok", "error", "OK"]),
        "value": NUMBERS | st.sampled_from(["open", "closed"]),
    }
)
MEASUREMENT = shaped(
    {
        "serial": st.sampled_from(["A", "B", " "]),
        "response_handle": st.integers(-5, 5) | HOSTILE_NUMBERS,
        "battery": st.sampled_from(["ok", "low"]),
        "signal": NUMBERS,
        "measured_at": TIMES,
        "measurement_interval": NUMBERS,
        "next_measurement_at": TIMES,
        "params": st.lists(PARAM | JSON, max_size=4),
    }
)
HEARTBEAT = shaped(
    {
        "name": st.text(max_size=5),
        "current_time": TIMES,
        "uptime": NUMBERS,
        "sensors_number": st.sampled_from(["7/128", "x/9", 7]),
        "next_communication_at": TIMES,
        "power_monitor": shaped({"is_usb_connected": st.booleans(), "battery_level": NUMBERS}),
    }
)
EFENTO_BODIES = (
    st.binary(max_size=200)
    | st.text(max_size=200)
    | JSON.map(dumps)
    | st.lists(MEASUREMENT | JSON, max_size=5).map(lambda items: dumps({"measurements": items}))
    | HEARTBEAT.map(dumps)
)


@FAST
@given(body=EFENTO_BODIES)
def test_efento_message_is_parsed_or_refused_as_a_whole(body: bytes | str) -> None:
    try:
        message = parse_message(body)
    except EfentoMessageError:
        return
    if isinstance(message, MeasurementsMessage):
        for measurement in message.measurements:
            assert in_bounds(measurement.measured_at)
            interval = measurement.measurement_interval
            assert interval is None or 0 <= interval <= MAX_INTERVAL.total_seconds()
            # What the Home Assistant side computes from them must not overflow.
            _ = measurement.measured_at + timedelta(seconds=interval or 0) + timedelta(days=1)
    else:
        assert isinstance(message, HeartbeatMessage)
        uptime = message.uptime
        assert uptime is None or 0 <= uptime <= MAX_UPTIME.total_seconds()
        if message.current_time is not None:
            assert in_bounds(message.current_time)
            _ = message.current_time - timedelta(seconds=uptime or 0)


# --- eGauge ----------------------------------------------------------------------------

EGAUGE_REGISTER = shaped(
    {
        "name": st.sampled_from(["Grid", "Solar", ""]),
        "type": st.sampled_from(["P", "V", "?"]),
        "idx": st.integers(0, 3),
        "rate": NUMBERS,
    }
)
EGAUGE_RANGE = shaped(
    {
        "ts": EPOCH_SECONDS.map(str) | EPOCH_SECONDS,
        "delta": NUMBERS,
        "rows": st.lists(st.lists(NUMBERS.map(str) | JSON, max_size=3), max_size=3),
    }
)
EGAUGE_BODY = shaped(
    {
        "registers": st.lists(EGAUGE_REGISTER | JSON, max_size=3),
        "ranges": st.lists(EGAUGE_RANGE | JSON, max_size=3),
        "ts": EPOCH_SECONDS,
    }
)


@FAST
@given(body=EGAUGE_BODY)
def test_egauge_readings_and_history(body: dict[str, Any]) -> None:
    try:
        reading = parse_readings(body)
    except ApiPayloadError:
        pass
    else:
        assert isinstance(reading, EgaugeReading)
        if reading.timestamp is not None:
            assert in_bounds(datetime.fromtimestamp(reading.timestamp, UTC))
    try:
        rows = parse_history(body)
    except ApiPayloadError:
        return
    assert [moment for moment, _ in rows] == sorted(moment for moment, _ in rows)
    assert all(in_bounds(datetime.fromtimestamp(moment, UTC)) for moment, _ in rows)


# --- Enapter ---------------------------------------------------------------------------

DATAPOINT = shaped({"timestamp": EPOCH_SECONDS, "value": JSON})
LATEST = shaped(
    {
        "telemetry": st.dictionaries(
            st.text(max_size=4),
            st.dictionaries(st.text(max_size=4), DATAPOINT | JSON, max_size=3) | JSON,
            max_size=3,
        )
    }
)
DEVICE = shaped(
    {
        "id": st.text(max_size=4),
        "name": st.text(max_size=4),
        "connectivity": shaped({"status": st.sampled_from(["ONLINE", "OFFLINE", "x"])}),
        "properties": JSON,
        "manifest": JSON,
    }
)
MANIFEST_ENTRY = shaped(
    {
        "type": st.sampled_from(["float", "integer", "string", "boolean", "json"]),
        "display_name": st.text(max_size=4),
        "unit": st.text(max_size=4),
        "enum": JSON,
        "arguments": st.dictionaries(st.text(max_size=4), JSON, max_size=3),
    }
)
MANIFEST = shaped(
    {
        "telemetry": st.dictionaries(st.text(max_size=4), MANIFEST_ENTRY, max_size=3),
        "properties": st.dictionaries(st.text(max_size=4), MANIFEST_ENTRY, max_size=3),
        "commands": st.dictionaries(st.text(max_size=4), MANIFEST_ENTRY, max_size=3),
    }
)


@FAST
@given(body=LATEST | JSON)
def test_enapter_latest_telemetry(body: Any) -> None:
    try:
        result = enapter._parse_latest(body)
    except ApiPayloadError:
        return
    for points in result.values():
        for point in points.values():
            if point.timestamp is not None:
                assert in_bounds(datetime.fromtimestamp(point.timestamp, UTC))


@FAST
@given(raw=DEVICE | JSON, text=st.text(max_size=100) | JSON.map(dumps))
def test_enapter_devices_sites_and_error_bodies(raw: Any, text: str) -> None:
    device = enapter._parse_device(raw)
    assert device is None or device.connectivity in ("ONLINE", "OFFLINE", "UNKNOWN")
    enapter._parse_site(raw)
    assert isinstance(enapter._error_messages(text), str)
    with pytest.raises(ApiError):
        enapter._raise_for_status(429, {"Retry-After": text[:20]}, text, "probe")


@FAST
@given(raw=MANIFEST | JSON, unit=st.none() | st.text(max_size=6))
def test_enapter_manifest(raw: Any, unit: str | None) -> None:
    manifest = parse_manifest(raw)
    assert manifest is None or isinstance(manifest, Manifest)
    assert display_unit(unit) is None or isinstance(display_unit(unit), str)


# --- Instathings -----------------------------------------------------------------------

RECORD = shaped({"deviceId": st.text(max_size=4), "ts": TIMES, "data": JSON, "id": st.text()})
INSTATHINGS_DEVICE = shaped(
    {
        "id": st.text(max_size=4),
        "isGateway": st.booleans(),
        "subDevices": JSON,
        "version": JSON,
        "status": shaped({"eventType": st.sampled_from(["connected", "x"])}),
        "ts": TIMES,
        "isVirtual": JSON,
    }
)
EVENT = shaped(
    {
        "action": st.sampled_from(
            [
                "data",
                "connected",
                "disconnected",
                "paired",
                "not_paired",
                "software_version",
                "status",
            ]
        ),
        "payload": RECORD | INSTATHINGS_DEVICE | JSON,
    }
)


@FAST
@given(text=st.text(max_size=200) | JSON.map(dumps) | EVENT.map(dumps) | DEEP_NESTING)
def test_instathings_events_never_raise(text: str) -> None:
    event = parse_event(text)
    if isinstance(event, DataEvent):
        assert in_bounds(datetime.fromtimestamp(event.record.ts / 1000, UTC))
    if isinstance(event, BadMessage):
        assert len(event.excerpt) <= 200


@FAST
@given(raw=RECORD | INSTATHINGS_DEVICE | JSON)
def test_instathings_documents(raw: Any) -> None:
    record = parse_record(raw, "fallback")
    assert record is None or in_bounds(datetime.fromtimestamp(record.ts / 1000, UTC))
    device = parse_device(raw)
    if device is not None and device.created_ms is not None:
        assert in_bounds(datetime.fromtimestamp(device.created_ms / 1000, UTC))
    parse_type(raw)


@FAST
@given(
    token=st.text(max_size=60)
    | JSON.map(lambda value: f"a.{base64.urlsafe_b64encode(dumps(value).encode()).decode()}.c")
)
def test_jwt_claims_is_a_mapping_or_none(token: str) -> None:
    claims = jwt_claims(token)
    assert claims is None or isinstance(claims, dict)


# --- Netemera --------------------------------------------------------------------------

UPLINK = shaped(
    {
        "dev_eui": st.sampled_from(["70b3d5ca40000031", ""]),
        "recv_time": TIMES,
        "f_port": NUMBERS,
        "f_cnt_up": NUMBERS,
        "ack": st.booleans(),
        "ul_freq": NUMBERS,
        "gw_info": st.lists(
            shaped({"id": st.text(max_size=4), "rssi": NUMBERS, "snr": NUMBERS}) | JSON, max_size=3
        ),
        "frm_payload": st.text(alphabet="0123456789abcdefXZ ", max_size=12),
    }
)


@FAST
@given(raw=UPLINK | JSON)
def test_netemera_uplink_is_parsed_or_payload_error(raw: Any) -> None:
    try:
        uplink = parse_uplink(raw)
    except ApiPayloadError:
        return
    assert uplink.recv_time is None or in_bounds(uplink.recv_time)
    uplink.best_gateway  # noqa: B018 - must not raise either


@FAST
@given(
    data=st.text(max_size=100) | JSON.map(dumps) | UPLINK.map(dumps),
    event=st.sampled_from(["message", "other"]),
)
def test_netemera_stream_items_never_raise(data: str, event: str) -> None:
    item = netemera._stream_item(SseEvent(data, event, "id"))
    assert item is None or isinstance(item, Uplink | BadEvent | KeepAlive)


@FAST
@given(text=st.text(alphabet="0123456789abcdefABCDEFxX: g", max_size=600))
def test_validate_hex(text: str) -> None:
    try:
        payload = validate_hex(text)
    except ValueError:
        return
    assert len(payload) <= netemera.MAX_DOWNLINK_PAYLOAD


# --- SSE and Cayenne LPP ---------------------------------------------------------------

SSE_PIECES = st.sampled_from(
    [
        "data",
        "data:",
        "data: ",
        "id:",
        "id: 7",
        "event:x",
        "retry:10",
        ":c",
        "x",
        "é",
        "\0",
        "\ufeff",
        "\r",
        "\n",
        "\r\n",
        " ",
    ]
)
SSE_STREAMS = st.lists(SSE_PIECES, max_size=40).map("".join)


def _parse(chunks: list[bytes]) -> list[SseEvent] | str:
    parser = SseParser(max_line=200, max_event=400)
    events: list[SseEvent] = []
    try:
        for chunk in chunks:
            events.extend(parser.feed(chunk))
    except SseError:
        return "guard"
    return events


@FAST
@given(stream=SSE_STREAMS | st.text(max_size=300), cuts=st.lists(st.integers(0, 2000)))
def test_sse_events_do_not_depend_on_chunking(stream: str, cuts: list[int]) -> None:
    raw = stream.encode()
    points = sorted({cut % (len(raw) + 1) for cut in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert _parse(chunks) == _parse([raw])


@FAST
@given(chunks=st.lists(st.binary(max_size=50), max_size=20))
def test_sse_random_bytes_give_events_or_a_guard_error(chunks: list[bytes]) -> None:
    parser = SseParser(max_line=64, max_event=128)
    with contextlib.suppress(SseError):
        for chunk in chunks:
            for event in parser.feed(chunk):
                assert len(event.data) <= 128


@FAST
@given(payload=st.binary(max_size=60))
def test_lpp_decodes_or_refuses_the_whole_payload(payload: bytes) -> None:
    try:
        values = decode(payload)
    except LppDecodeError:
        return
    assert all(0 <= value.channel <= 255 for value in values)


# --- URLs ------------------------------------------------------------------------------

STRUCTURED_URLS = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["", "https://", "http://", "wss://", "ftp://", "//", "HTTPS://"]),
        st.sampled_from(["", "user:pass@", "u:p@ss@", "%40:pass@"]),
        st.sampled_from(["host.local", "192.168.1.5", "[fd00::5]", "[::1", "-bad-", "", "h st"]),
        st.sampled_from(["", ":8080", ":0", ":99999", ":x"]),
        st.sampled_from(["", "/", "/api", "/api/v3/", "/x@y"]),
        st.sampled_from(["", "?a=1", "?access_token=tok", "?apiKey=k&x=1", "?token=", "?%"]),
        st.sampled_from(["", "#f", "#access_token=tok"]),
    ),
)
URL_TEXT = STRUCTURED_URLS | st.text(max_size=60)


@FAST
@given(url=URL_TEXT)
def test_redaction_leaves_no_credentials(url: str) -> None:
    redacted = redact_url(url)
    assert not url_has_credentials(redacted)
    assert redact_url(redacted) == redacted
    assert url_has_credentials(url) == (redacted != url)


@FAST
@given(url=STRUCTURED_URLS)
def test_redaction_removes_the_secrets_it_finds(url: str) -> None:
    redacted = redact_url(url)
    for secret in ("pass", "=tok", "apiKey=k"):
        assert secret not in redacted


@FAST
@given(url=URL_TEXT)
def test_url_normalizers_return_text_or_value_error(url: str) -> None:
    for normalize in (
        egauge_url,
        enapter.normalize_url,
        netemera.normalize_url,
        normalize_api_url,
        normalize_websocket_url,
        parse_url,
    ):
        try:
            result = normalize(url)
        except ValueError:
            continue
        if normalize is egauge_url:
            assert egauge_url(str(result)) == result
        if normalize is egauge_url or normalize is enapter.normalize_url:
            assert not url_has_credentials(str(result))


def test_parser_errors_are_api_errors() -> None:
    """What the properties above allow to escape is what a coordinator already handles."""
    for error in (SseError, LppDecodeError, InvalidTimestampError, EfentoMessageError):
        assert issubclass(error, ApiPayloadError)
