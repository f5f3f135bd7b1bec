"""An emulated Efento gateway: the CLIENT that POSTs to Home Assistant.

For Efento, Home Assistant is the server, so this simulator has no app of its
own: it sends what a real gateway sends, to the paths the user typed into the
gateway's server settings, and behaves as the documentation says a gateway does:

* every message carries ``Content-Type: application/json; charset=UTF-8``,
  ``X-Api-Token`` and up to ten custom headers;
* a message counts as delivered only on ``201 Created``; anything else (or no
  answer) leaves it in the buffer, and the buffer is always resent oldest first;
* ``503`` makes it pause (5 minutes on a real gateway; ``pause_on_503``) and
  then resend; any other failure ends the current flush, and the next flush
  (the next measurement tick in ``run``) starts again from the oldest message.

Live demo, looping until killed::

    python -m simulators.efento_gateway --url http://127.0.0.1:8123 \\
        --measurements-path /api/webhook/... --heartbeat-path /api/webhook/... \\
        --token TOKEN --loggers 3 --interval 15
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
import contextlib
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import logging
import random
from typing import Any

import aiohttp

_LOGGER = logging.getLogger(__name__)

DEFAULT_MEASUREMENTS_PATH = "/api/v4/measurements"
DEFAULT_HEARTBEAT_PATH = "/api/v4/gateways/heartbeat"
CONTENT_TYPE = "application/json; charset=UTF-8"
MAX_CUSTOM_HEADERS = 10
REAL_PAUSE_ON_503 = 300.0
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"

# What each emulated logger measures, cycled over the loggers (mirrors the doc's examples).
LOGGER_PROFILES: tuple[tuple[str, ...], ...] = (
    ("temperature",),
    ("temperature", "humidity"),
    ("temperature", "humidity", "pressure_diff"),
    ("open-close", "open-close", "open-close"),
    ("temperature", "humidity", "pressure"),
)
_START_VALUES = {"temperature": 21.0, "humidity": 45.0, "pressure": 1013.2, "pressure_diff": 20.0}
_STEPS = {"temperature": 0.3, "humidity": 1.0, "pressure": 0.4, "pressure_diff": 2.0}
_DECIMALS = {"temperature": 1, "humidity": 0, "pressure": 1, "pressure_diff": 0}
_LIMITS = {"humidity": (0.0, 100.0), "pressure_diff": (-500.0, 500.0)}


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A message the gateway holds until the server answers 201."""

    seq: int
    kind: str
    path: str
    body: bytes


@dataclass(frozen=True, slots=True)
class GatewayReply:
    """What the server answered to one POST (status None: it could not be reached)."""

    seq: int
    kind: str
    path: str
    status: int | None
    body: str
    error: str | None = None

    def json(self) -> Any:
        """The reply body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class EmulatedLogger:
    """One wireless logger in range of the gateway."""

    serial: str
    response_handle: int
    types: tuple[str, ...]
    values: list[float]
    last_measured_at: datetime | None = None
    battery: str = "ok"
    signal: int = -70
    error_channels: set[int] = field(default_factory=set)
    # A logger with a broken clock or firmware: fields sent as given instead of the
    # generated ones (``{"measured_at": "2100-01-01 00:00:00 UTC"}``), and fields left out.
    overrides: dict[str, Any] = field(default_factory=dict)
    omitted: set[str] = field(default_factory=set)


class EmulatedGateway:
    """An Efento gateway that POSTs measurements and heartbeats to a server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        measurements_path: str = DEFAULT_MEASUREMENTS_PATH,
        heartbeat_path: str = DEFAULT_HEARTBEAT_PATH,
        token: str = "",
        *,
        loggers: int = 3,
        custom_headers: Mapping[str, str] | None = None,
        pause_on_503: float = REAL_PAUSE_ON_503,
        measurement_interval: int = 180,
        heartbeat_interval: int = 900,
        string_values: bool = False,
        clock: Callable[[], datetime] | None = None,
        seed: int | None = 0,
        timeout: float = 10.0,
    ) -> None:
        if len(custom_headers or {}) > MAX_CUSTOM_HEADERS:
            raise ValueError(f"a gateway holds at most {MAX_CUSTOM_HEADERS} custom headers")
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.measurements_path = measurements_path
        self.heartbeat_path = heartbeat_path
        self.token = token
        self.custom_headers = dict(custom_headers or {})
        # Knobs a test may flip at any time.
        self.pause_on_503 = pause_on_503
        self.measurement_interval = measurement_interval
        self.heartbeat_interval = heartbeat_interval
        self.string_values = string_values
        self.is_usb_connected = True
        self.is_charging = True
        self.battery_level = 80
        # A gateway with broken firmware: heartbeat fields sent as given (``{"uptime": 10**12}``).
        self.heartbeat_overrides: dict[str, Any] = {}
        # JSON without spaces: the most measurements one body can hold.
        self.compact_json = False
        # Gateway identity, as in the documentation's heartbeat example.
        self.name = "Efento-Gateway-030A"
        self.model = "HG6-v1.2-LECH"
        self.software_version = "01.00.00-c723d"
        self.mac = "28:2C:02:4F:03:0A"
        self._clock = clock or (lambda: datetime.now(UTC))
        self._booted_at = self._clock()
        self._rng = random.Random(seed)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._buffer: deque[PendingMessage] = deque()
        self._seq = 0
        self._lock = asyncio.Lock()
        # What tests read.
        self.loggers: list[EmulatedLogger] = [self._make_logger(i) for i in range(loggers)]
        self.replies: list[GatewayReply] = []
        self.requests_sent = 0
        self.pauses = 0
        self.synchronised: dict[int, bool] = {}

    # ----- building bodies -------------------------------------------------

    def _make_logger(self, index: int) -> EmulatedLogger:
        types = LOGGER_PROFILES[index % len(LOGGER_PROFILES)]
        values = [1.0 if t == "open-close" else _START_VALUES[t] for t in types]
        # 282C024FFFB1 is the documentation's first logger; the rest count up from it.
        return EmulatedLogger(f"282C024F{0xFFB1 + index:04X}", index + 1, types, values)

    def add_loggers(self, count: int, types: tuple[str, ...] | None = None) -> list[EmulatedLogger]:
        """Bring ``count`` more loggers in range (a hostile gateway inventing serials).

        Serials and handles count on from the last logger; ``types`` replaces the
        cycled profiles.
        """
        added = [self._make_logger(len(self.loggers) + i) for i in range(count)]
        if types is not None:
            for item in added:
                item.types = types
                item.values = [
                    1.0 if t == "open-close" else _START_VALUES.get(t, 1.0) for t in types
                ]
        self.loggers.extend(added)
        return added

    def logger(self, serial: str) -> EmulatedLogger:
        """Return the emulated logger with this serial."""
        for item in self.loggers:
            if item.serial == serial:
                return item
        raise KeyError(serial)

    def _next_time(self, item: EmulatedLogger, at: datetime | None = None) -> datetime:
        if at is not None:
            # A stored measurement from the past: sent with the time it was taken.
            moment = at.astimezone(UTC).replace(microsecond=0)
            if item.last_measured_at is None or moment > item.last_measured_at:
                item.last_measured_at = moment
            return moment
        now = self._clock().astimezone(UTC).replace(microsecond=0)
        if item.last_measured_at is not None and now <= item.last_measured_at:
            # measured_at must grow per logger even when the clock does not.
            now = item.last_measured_at + timedelta(seconds=1)
        item.last_measured_at = now
        return now

    def _drift(self, item: EmulatedLogger) -> None:
        for channel, type_name in enumerate(item.types):
            if type_name == "open-close":
                if self._rng.random() < 0.2:
                    item.values[channel] = 1.0 - item.values[channel]
                continue
            low, high = _LIMITS.get(type_name, (-1e9, 1e9))
            step = self._rng.uniform(-1, 1) * _STEPS.get(type_name, 1.0)
            item.values[channel] = min(high, max(low, item.values[channel] + step))
        item.signal = max(-110, min(-40, item.signal + self._rng.randint(-2, 2)))

    def measurement(
        self, item: EmulatedLogger, *, drift: bool = True, at: datetime | None = None
    ) -> dict[str, Any]:
        """One logger's next measurement, in the documented shape (taken ``at``, else now)."""
        if drift:
            self._drift(item)
        measured_at = self._next_time(item, at)
        params: list[dict[str, Any]] = []
        for index, type_name in enumerate(item.types):
            channel = index + 1
            value: Any
            if channel in item.error_channels:
                # The page does not say what an errored value looks like; we send null.
                value, status = None, "error"
            elif type_name == "open-close":
                value, status = ("open" if item.values[index] else "closed"), "ok"
            else:
                decimals = _DECIMALS.get(type_name, 1)
                value = round(item.values[index], decimals)
                if decimals == 0:
                    value = int(value)
                if self.string_values:
                    value = str(value)
                status = "ok"
            params.append({"channel": channel, "type": type_name, "value": value, "status": status})
        try:
            next_at = (measured_at + timedelta(seconds=self.measurement_interval)).strftime(
                TIME_FORMAT
            )
        except OverflowError:
            # A firmware that adds an absurd interval saturates at the end of time.
            next_at = "9999-12-31 23:59:59 UTC"
        body: dict[str, Any] = {
            "serial": item.serial,
            "response_handle": item.response_handle,
            "battery": item.battery,
            "signal": item.signal,
            "measured_at": measured_at.strftime(TIME_FORMAT),
            "measurement_interval": self.measurement_interval,
            "next_measurement_at": next_at,
            "params": params,
        }
        body.update(item.overrides)
        for name in item.omitted:
            body.pop(name, None)
        return body

    def measurements_payload(self, loggers: Iterable[str] | None = None) -> dict[str, Any]:
        """A measurements message for the given serials (all loggers by default)."""
        chosen = self.loggers if loggers is None else [self.logger(s) for s in loggers]
        return {"measurements": [self.measurement(item) for item in chosen]}

    def backlog_payload(self, serial: str, count: int) -> dict[str, Any]:
        """Several stored measurements of one logger in one message, as after an outage."""
        item = self.logger(serial)
        return {"measurements": [self.measurement(item) for _ in range(count)]}

    def buffered_payloads(
        self,
        outage: timedelta,
        *,
        loggers: Iterable[str] | None = None,
        every: timedelta | None = None,
        per_message: int | None = None,
    ) -> list[dict[str, Any]]:
        """What the gateway resends after being offline for ``outage``: its stored buffer.

        Each logger measured every ``every`` (its measurement interval by default) from
        ``outage`` ago until now; the measurements go out oldest first, several per
        logger in one message, at most ``per_message`` to a message (all in one by
        default). The last measurement of each logger is the one taken now.
        """
        step = every or timedelta(seconds=self.measurement_interval)
        if step <= timedelta(0):
            raise ValueError("measurements must be taken at a positive interval")
        now = self._clock().astimezone(UTC).replace(microsecond=0)
        chosen = self.loggers if loggers is None else [self.logger(s) for s in loggers]
        count = int(outage / step)
        times = [now - step * (count - k) for k in range(count + 1)]
        stored = [self.measurement(item, at=moment) for moment in times for item in chosen]
        size = per_message or len(stored) or 1
        return [
            {"measurements": stored[start : start + size]} for start in range(0, len(stored), size)
        ]

    def heartbeat_payload(self) -> dict[str, Any]:
        """A heartbeat in the documented shape, reflecting the power knobs."""
        now = self._clock().astimezone(UTC)
        body: dict[str, Any] = {
            "name": self.name,
            "model": self.model,
            "software_version": self.software_version,
            "current_time": int(now.timestamp()),
            "uptime": int((now - self._booted_at).total_seconds()),
            "mac": self.mac,
            "sensors_number": f"{len(self.loggers)}/{len(self.loggers)}",
            "next_communication_at": int(now.timestamp()) + self.heartbeat_interval,
            "power_monitor": {
                "is_usb_connected": self.is_usb_connected,
                "is_charging": self.is_charging,
                "battery_level": None if self.is_usb_connected else self.battery_level,
            },
        }
        body.update(self.heartbeat_overrides)
        return body

    @staticmethod
    def doc_measurements_payload() -> dict[str, Any]:
        """The documentation's measurements example (its JSON typo repaired)."""
        return copy.deepcopy({"measurements": list(_DOC_MEASUREMENTS)})

    @staticmethod
    def doc_heartbeat_payload() -> dict[str, Any]:
        """The documentation's heartbeat example."""
        return copy.deepcopy(_DOC_HEARTBEAT)

    # ----- sending ----------------------------------------------------------

    @property
    def pending(self) -> tuple[PendingMessage, ...]:
        """Messages not yet acknowledged with 201, oldest first."""
        return tuple(self._buffer)

    def enqueue(self, kind: str, path: str, body: bytes | str | Mapping[str, Any]) -> int:
        """Put a message in the buffer; return its sequence number."""
        if isinstance(body, Mapping):
            body = json.dumps(body, separators=(",", ":") if self.compact_json else None)
        if isinstance(body, str):
            body = body.encode()
        self._seq += 1
        self._buffer.append(PendingMessage(self._seq, kind, path, body))
        return self._seq

    async def send_measurements(self, loggers: Iterable[str] | None = None) -> bool:
        """Queue one measurements message and flush; True when everything was delivered."""
        self.enqueue("measurements", self.measurements_path, self.measurements_payload(loggers))
        return await self.flush()

    async def send_backlog(self, serial: str, count: int) -> bool:
        """Queue a multi-measurement message of one logger and flush."""
        self.enqueue("measurements", self.measurements_path, self.backlog_payload(serial, count))
        return await self.flush()

    async def send_buffered(
        self,
        outage: timedelta,
        *,
        loggers: Iterable[str] | None = None,
        every: timedelta | None = None,
        per_message: int | None = None,
    ) -> bool:
        """Queue the buffer of an outage (``buffered_payloads``) and flush it."""
        for payload in self.buffered_payloads(
            outage, loggers=loggers, every=every, per_message=per_message
        ):
            self.enqueue("measurements", self.measurements_path, payload)
        return await self.flush()

    async def send_heartbeat(self) -> bool:
        """Queue one heartbeat and flush."""
        self.enqueue("heartbeat", self.heartbeat_path, self.heartbeat_payload())
        return await self.flush()

    async def send_doc_examples(self) -> bool:
        """Queue the documentation's measurements and heartbeat examples and flush."""
        self.enqueue("measurements", self.measurements_path, self.doc_measurements_payload())
        self.enqueue("heartbeat", self.heartbeat_path, self.doc_heartbeat_payload())
        return await self.flush()

    async def post_once(self, path: str, body: bytes | str, kind: str = "raw") -> GatewayReply:
        """POST a body once, outside the buffer (to probe a server with a bad body)."""
        self._seq += 1
        data = body.encode() if isinstance(body, str) else body
        return await self._post(PendingMessage(self._seq, kind, path, data))

    async def flush(self, *, max_attempts: int | None = None) -> bool:
        """Send the buffer oldest first; True when it is empty afterwards.

        201 removes a message; 503 pauses ``pause_on_503`` seconds and resends
        it; anything else stops here and keeps the message for the next flush.
        """
        async with self._lock:
            attempts = 0
            while self._buffer:
                if max_attempts is not None and attempts >= max_attempts:
                    return False
                attempts += 1
                message = self._buffer[0]
                reply = await self._post(message)
                if reply.status == 201:
                    self._buffer.popleft()
                    continue
                if reply.status == 503:
                    self.pauses += 1
                    _LOGGER.info("503: pausing %.3gs before resending", self.pause_on_503)
                    await asyncio.sleep(self.pause_on_503)
                    continue
                return False
            return True

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": CONTENT_TYPE, "X-Api-Token": self.token}
        headers.update(self.custom_headers)
        return headers

    async def _post(self, message: PendingMessage) -> GatewayReply:
        self.requests_sent += 1
        url = f"{self.base_url}{message.path}"
        try:
            async with self._session.post(
                url, data=message.body, headers=self._headers(), timeout=self._timeout
            ) as resp:
                text = await resp.text(errors="replace")
                reply = GatewayReply(message.seq, message.kind, message.path, resp.status, text)
        except (aiohttp.ClientError, TimeoutError) as err:
            reply = GatewayReply(message.seq, message.kind, message.path, None, "", str(err))
        self.replies.append(reply)
        _LOGGER.info(
            "%s #%d -> %s %s",
            message.kind,
            message.seq,
            reply.status if reply.status is not None else "unreachable",
            reply.error or reply.body[:200],
        )
        if reply.status == 201 and message.kind == "measurements":
            self._remember_answers(reply.json())
        return reply

    def _remember_answers(self, answer: Any) -> None:
        if not isinstance(answer, dict):
            return
        for key, wanted in (("Y", True), ("N", False)):
            handles = answer.get(key)
            if isinstance(handles, list):
                for handle in handles:
                    if isinstance(handle, int):
                        self.synchronised[handle] = wanted

    async def run(
        self,
        interval: float,
        *,
        doc_examples: bool = False,
        backlog: timedelta | None = None,
        backlog_every: timedelta | None = None,
    ) -> None:
        """Send measurements every ``interval`` seconds and heartbeats when due, forever.

        ``backlog``: first resend the buffer of an outage that long (as after a restart
        of the gateway's internet link), measured every ``backlog_every``.
        """
        if doc_examples:
            await self.send_doc_examples()
        if backlog:
            await self.send_buffered(backlog, every=backlog_every, per_message=100)
        next_heartbeat = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() >= next_heartbeat:
                self.enqueue("heartbeat", self.heartbeat_path, self.heartbeat_payload())
                next_heartbeat = loop.time() + self.heartbeat_interval
            await self.send_measurements()
            await asyncio.sleep(interval)


# The documentation's example measurements, as data (the fourth one's typo repaired).
_DOC_MEASUREMENTS: tuple[dict[str, Any], ...] = tuple(
    {
        "serial": serial,
        "response_handle": handle,
        "battery": "ok",
        "signal": -70,
        "measured_at": "2024-10-12 15:28:21 UTC",
        "measurement_interval": 180,
        "next_measurement_at": next_at,
        "params": [
            {"channel": channel, "type": type_name, "value": value, "status": "ok"}
            for channel, type_name, value in params
        ],
    }
    for serial, handle, next_at, params in (
        ("282C024FFFB1", 1, "2024-10-12 18:28:21 UTC", [(1, "temperature", 6)]),
        (
            "282C024FFFB2",
            2,
            "2024-10-12 18:58:21 UTC",
            [(1, "temperature", 12), (2, "humidity", 51)],
        ),
        (
            "282C024FFFB3",
            3,
            "2024-10-12 20:28:21 UTC",
            [(1, "temperature", 50), (2, "humidity", 30), (3, "pressure_diff", 21)],
        ),
        (
            "282C024FFFB4",
            4,
            "2024-10-12 16:28:21 UTC",
            [(1, "open-close", "open"), (2, "open-close", "closed"), (3, "open-close", "closed")],
        ),
    )
)

_DOC_HEARTBEAT: dict[str, Any] = {
    "name": "Efento-Gateway-030A",
    "model": "HG6-v1.2-LECH",
    "software_version": "01.00.00-c723d",
    "current_time": 1731074192,
    "uptime": 2401,
    "mac": "28:2C:02:4F:03:0A",
    "sensors_number": "128/128",
    "next_communication_at": 1731075392,
    "power_monitor": {"is_usb_connected": True, "is_charging": True, "battery_level": None},
}


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected NAME: VALUE")
    return name.strip(), value.strip()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the emulated gateway against a server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", default="http://127.0.0.1:8123", help="server base URL")
    parser.add_argument("--measurements-path", default=DEFAULT_MEASUREMENTS_PATH)
    parser.add_argument("--heartbeat-path", default=DEFAULT_HEARTBEAT_PATH)
    parser.add_argument("--token", required=True, help="sent as X-Api-Token (never logged)")
    parser.add_argument("--loggers", type=int, default=3)
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between messages")
    parser.add_argument("--heartbeat-interval", type=int, default=900)
    parser.add_argument("--pause-503", type=float, default=REAL_PAUSE_ON_503)
    parser.add_argument("--header", type=_parse_header, action="append", default=[])
    parser.add_argument("--string-values", action="store_true", help="send values as strings")
    parser.add_argument("--doc-examples", action="store_true", help="send the doc examples first")
    parser.add_argument(
        "--backlog-hours",
        type=float,
        default=0.0,
        help="first resend the buffer of an outage this long (measured every 5 minutes)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def _run() -> None:
        async with aiohttp.ClientSession() as session:
            gateway = EmulatedGateway(
                session,
                args.url,
                args.measurements_path,
                args.heartbeat_path,
                args.token,
                loggers=args.loggers,
                custom_headers=dict(args.header),
                pause_on_503=args.pause_503,
                measurement_interval=max(1, round(args.interval)),
                heartbeat_interval=args.heartbeat_interval,
                string_values=args.string_values,
                seed=None,
            )
            await gateway.run(
                args.interval,
                doc_examples=args.doc_examples,
                backlog=timedelta(hours=args.backlog_hours) if args.backlog_hours > 0 else None,
                backlog_every=timedelta(minutes=5),
            )

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run())


if __name__ == "__main__":
    main()
