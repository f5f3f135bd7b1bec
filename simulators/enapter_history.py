"""Simulated Enapter telemetry history: ``POST /v3/telemetry/query_timeseries`` as CSV.

Served for the devices of an ``EnapterSimulator`` (see ``history_for``), in the shape
Enapter's Python SDK reads: header ``X-Enapter-Timeseries-Data-Types``, a first line
``ts,device=<id> telemetry=<name>,...``, one line per bucket with data, an empty body
when nothing has data, and 404 ``NO_TELEMETRY_ATTRIBUTES_FOUND`` for a device or
attribute the site does not have.

Every device records each attribute every ``interval`` seconds up to its latest
datapoint (which is the last record). Energy counters (Wh/kWh/MWh, not stored
energy) rise with a daily power profile and end at exactly the latest value the
simulator reports, so history and the latest telemetry always agree; other attributes
repeat their latest value. ``start`` (or ``device_start``) says where a device's
history begins, and a counter has no records while it would be negative (before the
meter was installed). ``reset`` restarts a counter from zero at a given time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
import json
import math
import re
from typing import Any, Protocol
import weakref

from aiohttp import web

HOUR = 3600
DAY = 24 * HOUR
# Counter unit -> that unit per kWh.
COUNTER_UNITS = {"Wh": 1000.0, "kWh": 1.0, "MWh": 0.001}
# Energy in these is stored, not counted (like the integration's entities.py decides).
_STORED = ("remaining", "stored", "storage", "capacity", "available", "content")
# Average power behind a counter, kW; the meter's import matches its total_power of 2450 W.
DEFAULT_POWER_KW = {"import_energy": 2.45, "export_energy": 0.012}
_GRANULARITY = re.compile(r"^(\d+)(s|m|h)$")
_AGGREGATIONS = frozenset({"auto", "avg", "last", "min", "max"})
_CSV_TYPES = {
    "float": "float",
    "integer": "integer",
    "string": "string",
    "boolean": "boolean",
    "array_of_strings": "string_array",
}


class _Device(Protocol):
    id: str
    manifest: dict[str, Any]
    telemetry: dict[str, tuple[int | None, Any]]


class _Owner(Protocol):
    @property
    def devices(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Reset:
    """A counter restarted from zero at ``at``; ``before`` is what it read just before."""

    at: int
    before: float


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"errors": [{"code": code, "message": message}]}, status=status)


def _parse_time(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp())


def _parse_granularity(value: Any) -> int | None:
    match = _GRANULARITY.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": HOUR}[match.group(2)]
    return seconds or None


class SimHistory:
    """The history of one simulator's devices, with knobs for tests."""

    def __init__(self, owner: _Owner) -> None:
        self._owner = owner
        # No device has records before this (unix seconds); None: as far as counters go.
        self.start: float | None = None
        self.device_start: dict[str, float] = {}
        # Seconds between two records of a device.
        self.interval = 60
        self.power_kw: dict[str, float] = dict(DEFAULT_POWER_KW)
        self.resets: dict[tuple[str, str], list[Reset]] = {}
        # Buckets one query may span; past it the answer is 400 (a server's own limit).
        self.max_buckets: int | None = None
        # [from, to) unix seconds in which no device recorded anything (offline).
        self.gaps: list[tuple[int, int]] = []
        # Attributes the cloud never stored (404 like an unknown one).
        self.missing: set[tuple[str, str]] = set()
        # Answer this many queries, then 503 (a cloud outage in the middle of a backfill).
        self.fail_after: int | None = None
        self.queries: list[dict[str, Any]] = []

    # -- the model -------------------------------------------------------------

    def _device(self, device_id: str) -> _Device | None:
        device: _Device | None = self._owner.devices.get(device_id)
        return device

    def is_counter(self, device_id: str, attribute: str) -> bool:
        """Whether an attribute is a cumulative energy counter."""
        device = self._device(device_id)
        spec = (device.manifest.get("telemetry", {}) if device else {}).get(attribute)
        if not isinstance(spec, dict) or spec.get("type") not in ("float", "integer"):
            return False
        words = f"{attribute} {spec.get('display_name', '')}".lower()
        return spec.get("unit") in COUNTER_UNITS and not any(word in words for word in _STORED)

    def energy_kwh(self, attribute: str, at: float) -> float:
        """kWh the profile delivered from the epoch to ``at``: differences are energies."""
        power = self.power_kw.get(attribute, 1.0)
        # Power swings by half its average over the day: p * (1 + 0.5 sin(2 pi t / DAY)).
        phase = 2 * math.pi * at / DAY
        return power * (at / HOUR - 0.5 * DAY / (2 * math.pi * HOUR) * math.cos(phase))

    def _unit_per_kwh(self, device: _Device, attribute: str) -> float:
        unit = device.manifest.get("telemetry", {}).get(attribute, {}).get("unit")
        return COUNTER_UNITS.get(unit, 1.0)

    def _latest(self, device: _Device, attribute: str) -> tuple[int, Any] | None:
        stamp, value = device.telemetry.get(attribute, (None, None))
        if not isinstance(stamp, int) or value is None:
            return None
        return stamp, value

    def first_record(self, device_id: str) -> float | None:
        """The configured start of a device's history."""
        return self.device_start.get(device_id, self.start)

    def value_at(self, device_id: str, attribute: str, at: int) -> Any:
        """What the device read at ``at`` (None: no record then)."""
        device = self._device(device_id)
        if device is None:
            return None
        latest = self._latest(device, attribute)
        first = self.first_record(device_id)
        if latest is None or at > latest[0] or (first is not None and at < first):
            return None
        if any(low <= at < high for low, high in self.gaps):
            return None
        stamp, value = latest
        if not self.is_counter(device_id, attribute):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        anchor_at, anchor = float(stamp), float(value)
        for reset in self.resets.get((device_id, attribute), []):
            if at < reset.at:
                anchor_at, anchor = reset.at, reset.before
                break
        scale = self._unit_per_kwh(device, attribute)
        delivered = self.energy_kwh(attribute, anchor_at) - self.energy_kwh(attribute, at)
        counter = anchor - delivered * scale
        # A meter reads nothing before it was installed.
        return counter if counter >= 0 else None

    def reset(self, device_id: str, attribute: str, at: int) -> None:
        """Restart a counter from zero at ``at``: history before keeps its values, the latest
        value becomes what the meter counted since."""
        device = self._device(device_id)
        if device is None:
            raise KeyError(device_id)
        before = self.value_at(device_id, attribute, at - 1)
        latest = self._latest(device, attribute)
        if before is None or latest is None:
            raise ValueError("no record to reset")
        stamp = latest[0]
        scale = self._unit_per_kwh(device, attribute)
        since = (self.energy_kwh(attribute, stamp) - self.energy_kwh(attribute, at)) * scale
        last_second = self.energy_kwh(attribute, at) - self.energy_kwh(attribute, at - 1)
        at_reset = before + last_second * scale
        resets = self.resets.setdefault((device_id, attribute), [])
        resets.append(Reset(at, at_reset))
        resets.sort(key=lambda item: item.at)
        device.telemetry[attribute] = (stamp, since)

    def record_until(self, until: int) -> None:
        """Every device keeps recording up to ``until``: counters rise along their profile,
        the other attributes keep their value (the latest datapoint moves to ``until``)."""
        for device in self._owner.devices.values():
            for attribute in list(device.telemetry):
                latest = self._latest(device, attribute)
                if latest is None or latest[0] >= until:
                    continue
                stamp, value = latest
                if self.is_counter(device.id, attribute):
                    scale = self._unit_per_kwh(device, attribute)
                    delivered = self.energy_kwh(attribute, until) - self.energy_kwh(
                        attribute, stamp
                    )
                    value = value + delivered * scale
                device.telemetry[attribute] = (until, value)

    def record_times(self, device_id: str, attribute: str, start: int, end: int) -> Iterator[int]:
        """The times of a device's records in [start, end), oldest first."""
        device = self._device(device_id)
        latest = self._latest(device, attribute) if device else None
        if latest is None:
            return
        stamp = latest[0]
        step = self.interval
        moment = -(-start // step) * step
        while moment < end and moment < stamp:
            yield moment
            moment += step
        if start <= stamp < end:
            yield stamp

    def _last_in(self, device_id: str, attribute: str, start: int, end: int) -> Any:
        """The last record in [start, end), found from the end (a bucket's "last")."""
        device = self._device(device_id)
        latest = self._latest(device, attribute) if device else None
        first = self.first_record(device_id)
        if latest is None or (first is not None and end <= first):
            return None
        stamp = latest[0]
        if start <= stamp < end:
            moment = stamp
        else:
            moment = (min(end, stamp) - 1) // self.interval * self.interval
        counter = self.is_counter(device_id, attribute)
        resets = [r.at for r in self.resets.get((device_id, attribute), []) if start < r.at < end]
        # Where earlier records may exist although this one does not.
        resets += [edge for gap in self.gaps for edge in gap if start < edge < end]
        while moment >= start:
            value = self.value_at(device_id, attribute, moment)
            if value is not None:
                return value
            if counter and not any(at <= moment for at in resets):
                # A counter only reads nothing before it was installed: earlier is empty too.
                return None
            if moment == stamp:
                moment = (stamp - 1) // self.interval * self.interval
            else:
                moment -= self.interval
        return None

    def bucket(self, device_id: str, attribute: str, aggregation: str, start: int, end: int) -> Any:
        """One bucket's value of an attribute (None: no records in it)."""
        if aggregation == "last":
            return self._last_in(device_id, attribute, start, end)
        values = [
            value
            for moment in self.record_times(device_id, attribute, start, end)
            if (value := self.value_at(device_id, attribute, moment)) is not None
        ]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if not values:
            return None
        if len(numbers) != len(values):
            return values[-1]
        if aggregation == "min":
            return min(numbers)
        if aggregation == "max":
            return max(numbers)
        return sum(numbers) / len(numbers)

    # -- HTTP ------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /v3/telemetry/query_timeseries``."""
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_body", "Request body is not JSON.")
        if not isinstance(body, dict):
            return _error(400, "invalid_body", "Request body must be an object.")
        self.queries.append(body)
        if self.fail_after is not None and len(self.queries) > self.fail_after:
            return _error(503, "unavailable", "Telemetry storage is unavailable.")
        start, end = _parse_time(body.get("from")), _parse_time(body.get("to"))
        granularity = _parse_granularity(body.get("granularity"))
        items = body.get("telemetry")
        if start is None or end is None or granularity is None or end <= start:
            return _error(400, "invalid_body", "from, to (RFC 3339) and granularity are required.")
        if not isinstance(items, list) or not items:
            return _error(400, "invalid_body", "telemetry must be a non-empty list.")
        first_bucket = start // granularity * granularity
        buckets = range(first_bucket, end, granularity)
        if self.max_buckets is not None and len(buckets) > self.max_buckets:
            return _error(400, "too_many_points", "The query spans too many buckets.")
        columns: list[tuple[str, str, str]] = []
        for item in items:
            if not isinstance(item, dict):
                return _error(400, "invalid_body", "telemetry items must be objects.")
            device_id = item.get("device")
            attributes = item.get("attribute")
            if isinstance(attributes, str):
                attributes = [attributes]
            aggregation = str(item.get("aggregation", "auto")).lower()
            if (
                not isinstance(device_id, str)
                or not isinstance(attributes, list)
                or aggregation not in _AGGREGATIONS
            ):
                return _error(400, "invalid_body", "Invalid telemetry item.")
            device = self._device(device_id)
            declared = device.manifest.get("telemetry", {}) if device else {}
            for attribute in attributes:
                if (
                    not isinstance(attribute, str)
                    or attribute not in declared
                    or (device_id, attribute) in self.missing
                ):
                    return _error(
                        404,
                        "telemetrypersistence/NO_TELEMETRY_ATTRIBUTES_FOUND",
                        "No telemetry attributes found.",
                    )
                columns.append((device_id, attribute, aggregation))
        return self._answer(columns, buckets, start, end, granularity)

    def _answer(
        self,
        columns: list[tuple[str, str, str]],
        buckets: range,
        start: int,
        end: int,
        granularity: int,
    ) -> web.Response:
        types = []
        for device_id, attribute, _ in columns:
            device = self._device(device_id)
            spec = device.manifest["telemetry"][attribute] if device else {}
            types.append(_CSV_TYPES.get(spec.get("type"), "string"))
        lines = []
        for bucket_start in buckets:
            low, high = max(bucket_start, start), min(bucket_start + granularity, end)
            cells = [
                _cell(self.bucket(device_id, attribute, aggregation, low, high))
                for device_id, attribute, aggregation in columns
            ]
            if any(cells):
                lines.append(",".join([str(bucket_start), *cells]))
        text = ""
        if lines:
            header = ",".join(["ts", *(f"device={d} telemetry={a}" for d, a, _ in columns)])
            text = "\n".join([header, *lines]) + "\n"
        return web.Response(
            text=text,
            content_type="text/csv",
            headers={"X-Enapter-Timeseries-Data-Types": ",".join(types)},
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
        return '"' + text.replace('"', '""') + '"'
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(char in text for char in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


_HISTORIES: weakref.WeakKeyDictionary[Any, SimHistory] = weakref.WeakKeyDictionary()


def history_for(owner: _Owner) -> SimHistory:
    """The history of a simulator's devices (one per simulator, made on first use)."""
    history = _HISTORIES.get(owner)
    if history is None:
        history = _HISTORIES[owner] = SimHistory(owner)
    return history
