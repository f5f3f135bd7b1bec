"""Enapter telemetry history: the request, the CSV parser, and the client against the simulator.

The simulator's history (simulators/enapter_history.py) ends at the latest value it
reports; Enapter's own SDK reads the same answers (parity at the end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
import math
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.iot_bridge.api.enapter import EnapterClient
from custom_components.iot_bridge.api.enapter_history import (
    MAX_TIMESERIES_BYTES,
    NoTelemetryFoundError,
    TimeseriesColumn,
    TimeseriesSelector,
    is_no_attributes_error,
    parse_timeseries,
    selectors_for,
    timeseries_request,
)
from custom_components.iot_bridge.api.errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiPayloadError,
    ApiRateLimitError,
)
from simulators.enapter import EXPIRED_TOKEN, TOKEN, EnapterSimulator
from simulators.enapter_history import SimHistory, history_for

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOW = 1_700_000_000 // 3600 * 3600 + 1234  # 20 min 34 s into an hour
HOUR = timedelta(hours=1)
DEVICE = "0b8e5b6c-5c1d-4c1e-9b8f-2a4f6f0a9d11"


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
def sim() -> EnapterSimulator:
    return EnapterSimulator(clock=lambda: NOW)


@pytest.fixture
def history(sim: EnapterSimulator) -> SimHistory:
    return history_for(sim)


@pytest.fixture
async def base_url(sim: EnapterSimulator) -> AsyncIterator[str]:
    async with TestServer(sim.make_app(), host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[EnapterClient]:
    async with aiohttp.ClientSession() as session:
        yield EnapterClient(session, base_url, TOKEN)


def meter_selector(sim: EnapterSimulator, *attributes: str) -> list[TimeseriesSelector]:
    return [TimeseriesSelector(sim.meter.id, attributes or ("import_energy",))]


# --- the request -------------------------------------------------------------------


def test_request_is_what_the_sdk_sends() -> None:
    body = timeseries_request(
        at(NOW - 3600),
        at(NOW),
        HOUR,
        [TimeseriesSelector(DEVICE, ("import_energy", "export_energy"))],
    )
    assert body == {
        "from": at(NOW - 3600).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": at(NOW).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "granularity": "3600s",
        "telemetry": [
            {
                "device": DEVICE,
                "attribute": ["import_energy", "export_energy"],
                "aggregation": "last",
                "gap_filling": {"method": "none", "look_around": "0s"},
            }
        ],
    }
    with pytest.raises(ValueError, match="granularity"):
        timeseries_request(at(NOW), at(NOW), HOUR, [])


def test_selectors_group_columns_by_device() -> None:
    columns = [
        TimeseriesColumn("a", "x"),
        TimeseriesColumn("b", "y"),
        TimeseriesColumn("a", "z"),
        TimeseriesColumn("a", "x"),
    ]
    assert selectors_for(columns) == [
        TimeseriesSelector("a", ("x", "z")),
        TimeseriesSelector("b", ("y",)),
    ]


# --- the parser --------------------------------------------------------------------

START, END = at(NOW - 10 * 3600), at(NOW)
T0 = NOW - 10 * 3600


def parse(text: str, types: str | None = "float") -> Any:
    return parse_timeseries(text, types, start=START, end=END)


def test_parse_reads_columns_by_label() -> None:
    text = (
        f"ts,telemetry=import_energy device={DEVICE},device={DEVICE} telemetry=status\n"
        f"{T0},1.5,ok\n"
        f"{T0 + 3600},,ok\n"
        f'{T0 + 7200},"2.25",fault\n'
    )
    series = parse(text, "float,string")
    assert series.column(DEVICE, "import_energy") == ((T0, 1.5), (T0 + 7200, 2.25))
    # A string column is no energy: not read.
    assert series.column(DEVICE, "status") == ()
    assert series.skipped == 0


def test_empty_body_is_no_data() -> None:
    assert parse("").points == {}
    assert parse("\ufeff\n\n").points == {}
    # Only a header: columns without a bucket of data.
    assert parse(f"ts,device={DEVICE} telemetry=x\n").points == {}


def test_hostile_rows_are_skipped() -> None:
    text = "\n".join(
        [
            f"ts,device={DEVICE} telemetry=e",
            f"{T0},1.0",
            f"{T0 + 60},2.0,3.0",  # too wide
            f"{T0 + 120}",  # too narrow
            f"{T0 + 180},nan",  # no number: no data, the row is fine
            f"{T0 + 240},inf",
            f"{T0 + 300},1e999",
            f"{T0 + 360},abc",
            "0,4.0",  # 1970
            "253402300799,4.0",  # 9999
            f"{NOW + 3600},4.0",  # after the asked period
            f"{T0 - 3600},4.0",  # before it
            f"{T0},9.0",  # the same bucket again: the first one counts
            f"{T0}.5,4.0",
            f"-{T0},4.0",
            "1e9,4.0",
            f"{T0 + 420},5.0",
            '"unterminated,5',
        ]
    )
    series = parse(text)
    assert series.column(DEVICE, "e") == ((T0, 1.0), (T0 + 420, 5.0))
    assert series.skipped == 11


def test_header_lies_are_payload_errors() -> None:
    with pytest.raises(ApiPayloadError, match="not a CSV header"):
        parse('{"errors": []}\n')
    with pytest.raises(ApiPayloadError, match="2 data types for 1 columns"):
        parse(f"ts,device={DEVICE} telemetry=e\n{T0},1\n", "float,float")
    with pytest.raises(ApiPayloadError, match="unreadable header"):
        parse("ts," + "x" * 200_000 + "\n")
    # A cell past the csv module's field limit only costs its row.
    series = parse(f"ts,device={DEVICE} telemetry=e\n{T0},{'1' * 200_000}\n{T0 + 60},2\n")
    assert (series.column(DEVICE, "e"), series.skipped) == (((T0 + 60, 2.0),), 1)


def test_columns_without_labels_or_repeated_are_ignored() -> None:
    text = (
        f"ts,device={DEVICE},telemetry=e,device={DEVICE} telemetry=e,"
        f"device={DEVICE} telemetry=e\n"
        f"{T0},1,2,3,4\n"
    )
    series = parse(text, None)  # no data types header: every column is read as a number
    assert series.points == {TimeseriesColumn(DEVICE, "e"): ((T0, 3.0),)}


def test_no_attributes_error_is_recognised() -> None:
    body = '{"errors": [{"code": "telemetrypersistence/NO_TELEMETRY_ATTRIBUTES_FOUND"}]}'
    assert is_no_attributes_error(body)
    assert is_no_attributes_error('{"errors": [{"message": "no_telemetry_attributes_found"}]}')
    assert not is_no_attributes_error('{"errors": [{"code": "not_found"}]}')
    assert not is_no_attributes_error("<html>404</html>")
    assert not is_no_attributes_error('{"errors": "x"}')


numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(min_value=-(10**15), max_value=10**15).map(float),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.integers(min_value=0, max_value=9),
        st.lists(st.one_of(st.none(), numbers), min_size=2, max_size=2),
        max_size=10,
    )
)
def test_written_rows_read_back(rows: dict[int, list[float | None]]) -> None:
    lines = [f"ts,device={DEVICE} telemetry=a,device={DEVICE} telemetry=b"]
    for hour, values in sorted(rows.items()):
        cells = ["" if value is None else repr(value) for value in values]
        lines.append(",".join([str(T0 + hour * 3600), *cells]))
    series = parse("\n".join(lines), "float,integer")
    for index, name in enumerate(("a", "b")):
        expected = tuple(
            (T0 + hour * 3600, values[index])
            for hour, values in sorted(rows.items())
            if values[index] is not None
        )
        assert series.column(DEVICE, name) == expected
    assert series.skipped == 0


cell = st.one_of(
    st.text(max_size=12),
    numbers.map(repr),
    st.sampled_from(["", "nan", "-inf", "1e400", '"', "\x00", str(T0), "9" * 40]),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(cell, max_size=4), max_size=8),
    st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["float", "float,float"])),
)
def test_any_csv_gives_points_or_a_payload_error(rows: list[list[str]], types: str | None) -> None:
    text = "\n".join(",".join(row) for row in rows)
    try:
        series = parse(text, types)
    except ApiPayloadError:
        return
    for points in series.points.values():
        assert all(T0 <= moment < NOW and math.isfinite(value) for moment, value in points)
        assert [moment for moment, _ in points] == sorted({moment for moment, _ in points})


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_error_body_is_classified(text: str) -> None:
    assert is_no_attributes_error(text) in (True, False)


# --- the client against the simulator ------------------------------------------------


async def test_hourly_last_readings_match_the_device(
    sim: EnapterSimulator, history: SimHistory, client: EnapterClient
) -> None:
    start, end = at(NOW // 3600 * 3600 - 24 * 3600), at(NOW // 3600 * 3600 + 3600)
    series = await client.query_timeseries(
        start, end, HOUR, meter_selector(sim, "import_energy", "export_energy")
    )
    for name in ("import_energy", "export_energy"):
        points = series.column(sim.meter.id, name)
        assert len(points) == 25
        for moment, value in points[:-1]:
            # The last record of the hour: one a minute, the last at minute 59.
            assert value == history.value_at(sim.meter.id, name, moment + 3540)
        # The hour in progress ends at exactly the latest value the simulator reports.
        assert points[-1] == (NOW // 3600 * 3600, sim.meter.telemetry[name][1])
    # Counters grow.
    values = [value for _, value in series.column(sim.meter.id, "import_energy")]
    assert values == sorted(values)
    query = history.queries[-1]
    assert query["granularity"] == "3600s"
    assert query["telemetry"][0]["attribute"] == ["import_energy", "export_energy"]
    request = sim.requests[-1]
    assert (request.method, request.headers["Accept"]) == ("POST", "text/csv")
    assert request.headers["X-Enapter-Allow-HTTP"] == "true"
    assert client.requests_sent == 1


async def test_minute_buckets_and_other_aggregations(
    sim: EnapterSimulator, history: SimHistory, client: EnapterClient
) -> None:
    hour = NOW // 3600 * 3600 - 3600
    minutes = await client.query_timeseries(
        at(hour), at(hour + 3600), timedelta(minutes=1), meter_selector(sim)
    )
    points = minutes.column(sim.meter.id, "import_energy")
    assert [moment for moment, _ in points] == list(range(hour, hour + 3600, 60))
    assert all(v == history.value_at(sim.meter.id, "import_energy", m) for m, v in points)
    selector = [TimeseriesSelector(sim.meter.id, ("import_energy",), "max")]
    top = await client.query_timeseries(at(hour), at(hour + 3600), HOUR, selector)
    assert top.column(sim.meter.id, "import_energy") == ((hour, points[-1][1]),)


async def test_history_starts_where_the_device_has_records(
    sim: EnapterSimulator, history: SimHistory, client: EnapterClient
) -> None:
    hour = NOW // 3600 * 3600
    history.start = hour - 5 * 3600 + 1800
    series = await client.query_timeseries(
        at(hour - 48 * 3600), at(hour), HOUR, meter_selector(sim)
    )
    assert [moment for moment, _ in series.column(sim.meter.id, "import_energy")] == [
        hour - 5 * 3600 + n * 3600 for n in range(5)
    ]
    # Nothing has data: an empty body.
    empty = await client.query_timeseries(
        at(hour - 48 * 3600), at(hour - 24 * 3600), HOUR, meter_selector(sim)
    )
    assert empty.points == {}


async def test_unknown_device_or_attribute(sim: EnapterSimulator, client: EnapterClient) -> None:
    with pytest.raises(NoTelemetryFoundError):
        await client.query_timeseries(at(NOW - 3600), at(NOW), HOUR, meter_selector(sim, "nope"))
    with pytest.raises(NoTelemetryFoundError):
        await client.query_timeseries(
            at(NOW - 3600), at(NOW), HOUR, [TimeseriesSelector(DEVICE, ("x",))]
        )


async def test_errors_map_like_every_other_call(
    sim: EnapterSimulator, base_url: str, client: EnapterClient
) -> None:
    args = (at(NOW - 3600), at(NOW), HOUR, meter_selector(sim))
    sim.fail_next(1, 404)  # a 404 that is not "no telemetry": the path is wrong
    with pytest.raises(ApiConnectionError):
        await client.query_timeseries(*args)
    sim.fail_next(1, 503)
    with pytest.raises(ApiConnectionError):
        await client.query_timeseries(*args)
    sim.rate_limit_next(1, 12)
    with pytest.raises(ApiRateLimitError) as limited:
        await client.query_timeseries(*args)
    assert limited.value.retry_after == 12
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ApiAuthError):
            await EnapterClient(session, base_url, EXPIRED_TOKEN).query_timeseries(*args)


async def hostile_server(body: bytes, headers: dict[str, str]) -> TestServer:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(body=body, headers=headers, content_type="text/csv")

    app = web.Application()
    app.router.add_post("/v3/telemetry/query_timeseries", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_huge_bodies_are_refused() -> None:
    line = f"{T0},1.0\n".encode()
    body = f"ts,device={DEVICE} telemetry=e\n".encode() + line * (
        MAX_TIMESERIES_BYTES // len(line) + 1
    )
    server = await hostile_server(body, {})
    try:
        async with aiohttp.ClientSession() as session:
            client = EnapterClient(session, str(server.make_url("")).rstrip("/"), TOKEN)
            with pytest.raises(ApiPayloadError, match="exceeds"):
                await client.query_timeseries(
                    START, END, HOUR, [TimeseriesSelector(DEVICE, ("e",))]
                )
    finally:
        await server.close()


async def test_a_server_answering_json_is_a_payload_error() -> None:
    server = await hostile_server(
        b'{"telemetry": {}}', {"X-Enapter-Timeseries-Data-Types": "float"}
    )
    try:
        async with aiohttp.ClientSession() as session:
            client = EnapterClient(session, str(server.make_url("")).rstrip("/"), TOKEN)
            with pytest.raises(ApiPayloadError):
                await client.query_timeseries(
                    START, END, HOUR, [TimeseriesSelector(DEVICE, ("e",))]
                )
    finally:
        await server.close()


# --- Enapter's SDK reads the same ------------------------------------------------------

sdk = pytest.importorskip("enapter.http.api")


@pytest.mark.parametrize("layout", ["", "/api"])
async def test_sdk_reads_the_same_history(
    sim: EnapterSimulator, history: SimHistory, base_url: str, client: EnapterClient, layout: str
) -> None:
    hour = NOW // 3600 * 3600
    history.start = hour - 30 * 3600
    url = f"{base_url}{layout}"
    start, end = at(hour - 48 * 3600), at(hour + 3600)
    async with sdk.Client(sdk.Config(base_url=url, token=TOKEN)) as sdk_client:
        theirs = await sdk_client.telemetry.wide_timeseries(
            from_=start,
            to=end,
            granularity=HOUR,
            selectors=[
                sdk.telemetry.Selector(
                    device=sim.meter.id,
                    attributes=["import_energy", "export_energy"],
                    aggregation=sdk.telemetry.Aggregation.LAST,
                )
            ],
        )
    async with aiohttp.ClientSession() as session:
        ours = await EnapterClient(session, url, TOKEN).query_timeseries(
            start, end, HOUR, meter_selector(sim, "import_energy", "export_energy")
        )
    assert len(theirs.timestamps) == 31
    for column in theirs.columns:
        assert column.data_type.value == "FLOAT"
        expected = [
            (int(moment.timestamp()), value)
            for moment, value in zip(theirs.timestamps, column.values, strict=True)
            if value is not None
        ]
        assert list(ours.column(column.labels.device, column.labels.telemetry)) == expected
        assert len(expected) == 31
