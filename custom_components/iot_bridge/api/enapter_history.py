"""Enapter telemetry history: ``POST /v3/telemetry/query_timeseries`` answered as CSV.

The request and the CSV follow what Enapter's own clients send and read (its Python
SDK and Grafana plugin): ``{from, to, granularity, telemetry: [{device, attribute,
aggregation, gap_filling}]}``; the answer's first line is ``ts,device=<id>
telemetry=<name>,...``, then one line per bucket with data (``<bucket start, unix
seconds>,<value>,...``, an empty cell where a column has none), and the header
``X-Enapter-Timeseries-Data-Types`` names each column's type. An empty body means
nothing has data.

Nothing here trusts the server: a row outside the asked period, a repeated bucket, a
row of the wrong width or an impossible time is skipped; a cell that is not a finite
number is "no data"; a header that contradicts itself is an ApiPayloadError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from .errors import ApiPayloadError
from .fields import as_float, as_list, as_mapping, as_str
from .http import decode_json
from .timestamps import InvalidTimestampError, check_epoch

DATA_TYPES_HEADER: Final = "X-Enapter-Timeseries-Data-Types"
# The error code of a query naming a device or attribute the cloud has no telemetry for.
NO_ATTRIBUTES_CODE: Final = "NO_TELEMETRY_ATTRIBUTES_FOUND"
# A month of hourly buckets for 64 attributes is about 1 MB of CSV; the cap only stops a
# broken server, and is far below what a whole body may be (api/http.py).
MAX_TIMESERIES_BYTES: Final = 8 * 1024 * 1024
# Columns per request: the answer's width (and a row's length) stays bounded.
MAX_COLUMNS: Final = 64
# The cloud aggregates long periods server-side; give it more time than a poll.
HISTORY_TIMEOUT_SECONDS: Final = 60.0
_NUMERIC_TYPES: Final = frozenset({"float", "integer"})

type Aggregation = Literal["auto", "avg", "last", "min", "max"]


class NoTelemetryFoundError(ApiPayloadError):
    """The cloud has no telemetry for a device or attribute of the query (HTTP 404)."""


@dataclass(frozen=True, slots=True)
class TimeseriesSelector:
    """Which of one device's attributes to read, aggregated per bucket how."""

    device: str
    attributes: tuple[str, ...]
    aggregation: Aggregation = "last"


@dataclass(frozen=True, slots=True)
class TimeseriesColumn:
    """What a CSV column holds: one attribute of one device."""

    device: str
    attribute: str


@dataclass(frozen=True, slots=True)
class Timeseries:
    """The numeric points of a query, per column, oldest first.

    ``points[column]`` lists ``(bucket start in unix seconds, value)`` for the buckets
    that have a finite number; columns without any are absent. ``skipped`` counts rows
    refused as malformed.
    """

    points: Mapping[TimeseriesColumn, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    skipped: int = 0

    def column(self, device: str, attribute: str) -> tuple[tuple[int, float], ...]:
        """The points of one device's attribute (empty when it has none)."""
        return self.points.get(TimeseriesColumn(device, attribute), ())


def rfc3339(moment: datetime) -> str:
    """A time as RFC 3339 in UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timeseries_request(
    start: datetime,
    end: datetime,
    granularity: timedelta,
    selectors: Iterable[TimeseriesSelector],
) -> dict[str, Any]:
    """The JSON body of a query for [start, end) in buckets of ``granularity``."""
    seconds = int(granularity.total_seconds())
    if seconds < 1 or end <= start:
        raise ValueError("a query needs a positive granularity and end after start")
    return {
        "from": rfc3339(start),
        "to": rfc3339(end),
        # Whole seconds, as Enapter's SDK writes every duration.
        "granularity": f"{seconds}s",
        "telemetry": [
            {
                "device": selector.device,
                "attribute": list(selector.attributes),
                "aggregation": selector.aggregation,
                "gap_filling": {"method": "none", "look_around": "0s"},
            }
            for selector in selectors
        ],
    }


def is_no_attributes_error(text: str) -> bool:
    """Whether an error body says the cloud has no telemetry for what was asked."""
    try:
        body = decode_json(text, "error body")
    except ApiPayloadError:
        return False
    for item in as_list((as_mapping(body) or {}).get("errors")) or []:
        error = as_mapping(item) or {}
        for key in ("code", "message"):
            if NO_ATTRIBUTES_CODE in (as_str(error.get(key)) or "").upper():
                return True
    return False


def _column(label: str) -> TimeseriesColumn | None:
    """``device=<id> telemetry=<name>`` (labels in any order); None without both."""
    labels: dict[str, str] = {}
    for part in label.split():
        key, sep, value = part.partition("=")
        if sep and value:
            labels.setdefault(key, value)
    device, attribute = labels.get("device"), labels.get("telemetry")
    if device is None or attribute is None:
        return None
    return TimeseriesColumn(device, attribute)


def _data_types(header: str | None, width: int) -> list[bool]:
    """Which columns are numeric; without the header every column is read as a number."""
    if header is None:
        return [True] * width
    types = [part.strip().lower() for part in header.split(",")]
    if len(types) != width:
        raise ApiPayloadError(f"telemetry history: {len(types)} data types for {width} columns")
    return [kind in _NUMERIC_TYPES for kind in types]


def _bucket_time(cell: str, start: int, end: int) -> int | None:
    text = cell.strip()
    # isdigit alone: int() would take "+1_700_000_000" and other spellings no server sends.
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    seconds = int(text)
    try:
        check_epoch(seconds)
    except InvalidTimestampError:
        return None
    return seconds if start <= seconds < end else None


def parse_timeseries(
    text: str,
    data_types: str | None,
    *,
    start: datetime,
    end: datetime,
) -> Timeseries:
    """Read a query's CSV answer for [start, end); the module's docstring says what is refused."""
    lines = text.lstrip("\ufeff").splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return Timeseries()
    try:
        header = next(csv.reader([lines[0]]))
    except csv.Error as err:
        raise ApiPayloadError(f"telemetry history: unreadable header ({err})") from None
    if not header or header[0].strip() != "ts":
        raise ApiPayloadError("telemetry history: the first line is not a CSV header")
    columns = [_column(label) for label in header[1:]]
    numeric = _data_types(data_types, len(columns))
    # A column named twice: the first one counts.
    wanted: dict[int, TimeseriesColumn] = {}
    for index, column in enumerate(columns):
        if column is not None and numeric[index] and column not in wanted.values():
            wanted[index] = column
    first, last = int(start.timestamp()), int(end.timestamp())
    points: dict[TimeseriesColumn, dict[int, float]] = {column: {} for column in wanted.values()}
    seen: set[int] = set()
    skipped = 0
    for line in lines[1:]:
        if not line.strip():
            continue
        try:
            cells = next(csv.reader([line]))
        except csv.Error:
            skipped += 1
            continue
        moment = _bucket_time(cells[0], first, last) if cells else None
        if len(cells) != len(header) or moment is None or moment in seen:
            skipped += 1
            continue
        seen.add(moment)
        for index, column in wanted.items():
            cell = cells[index + 1]
            if cell and (value := as_float(cell)) is not None:
                points[column][moment] = value
    return Timeseries(
        {column: tuple(sorted(found.items())) for column, found in points.items() if found},
        skipped,
    )


def selectors_for(columns: Sequence[TimeseriesColumn]) -> list[TimeseriesSelector]:
    """One selector per device, its attributes in the order given."""
    by_device: dict[str, list[str]] = {}
    for column in columns:
        by_device.setdefault(column.device, []).append(column.attribute)
    return [
        TimeseriesSelector(device, tuple(dict.fromkeys(attributes)))
        for device, attributes in by_device.items()
    ]
