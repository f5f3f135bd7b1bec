"""Netemera LoRaWAN application server + authorization server simulator.

One aiohttp app serves both halves of the documented API:

- ``POST /api/v1/oauth2/token?grant_type=client_credentials&audience=...`` (Basic auth)
- ``GET  /api/v3/uplink-packets/applications/{app_id}`` with ``Accept: text/event-stream``
  and ``Cache-Control: no-cache``: the SSE stream (honours ``Last-Event-ID``)
- ``GET  /api/v3/uplink-packets/applications/{app_id}?from_time=..[&until_time=..]``: history
- ``POST /api/v3/downlink-packets/end-devices/{dev_eui}``: downlinks, answered 202

So a client uses the server's base URL as ``auth_url`` and ``base + "/api/v3"`` as
``api_url``; the token audience must equal that API URL (derived from the Host
header unless ``audience`` is set). Event ids follow the doc's samples: base64 of a
big-endian 64-bit millisecond timestamp (kept strictly increasing).

Run: ``python -m simulators.netemera --host 127.0.0.1 --port 8085 [--devices 4] [--rate 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import bisect
from collections import Counter
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
import hmac
import json
import logging
import random
import secrets
import time
from typing import Any

from aiohttp import web

_LOGGER = logging.getLogger(__name__)

CLIENT_ID = "sim-client"
CLIENT_SECRET = "sim-secret"
APPLICATION_ID = "sim-app"
KINDS = ("climate", "light", "relay", "raw")
GATEWAYS = ("7276ff002e0400e8", "7276ff002e0400e9", "7276ff002e0400ea")

# Stream-control markers put on a subscriber queue instead of a frame.
_END = "end"
_ABORT = "abort"


@dataclass
class SimDevice:
    """One end-device and the sensor state it reports."""

    dev_eui: str
    kind: str
    index: int
    f_cnt: int = 0
    temperature: float = 21.5
    humidity: float = 45.0
    pressure: float = 1013.2
    lux: int = 300
    output: int = 0

    @property
    def f_port(self) -> int:
        return 10 if self.kind == "raw" else 1

    def drift(self, rng: random.Random) -> None:
        self.temperature = min(35.0, max(5.0, self.temperature + rng.uniform(-0.4, 0.4)))
        self.humidity = min(95.0, max(10.0, self.humidity + rng.uniform(-1.0, 1.0)))
        self.pressure = min(1050.0, max(960.0, self.pressure + rng.uniform(-0.5, 0.5)))
        self.lux = min(20000, max(0, self.lux + rng.randint(-40, 40)))

    def payload(self) -> bytes:
        """Encode the state as Cayenne LPP (hand-packed: independent of the client's decoder)."""
        if self.kind == "climate":
            return (
                bytes((1, 0x67))
                + round(self.temperature * 10).to_bytes(2, "big", signed=True)
                + bytes((2, 0x68, round(self.humidity * 2)))
                + bytes((3, 0x73))
                + round(self.pressure * 10).to_bytes(2, "big")
            )
        if self.kind == "light":
            return bytes((1, 0x65)) + self.lux.to_bytes(2, "big")
        if self.kind == "relay":
            return bytes((1, 0x01, self.output))
        # A vendor-specific frame that is not LPP (0xFE is no LPP type).
        return bytes((0xCA, 0xFE)) + (self.f_cnt & 0xFFFF).to_bytes(2, "big")

    def gateways(self) -> list[dict[str, Any]]:
        # Sorted by RSSI descending, as the doc says; on even devices the second
        # gateway has the better SNR so "best gateway" is not simply the first.
        first = {"id": GATEWAYS[0], "rssi": -80.0 - self.index % 30, "snr": 2.5}
        if self.index % 2:
            return [first]
        second = {"id": GATEWAYS[1], "rssi": -97.0 - self.index % 10, "snr": 7.25}
        return [first, second]


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | None
    route: str | None
    body: str
    content_type: str


def format_time(moment: datetime) -> str:
    """Render a UTC time with nanosecond digits like the doc's samples."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}000Z"


def encode_id(number: int) -> str:
    return base64.b64encode(number.to_bytes(8, "big")).decode()


def decode_id(text: str) -> int | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big") if len(raw) == 8 else None


def _event_time(uplink: dict[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(uplink.get("recv_time")))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)  # the API speaks UTC
        # 9999-12-31T23:59:59-14:00 reads, but has no UTC form to compare with.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _history_time(number: int, uplink: dict[str, Any]) -> datetime:
    """When the server files an event: its recv_time, else when it was emitted.

    So a packet whose recv_time is garbage (a hostile or broken server) is still
    answered in history, as a real server would store it by its own clock.
    """
    return _event_time(uplink) or datetime.fromtimestamp(number / 1000, UTC)


class NetemeraSimulator:
    """State and knobs of the simulated Netemera servers.

    Knobs: ``expire_tokens()``, ``token_lifetime``, ``expires_in_as_string``,
    ``forbidden`` / ``forbidden_status`` (405 as documented), ``fail_next(n, status,
    retry_after)``, ``drop_streams(abort=False)``, ``emit(uplink)``,
    ``emit_raw(text)``, ``send_uplink(dev_eui)``, ``tick()``, ``resend_last(dev_eui)``,
    ``send_missed(dev_eui, recv_times)`` (uplinks received while nobody listened),
    ``duplicate_next``, ``keepalive_interval``, ``multiline_every``, ``line_ending``,
    ``history_limit`` (cap answers; the doc defines none), ``history_newest_first``
    (the doc defines no order either), ``audience``.
    Hostile-server knobs: ``send_uplink(dev_eui, fields={"recv_time": ...})`` (any
    field, any value), ``send_payload(dev_eui, payload)``, ``emit_new_devices(count)``
    (DevEUIs nobody registered), ``close_after_keepalive`` (accept a stream, send one
    keep-alive, close), ``fail_next(..., retry_after=math.inf)``; observed through
    ``history_from_times`` (each history request's ``from_time``) and ``stream_times``
    (``time.monotonic()`` of each stream request).
    Observations: ``request_counts``, ``downlinks``, ``stream_last_event_ids``,
    ``open_streams``, ``events``, ``issued_tokens``.
    """

    def __init__(
        self,
        devices: int = 4,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        application_id: str = APPLICATION_ID,
        seed: int = 1,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.application_id = application_id
        self.rng = random.Random(seed)
        self.devices: dict[str, SimDevice] = {}
        self.add_devices(devices)
        self.audience: str | None = None
        self.token_lifetime = 86400
        self.expires_in_as_string = False
        self.forbidden = False
        self.forbidden_status = 405
        self.keepalive_interval = 15.0
        self.multiline_every = 3
        self.line_ending = "\n"
        self.history_limit: int | None = None
        self.history_newest_first = False
        self.duplicate_next = 0
        self.close_after_keepalive = False
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.downlinks: list[dict[str, Any]] = []
        self.request_counts: Counter[str] = Counter()
        self.stream_last_event_ids: list[str | None] = []
        self.history_from_times: list[str] = []
        self.stream_times: list[float] = []
        self._tokens: dict[str, float] = {}
        # Every token handed out, expired or not (secrets a client must never disclose).
        self.issued_tokens: list[str] = []
        self._streams: set[asyncio.Queue[str]] = set()
        self._last_id = 0
        self._emitted = 0
        self._fail: list[_Failure] = []

    # --- knobs -------------------------------------------------------------------

    def add_devices(self, count: int) -> list[SimDevice]:
        """Add ``count`` end-devices cycling through the kinds climate/light/relay/raw."""
        added = []
        for _ in range(count):
            index = len(self.devices)
            device = SimDevice(f"70b3d5ca4{index:07x}", KINDS[index % len(KINDS)], index)
            device.temperature += index % 7
            self.devices[device.dev_eui] = device
            added.append(device)
        return added

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def fail_next(
        self,
        count: int,
        status: int = 500,
        retry_after: float | None = None,
        *,
        route: str | None = None,
        body: str = "simulated failure",
        content_type: str = "text/plain",
    ) -> None:
        """Answer the next ``count`` requests (of ``route`` only, if given) with this response.

        Routes: token, stream, history, downlink. A 200 with a bad ``body`` simulates
        a malformed answer.
        """
        self._fail.extend([_Failure(status, retry_after, route, body, content_type)] * count)

    def drop_streams(self, abort: bool = False) -> None:
        """End every open stream: cleanly, or by cutting the TCP connection."""
        for queue in self._streams:
            queue.put_nowait(_ABORT if abort else _END)

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def make_uplink(self, device: SimDevice, recv_time: datetime | None = None) -> dict[str, Any]:
        """Build the next Uplink Packet object of a device (advances its frame counter)."""
        device.f_cnt += 1
        return {
            "dev_eui": device.dev_eui,
            "recv_time": format_time(recv_time or datetime.now(UTC)),
            "f_port": device.f_port,
            "f_cnt_up": device.f_cnt,
            "ack": False,
            "adr": True,
            "data_rate": 5 - device.index % 6,
            "ul_freq": (868.1, 868.3, 868.5)[device.f_cnt % 3],
            "gw_info": device.gateways(),
            "frm_payload": device.payload().hex().upper(),
        }

    def send_uplink(
        self,
        dev_eui: str,
        recv_time: datetime | None = None,
        *,
        fields: dict[str, Any] | None = None,
    ) -> str:
        """A device's next uplink; ``fields`` replace any of its values (hostile ones too)."""
        device = self.devices[dev_eui]
        device.drift(self.rng)
        return self.emit({**self.make_uplink(device, recv_time), **(fields or {})})

    def send_payload(self, dev_eui: str, payload: bytes, recv_time: datetime | None = None) -> str:
        """A device's next uplink carrying ``payload`` instead of its own."""
        return self.send_uplink(dev_eui, recv_time, fields={"frm_payload": payload.hex().upper()})

    def emit_new_devices(self, count: int, recv_time: datetime | None = None) -> list[str]:
        """One uplink from each of ``count`` DevEUIs that are not simulated devices.

        As a network server with a bug, or a hostile network, that invents DevEUIs would.
        """
        dev_euis = []
        batch = len(self.events)  # so each call's DevEUIs are new too
        for index in range(count):
            dev_eui = f"ffff{batch:06x}{index:06x}"
            stranger = SimDevice(dev_eui, "raw", index)
            self.emit(self.make_uplink(stranger, recv_time))
            dev_euis.append(dev_eui)
        return dev_euis

    def send_missed(self, dev_eui: str, recv_times: list[datetime]) -> list[str]:
        """Uplinks of a device the server received while nobody listened; return their ids.

        Stored like any uplink (history answers them, a resume with ``Last-Event-ID``
        replays them), but not pushed to the streams open now: as if a client had
        been disconnected (or Home Assistant down) at those ``recv_times``.
        """
        device = self.devices[dev_eui]
        ids = []
        for moment in recv_times:
            device.drift(self.rng)
            ids.append(self.emit(self.make_uplink(device, moment), push=False))
        return ids

    def tick(self) -> None:
        """Every device sends one uplink."""
        for dev_eui in list(self.devices):
            self.send_uplink(dev_eui)

    def emit(self, uplink: dict[str, Any], *, push: bool = True) -> str:
        """Store an uplink (for history and replay) and push it to open streams; return its id."""
        self._last_id = max(int(time.time() * 1000), self._last_id + 1)
        self.events.append((self._last_id, uplink))
        frame = self._frame(self._last_id, uplink)
        for queue in self._streams if push else ():
            queue.put_nowait(frame)
        if self.duplicate_next > 0:
            self.duplicate_next -= 1
            self.emit(dict(uplink))
        return encode_id(self._last_id)

    def resend_last(self, dev_eui: str) -> str:
        """Re-send a device's last uplink unchanged (same f_cnt_up), as a network may."""
        for _, uplink in reversed(self.events):
            if uplink.get("dev_eui") == dev_eui:
                return self.emit(dict(uplink))
        raise KeyError(dev_eui)

    def emit_raw(self, text: str) -> None:
        """Write raw text to every open stream (not stored, not replayed)."""
        for queue in self._streams:
            queue.put_nowait(text)

    # --- framing -------------------------------------------------------------------

    def _frame(self, number: int, uplink: dict[str, Any]) -> str:
        self._emitted += 1
        multiline = self.multiline_every > 0 and self._emitted % self.multiline_every == 0
        body = json.dumps(uplink, indent=2 if multiline else None)
        lines = [f"data:{line}" for line in body.split("\n")]
        lines.append(f"id:{encode_id(number)}")
        end = self.line_ending
        return end.join(lines) + end + end

    # --- HTTP ----------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/v1/oauth2/token", self._token, name="token")
        app.router.add_get(
            "/api/v3/uplink-packets/applications/{app_id}", self._uplinks, name="uplinks"
        )
        app.router.add_post(
            "/api/v3/downlink-packets/end-devices/{dev_eui}", self._downlink, name="downlink"
        )
        # aiosignal's newer ParamSpec typing rejects any handler under aiohttp 3.11 stubs.
        app.on_shutdown.append(self._on_shutdown)  # type: ignore[arg-type]
        return app

    async def _on_shutdown(self, _app: web.Application) -> None:
        self.drop_streams()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        name = request.match_info.route.name or "unknown"
        if name == "uplinks":
            name = "history" if "from_time" in request.query else "stream"
        self.request_counts[name] += 1
        for failure in self._fail:
            if failure.route in (None, name):
                self._fail.remove(failure)
                headers = (
                    {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
                )
                return web.Response(
                    status=failure.status,
                    text=failure.body,
                    content_type=failure.content_type,
                    headers=headers,
                )
        response: web.StreamResponse = await handler(request)
        return response

    async def _token(self, request: web.Request) -> web.Response:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        expected = f"Basic {base64.b64encode(pair).decode()}"
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return web.json_response(
                {"error": "invalid_client", "error_description": "Unauthorized"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="netemera"'},
            )
        if request.query.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        audience = self.audience or f"{request.scheme}://{request.host}/api/v3"
        if request.query.get("audience") != audience:
            return web.json_response(
                {"error": "access_denied", "error_description": "Service not found"}, status=403
            )
        token = secrets.token_urlsafe(24)
        self._tokens[token] = time.monotonic() + self.token_lifetime
        self.issued_tokens.append(token)
        lifetime: int | str = self.token_lifetime
        if self.expires_in_as_string:
            lifetime = str(lifetime)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def _check_access(self, request: web.Request, app_id: str | None) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.query.get("access_token")
        expires = self._tokens.get(token or "")
        if expires is None or expires < time.monotonic():
            return web.Response(status=401)
        if self.forbidden or (app_id is not None and app_id != self.application_id):
            return web.Response(status=self.forbidden_status, reason="Forbidden")
        return None

    async def _uplinks(self, request: web.Request) -> web.StreamResponse:
        refused = self._check_access(request, request.match_info["app_id"])
        if refused is not None:
            return refused
        if "from_time" in request.query:
            return self._history(request)
        if "text/event-stream" not in request.headers.get("Accept", ""):
            return web.Response(status=400, text="Accept: text/event-stream required")
        if "no-cache" not in request.headers.get("Cache-Control", ""):
            return web.Response(status=400, text="Cache-Control: no-cache required")
        return await self._stream(request)

    def _history(self, request: web.Request) -> web.Response:
        self.history_from_times.append(request.query["from_time"])
        try:
            start = datetime.fromisoformat(request.query["from_time"])
            until_text = request.query.get("until_time")
            until = datetime.fromisoformat(until_text) if until_text else datetime.now(UTC)
            if start.tzinfo is None or until.tzinfo is None:
                raise ValueError("times must be UTC")
        except ValueError:
            return web.Response(status=400, text="from_time/until_time must be ISO 8601 UTC")
        chosen = []
        for number, uplink in self.events:
            moment = _history_time(number, uplink)
            if start <= moment < until:
                chosen.append((moment, uplink))
        chosen.sort(key=lambda pair: pair[0], reverse=self.history_newest_first)
        if self.history_limit is not None:
            chosen = chosen[: self.history_limit]
        return web.json_response([uplink for _, uplink in chosen])

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        last_id = request.headers.get("Last-Event-ID")
        self.stream_last_event_ids.append(last_id)
        self.stream_times.append(time.monotonic())
        backlog: list[str] = []
        if last_id:
            after = decode_id(last_id)
            if after is None:
                return web.Response(status=400, text="invalid Last-Event-ID")
            ids = [number for number, _ in self.events]
            start = bisect.bisect_right(ids, after)
            backlog = [self._frame(number, uplink) for number, uplink in self.events[start:]]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for frame in backlog:
            queue.put_nowait(frame)
        # Subscribed before the first await, so nothing emitted meanwhile is missed.
        self._streams.add(queue)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "Connection": "keep-alive",
            }
        )
        end = self.line_ending
        try:
            await response.prepare(request)
            if self.close_after_keepalive:
                # Accepted, one keep-alive, gone: a server that is not really up.
                await response.write(f"data:{end}{end}".encode())
                return response
            await response.write(f":netemera simulator{end}{end}".encode())
            while True:
                try:
                    frame = await asyncio.wait_for(queue.get(), self.keepalive_interval)
                except TimeoutError:
                    frame = f"data:{end}{end}"
                if frame == _END:
                    break
                if frame == _ABORT:
                    if request.transport is not None:
                        request.transport.close()
                    break
                await response.write(frame.encode())
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            self._streams.discard(queue)
        return response

    async def _downlink(self, request: web.Request) -> web.Response:
        refused = self._check_access(request, None)
        if refused is not None:
            return refused
        if "application/json" not in request.headers.get("Accept", ""):
            return web.Response(status=400, text="Accept: application/json required")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="body is not JSON")
        problem = self._check_downlink(request.match_info["dev_eui"], body)
        if problem:
            return web.Response(status=400, text=problem)
        self.downlinks.append(body)
        device = self.devices[body["dev_eui"]]
        if device.kind == "relay" and self._apply_downlink(device, body.get("frm_payload", "")):
            # Class C style: the device answers at once with its new state.
            self.send_uplink(device.dev_eui)
        return web.Response(status=202)

    def _check_downlink(self, path_eui: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be a Downlink Packet object"
        if body.get("dev_eui") != path_eui or path_eui not in self.devices:
            return "unknown dev_eui"
        if not isinstance(body.get("confirmed"), bool):
            return "confirmed must be a boolean"
        port = body.get("f_port")
        if port is not None and (
            not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 223
        ):
            return "f_port must be 1-223"
        payload = body.get("frm_payload")
        if payload is not None:
            try:
                bytes.fromhex(payload)
            except (TypeError, ValueError):
                return "frm_payload must be hex"
        return None

    @staticmethod
    def _apply_downlink(device: SimDevice, payload_hex: str) -> bool:
        """Apply LPP digital-output items (channel 1, type 0x01) to the relay."""
        payload = bytes.fromhex(payload_hex)
        changed = False
        for offset in range(0, len(payload) - 2, 3):
            channel, type_id, value = payload[offset : offset + 3]
            if channel == 1 and type_id == 0x01:
                device.output = value
                changed = True
        return changed


async def _run(args: argparse.Namespace) -> None:
    sim = NetemeraSimulator(args.devices, application_id=args.app_id)
    sim.keepalive_interval = args.keepalive
    runner = web.AppRunner(sim.make_app())
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    base = f"http://{args.host}:{args.port}"
    print(
        f"Netemera simulator: auth_url={base} api_url={base}/api/v3 "
        f"client_id={sim.client_id} client_secret={sim.client_secret} "
        f"application_id={sim.application_id} devices={len(sim.devices)}"
    )
    eui_cycle = list(sim.devices)
    index = 0
    try:
        while True:
            await asyncio.sleep(1 / args.rate)
            sim.send_uplink(eui_cycle[index % len(eui_cycle)])
            index += 1
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1.0, help="uplinks per second, all devices")
    parser.add_argument("--keepalive", type=float, default=15.0, help="seconds between keep-alives")
    parser.add_argument("--app-id", default=APPLICATION_ID)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
