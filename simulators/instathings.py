"""Instathings IoT cloud simulator: the REST API and the websocket events in one app.

Documented endpoints served (vendor-docs/instathings-api.md):

- ``POST /authentication/v1/oauth/token`` with ``{"clientId", "clientSecret"}``
  -> ``{"access_token": jwt}``
- ``GET  /device/v1/devices`` (array), ``GET /device/v1/devices/{id}`` (sub-devices expanded)
- ``GET  /device/v1/devices/{id}/data?start&end&page&perPage``
  -> ``{"data": [...], "totalItems": n}``, newest first as in the doc's example
- ``POST /device/v1/control/{id}/set`` (body forwarded to the device) -> ``{}``
- ``GET  /device/v1/types``, ``GET /device/v1/types/{id}``
- websocket at ``/?project=...&access_token=...`` (the doc's URL has no path): JSON
  ``{"action", "payload"}`` messages

So a client uses ``http://host:port`` as both ``api_url`` and ``websocket_url``. Project:
a gateway with a climate sensor and a smart plug, plus one standalone virtual device.

Run: ``python -m simulators.instathings --host 127.0.0.1 --port 8086 [--interval 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections import Counter
from collections.abc import AsyncIterator
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from typing import Any
import uuid

from aiohttp import web

_LOGGER = logging.getLogger(__name__)

PROJECT = "demo"
PROJECT_ID = "77JTOK6B"
CLIENT_ID = "sim-client"
CLIENT_SECRET = "sim-secret"

GATEWAY_ID = "GwSim001"
SENSOR_ID = "ThSim001"
PLUG_ID = "PlSim001"
VIRTUAL_ID = "VdSim001"

GATEWAY_TYPE = "4023bd5d-9f88-4761-97c2-0e682aef5437"
SENSOR_TYPE = "01c2fd9f-fb3a-45cf-8be3-97e00b7510c6"
PLUG_TYPE = "7a3b1f4e-2c6d-4e8f-9a0b-1c2d3e4f5a6b"
ZIGBEE = "vRy6GTde"
LOST = "CONNECTION_LOST"

TYPES: list[dict[str, Any]] = [
    {
        "addOn": "@instathings/gate",
        "description": "Instathings gateway",
        "id": GATEWAY_TYPE,
        "manufacturer": "Instathings",
        "model": "Gate",
        "pairingMethods": [],
        "physicalParameter": [],
        "protocols": [],
        "rooms": ["living-room"],
        "space": ["home"],
        "type": "gateway",
    },
    {
        "addOn": "@instathings/gate-addon-zigbee",
        "description": "Temperature and humidity sensor",
        "fakeSampleLabel": "temperature",
        "id": SENSOR_TYPE,
        "manufacturer": "Xiaomi",
        "model": "WSDCGQ11LM",
        "pairingMethods": ["button"],
        "physicalParameter": [],
        "protocols": [ZIGBEE],
        "rooms": ["living-room", "bedroom"],
        "space": ["home"],
        "type": "sensor",
    },
    {
        "addOn": "@instathings/gate-addon-zigbee",
        "description": "Smart plug with power metering",
        "fakeSampleLabel": "onoff",
        "id": PLUG_TYPE,
        "manufacturer": "Innr",
        "model": "SP 120",
        "pairingMethods": ["touchlink"],
        "physicalParameter": [],
        "protocols": [ZIGBEE],
        "rooms": ["kitchen"],
        "space": ["home"],
        "type": "actuator",
    },
]

# Documented events the client does not interpret, as the doc's examples show them.
OTHER_EVENTS: list[dict[str, Any]] = [
    {
        "action": "discovering",
        "payload": {
            "projectId": PROJECT_ID,
            "ts": 1588926931047,
            "status": {"eventType": "discovering"},
            "parentDevice": GATEWAY_ID,
            "id": "ULfDD5dO4",
            "env": "live",
            "isGateway": False,
            "name": "sensor",
            "type": SENSOR_TYPE,
        },
    },
    {
        "action": "installation_succeded",
        "payload": {
            "event": {
                "dt_install": 1588925322244,
                "protocol": "knx",
                "protocolId": "knx",
                "exitStatus": 0,
                "installationSuccess": True,
                "stdout": "",
                "stderr": "",
                "versions": {"gate": "instathings/gate:1.7.1"},
                "newContainers": ["instathings-knx2mqtt"],
                "projectId": PROJECT_ID,
                "deviceId": GATEWAY_ID,
            }
        },
    },
    {
        "action": "installation_failed",
        "payload": {
            "event": {
                "dt_install": 1588930345554,
                "protocol": "automations",
                "protocolId": "vRy7GTde",
                "exitStatus": 1,
                "installationSuccess": False,
                "stdout": "",
                "stderr": "",
                "versions": {"gate": "instathings/gate:1.7.1"},
                "newContainers": [],
                "projectId": PROJECT_ID,
                "deviceId": GATEWAY_ID,
            }
        },
    },
    {
        "action": "status",
        "payload": {
            "projectId": PROJECT_ID,
            "response": {"type": "data", "message": {"data": {"temperature": 37.35}}},
            "ttl": 1589640897,
            "deviceId": PLUG_ID,
            "id": "B9z87nrYo",
        },
    },
    {
        "action": "log",
        "payload": {
            "logs": [
                {
                    "message": "2020-05-07T15:01:20.563Z gate:log Connecting...",
                    "type": "LOG",
                    "timestamp": 1588863680585,
                }
            ],
            "deviceId": GATEWAY_ID,
            "containerName": "gate",
        },
    },
]


def _sort_time(ts: Any) -> float:
    """A record's time as the cloud orders it; times it cannot read sort last."""
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return float("-inf")
    try:
        return float(ts)
    except OverflowError:  # an int beyond any float (10**400)
        return float("inf") if ts > 0 else float("-inf")


def _in_range(ts: Any, start: int | None, end: int | None) -> bool:
    moment = _sort_time(ts)
    return (start is None or moment >= start) and (end is None or moment <= end)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class InstathingsSimulator:
    """State of one simulated Instathings project, with knobs for tests.

    Knobs: ``token_lifetime`` (seconds, may be fractional; the JWT carries ``iat``
    and ``exp`` with millisecond precision), ``expire_all_tokens()``,
    ``fail_next(n, status, retry_after)``, ``drop_websockets(abrupt)``,
    ``emit(event)``, ``emit_raw(text)``, ``emit_other_events()``,
    ``pair_device(...)``, ``unpair_device(id)``, ``set_software_version(v)``,
    ``set_gateway_connected(flag)``, ``tick()`` (one round of drifting values),
    ``add_missed(id, times_ms)`` (records sent while nobody listened, no events);
    hostile ones: ``add_data(id, data, ts=...)`` (a record at any time, a clock from
    the far future say, without moving the others' times), ``list_devices(n)`` (made-up
    devices in the device list, without events).
    Observables: ``request_counts`` (by route name), ``unauthorized`` (401s
    answered), ``control_log``, ``records``, ``websockets`` (open connections),
    ``issued_tokens``.
    """

    def __init__(
        self,
        *,
        project: str = PROJECT,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        token_lifetime: float = 3600.0,
        data_interval: float | None = None,
        history: int = 25,
        seed: int | None = None,
    ) -> None:
        self.project = project
        self.project_id = PROJECT_ID
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.data_interval = data_interval
        self.request_counts: Counter[str] = Counter()
        self.unauthorized = 0
        self.control_log: list[dict[str, Any]] = []
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.websockets: dict[web.WebSocketResponse, web.Request] = {}
        self._key = secrets.token_bytes(32)
        self._jti = 0
        self._revoked_through = 0
        # Every token handed out, revoked or not (secrets a client must never disclose).
        self.issued_tokens: list[str] = []
        self._fail_count = 0
        self._fail_status = 500
        self._fail_retry_after: float | None = None
        self._last_ts = 0
        self._rng = random.Random(seed)
        self._principal = hashlib.sha256(b"gateway-certificate").hexdigest()
        self.devices: dict[str, dict[str, Any]] = self._initial_devices()
        self.temperature = 21.5
        self.humidity = 45.0
        self.battery = 100.0
        self.plug_on = True
        self.power = 60.0
        self.energy = 12.5
        self.voltage = 230.0
        self._seed_history(history)

    # --- state --------------------------------------------------------------------

    def _initial_devices(self) -> dict[str, dict[str, Any]]:
        created = 1579596302698
        common = {"projectId": PROJECT_ID, "demoActive": False, "env": "live"}
        gateway = {
            **common,
            "ts": created,
            "isVirtual": False,
            "stats": {"ingestion": 0},
            "version": {"gate": "instathings/gate:1.7.1"},
            "certificateId": secrets.token_hex(32),
            "status": self._gateway_status(connected=True),
            "protocols": [ZIGBEE],
            "id": GATEWAY_ID,
            "isGateway": True,
            "name": "Home gateway",
            "subDevices": [SENSOR_ID, PLUG_ID],
            "type": GATEWAY_TYPE,
        }
        sensor = {
            **common,
            "ts": created + 7000,
            "isVirtual": False,
            "parentDevice": GATEWAY_ID,
            "id": SENSOR_ID,
            "isGateway": False,
            "name": "Living room",
            "type": SENSOR_TYPE,
        }
        plug = {**sensor, "ts": created + 9000, "id": PLUG_ID, "name": "Kettle plug"}
        plug["type"] = PLUG_TYPE
        virtual = {
            "projectId": PROJECT_ID,
            "ts": 1579184185884,
            "isVirtual": True,
            "demoActive": True,
            "id": VIRTUAL_ID,
            "isGateway": False,
            "name": "device1",
        }
        return {str(doc["id"]): doc for doc in (gateway, sensor, plug, virtual)}

    def _gateway_status(
        self, *, connected: bool, reason: str = "CONNECTION_LOST"
    ) -> dict[str, Any]:
        status: dict[str, Any] = {
            "principalIdentifier": self._principal,
            "clientId": GATEWAY_ID,
            "eventType": "connected" if connected else "disconnected",
            "sessionIdentifier": str(uuid.uuid4()),
            "versionNumber": 0,
            "timestamp": int(time.time() * 1000),
        }
        if connected:
            status["ipAddress"] = "84.220.143.221"
        else:
            status["disconnectReason"] = reason
            status["clientInitiatedDisconnect"] = False
        return status

    def sensor_data(self) -> dict[str, Any]:
        return {
            "temperature": round(self.temperature, 2),
            "humidity": round(self.humidity, 1),
            "battery": round(self.battery),
            "linkquality": self._rng.randint(60, 120),
        }

    def plug_data(self) -> dict[str, Any]:
        power = self.power if self.plug_on else 0.0
        return {
            "state": "ON" if self.plug_on else "OFF",
            "power": round(power, 1),
            "energy": round(self.energy, 3),
            "voltage": round(self.voltage, 1),
            "current": round(power / self.voltage, 3),
            "linkquality": self._rng.randint(60, 120),
        }

    def virtual_data(self) -> dict[str, Any]:
        return {"value": self._rng.randint(0, 100), "isVirtualData": True}

    def _drift(self, seconds: float) -> None:
        rng = self._rng
        self.temperature = min(30.0, max(15.0, self.temperature + rng.uniform(-0.3, 0.3)))
        self.humidity = min(80.0, max(25.0, self.humidity + rng.uniform(-1.0, 1.0)))
        self.battery = max(1.0, self.battery - 0.01)
        self.voltage = min(245.0, max(215.0, self.voltage + rng.uniform(-1.0, 1.0)))
        self.power = min(2000.0, max(5.0, self.power + rng.uniform(-5.0, 5.0)))
        if self.plug_on:
            self.energy += self.power * seconds / 3_600_000

    def _next_ts(self, at_ms: int | None = None) -> int:
        # Strictly increasing, so "newer than the last ts seen" never skips a record.
        ts = max(at_ms if at_ms is not None else int(time.time() * 1000), self._last_ts + 1)
        self._last_ts = ts
        return ts

    def _record(self, device_id: str, data: dict[str, Any], ts: Any) -> dict[str, Any]:
        parent = self.devices.get(device_id, {}).get("parentDevice")
        record = {
            "ts": ts,
            "deviceId": device_id,
            "data": data,
            "ttl": ts // 1000 + 86400 if isinstance(ts, int) else None,
            "principal": self._principal,
            "id": str(uuid.uuid4()),
            "clientId": parent or "N/A",
        }
        self.records.setdefault(device_id, []).append(record)
        return record

    def _seed_history(self, count: int) -> None:
        start = int(time.time() * 1000) - count * 60_000
        for index in range(count):
            self._drift(60)
            at = start + index * 60_000
            self._record(SENSOR_ID, self.sensor_data(), self._next_ts(at))
            self._record(PLUG_ID, self.plug_data(), self._next_ts(at + 1))
            self._record(VIRTUAL_ID, self.virtual_data(), self._next_ts(at + 2))

    async def add_data(
        self, device_id: str, data: dict[str, Any], *, ts: Any = None
    ) -> dict[str, Any]:
        """Store a record for a device and push it as a ``data`` event.

        ``ts`` stamps it with any time (a device whose clock is wrong) and leaves the
        times of later records alone; by default records get the time now.
        """
        record = self._record(device_id, data, self._next_ts() if ts is None else ts)
        await self.emit({"action": "data", "payload": record})
        return record

    def add_missed(self, device_id: str, times_ms: list[int]) -> list[dict[str, Any]]:
        """Records a device sent while nobody listened (a dropped websocket, a restart).

        Stored at the given times (the REST API answers them), no event pushed; values
        drift between them as they would have, the plug's energy counting on.
        """
        source = {SENSOR_ID: self.sensor_data, PLUG_ID: self.plug_data}.get(
            device_id, self.virtual_data
        )
        stored = []
        previous: int | None = None
        for ts in times_ms:
            self._drift((ts - previous) / 1000 if previous is not None else 60.0)
            previous = ts
            self._last_ts = max(self._last_ts, ts)
            stored.append(self._record(device_id, source(), ts))
        return stored

    async def tick(self, seconds: float = 5.0) -> None:
        """One round of drifting values: a new record (and event) per sensor device."""
        self._drift(seconds)
        await self.add_data(SENSOR_ID, self.sensor_data())
        await self.add_data(PLUG_ID, self.plug_data())
        await self.add_data(VIRTUAL_ID, self.virtual_data())

    # --- knobs --------------------------------------------------------------------

    def expire_all_tokens(self) -> None:
        """Make every token issued so far invalid (401 on REST, refused websocket)."""
        self._revoked_through = self._jti

    def fail_next(self, count: int, status: int = 500, retry_after: float | None = None) -> None:
        """Answer the next ``count`` HTTP requests (any route) with ``status``."""
        self._fail_count = count
        self._fail_status = status
        self._fail_retry_after = retry_after

    async def emit(self, event: dict[str, Any]) -> None:
        """Send one event object to every open websocket."""
        await self.emit_raw(json.dumps(event))

    async def emit_raw(self, text: str) -> None:
        """Send one text frame as is (malformed messages included)."""
        for ws in list(self.websockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text)

    async def emit_other_events(self) -> None:
        """Send the documented events that carry no device state (discovering, log, ...)."""
        for event in OTHER_EVENTS:
            await self.emit(event)

    async def drop_websockets(self, *, abrupt: bool = False) -> None:
        """Close every websocket: with a close frame (1001), or by cutting the TCP connection."""
        for ws, request in list(self.websockets.items()):
            if abrupt and request.transport is not None:
                request.transport.close()
            else:
                await ws.close(code=1001, message=b"going away")

    async def pair_device(
        self, name: str = "New sensor", device_id: str | None = None, *, succeed: bool = True
    ) -> str:
        """Pair a new sensor to the gateway (``paired``), or fail to (``not_paired``)."""
        device_id = device_id or secrets.token_urlsafe(6)
        doc = {
            "projectId": PROJECT_ID,
            "ts": int(time.time() * 1000),
            "isVirtual": False,
            "demoActive": False,
            "parentDevice": GATEWAY_ID,
            "id": device_id,
            "env": "live",
            "isGateway": False,
            "name": name,
            "type": SENSOR_TYPE,
        }
        if succeed:
            self.devices[device_id] = doc
            self.devices[GATEWAY_ID]["subDevices"].append(device_id)
        action = "paired" if succeed else "not_paired"
        await self.emit({"action": action, "payload": {**doc, "status": {"eventType": action}}})
        return device_id

    def list_devices(self, count: int, *, prefix: str = "Made") -> list[str]:
        """Put ``count`` made-up sensors into the device list (no events); return their ids."""
        created = int(time.time() * 1000)
        ids = [f"{prefix}{index:05d}" for index in range(count)]
        for device_id in ids:
            self.devices[device_id] = {
                "projectId": PROJECT_ID,
                "ts": created,
                "isVirtual": False,
                "parentDevice": GATEWAY_ID,
                "id": device_id,
                "env": "live",
                "isGateway": False,
                "name": device_id,
                "type": SENSOR_TYPE,
            }
        return ids

    async def unpair_device(self, device_id: str) -> None:
        """Remove a sub-device and announce it with ``not_paired``."""
        doc = self.devices.pop(device_id)
        with contextlib.suppress(ValueError):
            self.devices[GATEWAY_ID]["subDevices"].remove(device_id)
        await self.emit(
            {"action": "not_paired", "payload": {**doc, "status": {"eventType": "not_paired"}}}
        )

    async def set_software_version(self, version: str) -> None:
        """Change the gateway's ``version.gate`` and send ``software_version``."""
        self.devices[GATEWAY_ID]["version"] = {"gate": version}
        await self.emit({"action": "software_version", "payload": self.devices[GATEWAY_ID]})

    async def set_gateway_connected(self, connected: bool, reason: str = LOST) -> None:
        """Send ``connected`` (+ ``software_version``, as on every connect) or ``disconnected``."""
        gateway = self.devices[GATEWAY_ID]
        gateway["status"] = self._gateway_status(connected=connected, reason=reason)
        await self.emit(
            {"action": "connected" if connected else "disconnected", "payload": gateway}
        )
        if connected:
            await self.emit({"action": "software_version", "payload": gateway})

    # --- tokens -------------------------------------------------------------------

    def issue_token(self) -> str:
        self._jti += 1
        now = time.time()
        claims = {
            "sub": self.client_id,
            "projectId": PROJECT_ID,
            "jti": self._jti,
            "iat": round(now, 3),
            "exp": round(now + self.token_lifetime, 3),
        }
        head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(claims).encode())
        signature = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        token = f"{head}.{body}.{_b64url(signature)}"
        self.issued_tokens.append(token)
        return token

    def token_valid(self, token: str) -> bool:
        parts = token.split(".")
        if len(parts) != 3:
            return False
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_b64url_decode(parts[2]), expected):
                return False
            claims = json.loads(_b64url_decode(parts[1]))
        except ValueError:
            return False
        return bool(claims["jti"] > self._revoked_through and time.time() < claims["exp"])

    # --- HTTP ---------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.name or "other"
        self.request_counts[route] += 1
        if self._fail_count > 0:
            self._fail_count -= 1
            headers = {}
            if self._fail_retry_after is not None:
                headers["Retry-After"] = str(self._fail_retry_after)
            return web.json_response(
                {"message": "Simulated failure"}, status=self._fail_status, headers=headers
            )
        if route not in ("token", "other"):
            if route == "websocket":
                token = request.query.get("access_token", "")
            else:
                auth = request.headers.get("Authorization", "")
                token = auth[7:] if auth.startswith("Bearer ") else ""
            if not self.token_valid(token):
                self.unauthorized += 1
                return web.json_response({"message": "Unauthorized"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def _token(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"message": "Body must be JSON"}, status=400)
        if not isinstance(body, dict) or not body.get("clientId") or not body.get("clientSecret"):
            return web.json_response({"message": "clientId and clientSecret required"}, status=400)
        if not (
            hmac.compare_digest(str(body["clientId"]), self.client_id)
            and hmac.compare_digest(str(body["clientSecret"]), self.client_secret)
        ):
            return web.json_response({"message": "Invalid client credentials"}, status=401)
        return web.json_response({"access_token": self.issue_token()})

    def _device_or_404(self, request: web.Request) -> dict[str, Any]:
        doc = self.devices.get(request.match_info["device_id"])
        if doc is None:
            raise web.HTTPNotFound(
                text=json.dumps({"message": "Device not found"}), content_type="application/json"
            )
        return doc

    async def _devices(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.devices.values()))

    async def _device(self, request: web.Request) -> web.Response:
        doc = copy.deepcopy(self._device_or_404(request))
        if "subDevices" in doc:
            doc["subDevices"] = [self.devices[i] for i in doc["subDevices"] if i in self.devices]
        return web.json_response(doc)

    async def _data(self, request: web.Request) -> web.Response:
        device = self._device_or_404(request)
        query = request.query
        try:
            start = int(query["start"]) if "start" in query else None
            end = int(query["end"]) if "end" in query else None
            page = int(query.get("page", "1"))
            per_page = int(query.get("perPage", "10"))
        except ValueError:
            return web.json_response({"message": "Invalid query parameter"}, status=400)
        if page < 1 or not 1 <= per_page <= 100:
            return web.json_response({"message": "Invalid page or perPage"}, status=400)
        # Newest first, as the cloud sorts (by time, not by arrival).
        matching = sorted(
            (
                record
                for record in reversed(self.records.get(device["id"], []))
                if _in_range(record["ts"], start, end)
            ),
            key=lambda record: _sort_time(record["ts"]),
            reverse=True,
        )
        first = (page - 1) * per_page
        return web.json_response(
            {"data": matching[first : first + per_page], "totalItems": len(matching)}
        )

    async def _control(self, request: web.Request) -> web.Response:
        device = self._device_or_404(request)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"message": "Body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"message": "Body must be a JSON object"}, status=400)
        self.control_log.append(
            {
                "device_id": device["id"],
                "body": body,
                "query": dict(request.query),
                "path": request.headers.get("instathings-path"),
                "method": request.headers.get("instathings-method"),
            }
        )
        # The cloud forwards the body as is; only the plug understands it, and it
        # confirms a change by reporting its new state.
        state = body.get("state")
        if device["id"] == PLUG_ID and state in ("ON", "OFF", "TOGGLE"):
            self.plug_on = not self.plug_on if state == "TOGGLE" else state == "ON"
            await self.add_data(PLUG_ID, self.plug_data())
        return web.json_response({})

    async def _types(self, request: web.Request) -> web.Response:
        return web.json_response(TYPES)

    async def _type(self, request: web.Request) -> web.Response:
        for doc in TYPES:
            if doc["id"] == request.match_info["type_id"]:
                return web.json_response(doc)
        return web.json_response({"message": "Type not found"}, status=404)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("project") not in (self.project, self.project_id):
            return web.json_response({"message": "Forbidden"}, status=403)
        ws = web.WebSocketResponse()
        if not ws.can_prepare(request).ok:
            return web.json_response({"message": "Expected a websocket upgrade"}, status=400)
        await ws.prepare(request)
        self.websockets[ws] = request
        try:
            async for _msg in ws:
                pass  # the documented channel carries nothing from the client
        finally:
            self.websockets.pop(ws, None)
        return ws

    async def _close_websockets(self, app: web.Application) -> None:
        for ws in list(self.websockets):
            await ws.close(code=1001, message=b"server shutdown")

    async def _ticker(self, app: web.Application) -> AsyncIterator[None]:
        task = None
        if self.data_interval:
            task = asyncio.create_task(self._tick_forever(self.data_interval))
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _tick_forever(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.tick(interval)

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/authentication/v1/oauth/token", self._token, name="token")
        app.router.add_get("/device/v1/devices", self._devices, name="devices")
        app.router.add_get("/device/v1/devices/{device_id}", self._device, name="device")
        app.router.add_get("/device/v1/devices/{device_id}/data", self._data, name="data")
        app.router.add_post("/device/v1/control/{device_id}/set", self._control, name="control")
        app.router.add_get("/device/v1/types", self._types, name="types")
        app.router.add_get("/device/v1/types/{type_id}", self._type, name="type")
        app.router.add_get("/", self._websocket, name="websocket")
        app.on_shutdown.append(self._close_websockets)  # type: ignore[arg-type]
        app.cleanup_ctx.append(self._ticker)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8086)
    parser.add_argument("--project", default=PROJECT)
    parser.add_argument("--client-id", default=CLIENT_ID)
    parser.add_argument("--client-secret", default=CLIENT_SECRET)
    parser.add_argument("--token-lifetime", type=float, default=3600.0)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between data rounds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    sim = InstathingsSimulator(
        project=args.project,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_lifetime=args.token_lifetime,
        data_interval=args.interval,
    )
    _LOGGER.info(
        "Instathings simulator: api_url and websocket_url http://%s:%d, project %s, client id %s",
        args.host,
        args.port,
        args.project,
        args.client_id,
    )
    web.run_app(sim.make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
