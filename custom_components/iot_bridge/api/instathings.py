"""Instathings IoT cloud client: REST API plus the websocket event stream.

Authentication is OAuth-style client credentials posted as JSON to
``/authentication/v1/oauth/token``; the answer's ``access_token`` is a JWT sent as
``Authorization: Bearer`` and, for the websocket, as the ``access_token`` query
parameter. See vendor-docs/instathings-api.md. Message shapes and the pure
websocket parser live in ``instathings_events``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
import json
import logging
import time
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from .errors import ApiAuthError, ApiCommandError, ApiConnectionError, ApiPayloadError
from .fields import as_float, as_int, as_list, as_mapping
from .http import decode_json, raise_for_status, request
from .instathings_events import (
    BadMessage,
    ConnectivityEvent,
    DataEvent,
    DataRecord,
    InstathingsDevice,
    InstathingsEvent,
    InstathingsType,
    PairingEvent,
    SoftwareVersionEvent,
    UnknownEvent,
    parse_device,
    parse_event,
    parse_record,
    parse_type,
)
from .log_once import LogOnce
from .oauth import ClientCredentials, TokenEndpoint, status_is
from .urls import parse_url

__all__ = [
    "DEFAULT_WEBSOCKET_URL",
    "BadMessage",
    "ConnectivityEvent",
    "DataEvent",
    "DataRecord",
    "InstathingsClient",
    "InstathingsDevice",
    "InstathingsEvent",
    "InstathingsType",
    "PairingEvent",
    "SoftwareVersionEvent",
    "UnknownEvent",
    "default_api_url",
    "jwt_claims",
    "normalize_api_url",
    "normalize_websocket_url",
    "parse_event",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_WEBSOCKET_URL = "wss://wss.instathings.io"
API_SCHEMES = frozenset({"http", "https"})
WEBSOCKET_SCHEMES = frozenset({"ws", "wss", "http", "https"})
AUTH_PATH = "/authentication/v1/oauth/token"
# Refresh this long before ``exp`` (at most half the lifetime) so no request leaves
# with a token that expires in flight.
TOKEN_EARLY_REFRESH = 60.0
PER_PAGE = 100  # the documented maximum of perPage
MAX_PAGES = 100
WS_CONNECT_TIMEOUT = 30.0
DEFAULT_WS_HEARTBEAT = 60.0
# Events are JSON documents of a few KiB (a gateway with its sub-devices at most);
# aiohttp's default of 4 MiB per message would let one broken frame take that much.
MAX_WS_MESSAGE = 1024 * 1024
EXCERPT_CHARS = 200
_COMMAND_REFUSED = (400, 404, 405, 409, 422)


def default_api_url(project: str) -> str:
    """Return the documented REST base URL of a project."""
    return f"https://{project}.instathings.io"


def normalize_api_url(text: str) -> str:
    """Check an overriding REST base URL (http or https); trailing slashes are dropped.

    Raises ValueError when it is not such a URL.
    """
    text = text.strip()
    parse_url(text, schemes=API_SCHEMES, query="keep", allow_credentials=True)
    return text.rstrip("/")


def normalize_websocket_url(text: str) -> str:
    """Check an overriding websocket URL (ws, wss, or http(s) for a proxy); kept as typed.

    Raises ValueError when it is not such a URL.
    """
    text = text.strip()
    parse_url(text, schemes=WEBSOCKET_SCHEMES, query="keep", allow_credentials=True)
    return text


def jwt_claims(token: str) -> Mapping[str, Any] | None:
    """Decode a JWT's payload without verifying it (we only read ``exp``/``iat``)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return as_mapping(json.loads(raw))
    # binascii.Error and UnicodeDecodeError are ValueErrors; deep nesting is a RecursionError.
    except (ValueError, RecursionError):
        return None


def _token_lifetime(token: str) -> float | None:
    """Seconds the token stays valid from now, or None when ``exp`` is unreadable.

    The wall clock decides unless it claims the token is already expired (a
    skewed clock); then ``exp - iat`` is used so we do not fetch in a loop.
    """
    claims = jwt_claims(token) or {}
    exp = as_float(claims.get("exp"))
    if exp is None:
        return None
    iat = as_float(claims.get("iat"))
    candidates = [exp - time.time()]
    if iat is not None:
        candidates.append(exp - iat)
    usable = [value for value in candidates if value > 0]
    return min(usable) if usable else None


class InstathingsClient:
    """Talk to one Instathings project.

    ``api_url`` is the REST base (``default_api_url(project)`` normally),
    ``websocket_url`` the event endpoint (``DEFAULT_WEBSOCKET_URL`` normally).
    """

    def __init__(  # noqa: PLR0917 - Home Assistant's vendor packages call it positionally
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        websocket_url: str,
        project: str,
        client_id: str,
        client_secret: str,
        *,
        ws_heartbeat: float | None = DEFAULT_WS_HEARTBEAT,
    ) -> None:
        """Store the connection details; nothing is sent until the first call."""
        self._session = session
        self._api_url = api_url.rstrip("/")
        self._ws_url = websocket_url
        self._project = project
        self._auth = ClientCredentials(
            session,
            TokenEndpoint(
                url=self._api_url + AUTH_PATH,
                json_body={"clientId": client_id, "clientSecret": client_secret},
                refused=lambda status, _text: status in (400, 401),
                lifetime=lambda token, _body: _token_lifetime(token),
                early_refresh=TOKEN_EARLY_REFRESH,
                max_early_fraction=0.5,
            ),
        )
        self._ws_heartbeat = ws_heartbeat
        self._log_once = LogOnce(_LOGGER)
        self._sent = 0

    @property
    def requests_sent(self) -> int:
        """Every HTTP request and websocket handshake made, token requests included."""
        return self._sent + self._auth.requests_sent

    @property
    def project(self) -> str:
        """The project this client reads."""
        return self._project

    # --- authentication -----------------------------------------------------------

    async def access_token(self) -> str:
        """Return a valid access token, fetching one when none is cached or it nears ``exp``."""
        return await self._auth.token()

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        what: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> tuple[int, Mapping[str, str], str]:
        self._sent += 1
        return await request(
            self._session,
            method,
            self._api_url + path,
            what=what,
            headers={
                **(headers or {}),
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
            },
            params=params,
            json_body=json_body,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], str]:
        """Send an authorized request; on 401 fetch a new token and retry once."""

        async def attempt(token: str) -> tuple[int, Mapping[str, str], str]:
            return await self._send(
                method, path, token, what=what, params=params, json_body=json_body, headers=headers
            )

        return await self._auth.call(attempt, refused=status_is(401))

    async def _get_json(
        self, path: str, *, what: str, params: Mapping[str, str] | None = None
    ) -> Any:
        status, headers, text = await self._call("GET", path, what=what, params=params)
        raise_for_status(status, headers, text, what)
        return decode_json(text, what)

    # --- devices ------------------------------------------------------------------

    async def list_devices(self) -> list[InstathingsDevice]:
        """Return every device of the project: gateways, their sub-devices and standalone ones.

        The doc shows one JSON array and no paging. Items without an id are skipped.
        """
        items = as_list(await self._get_json("/device/v1/devices", what="devices"))
        if items is None:
            raise ApiPayloadError("devices: answer is not a JSON array")
        devices = []
        for raw in items:
            device = parse_device(raw)
            if device is None:
                _LOGGER.debug("Skipping a device entry without an id")
                continue
            devices.append(device)
        return devices

    async def list_types(self) -> list[InstathingsType]:
        """Return the project's device types (manufacturer and model of a ``type_id``)."""
        items = as_list(await self._get_json("/device/v1/types", what="types"))
        if items is None:
            raise ApiPayloadError("types: answer is not a JSON array")
        return [item for item in map(parse_type, items) if item is not None]

    # --- data ---------------------------------------------------------------------

    async def _data_page(
        self, device_id: str, params: Mapping[str, str]
    ) -> tuple[list[Any], int | None]:
        body = as_mapping(
            await self._get_json(
                f"/device/v1/devices/{quote(device_id, safe='')}/data", what="data", params=params
            )
        )
        items = as_list(body.get("data")) if body is not None else None
        if body is None or items is None:
            raise ApiPayloadError("data: answer has no data array")
        return items, as_int(body.get("totalItems"))

    async def latest_data(self, device_id: str) -> DataRecord | None:
        """Return the newest data record of a device, or None when it has none.

        Asks for one item of page 1: the cloud lists records newest first (the
        doc's example); the newest of what came back is returned either way.
        """
        items, _ = await self._data_page(device_id, {"page": "1", "perPage": "1"})
        newest: DataRecord | None = None
        for raw in items:
            record = parse_record(raw, device_id)
            if record is not None and (newest is None or record.ts > newest.ts):
                newest = record
        return newest

    async def data_since(self, device_id: str, start_ms: int) -> list[DataRecord]:
        """Return the device's records strictly newer than ``start_ms``, oldest first.

        Pages through ``start=`` results, 100 at a time, until ``totalItems`` have
        been read (or a short page when the server omits it). Records arriving
        while we page can shift items between pages; duplicates are dropped by
        record id.
        """
        seen: set[str] = set()
        result: list[DataRecord] = []
        fetched = 0
        for page in range(1, MAX_PAGES + 1):
            params = {"start": str(start_ms), "page": str(page), "perPage": str(PER_PAGE)}
            items, total = await self._data_page(device_id, params)
            fetched += len(items)
            for raw in items:
                record = parse_record(raw, device_id)
                if record is None:
                    _LOGGER.debug("Skipping a malformed data record of %s", device_id)
                    continue
                key = record.record_id or f"{record.ts}:{json.dumps(record.data, default=str)}"
                if record.ts <= start_ms or key in seen:
                    continue
                seen.add(key)
                result.append(record)
            if not items or (fetched >= total if total is not None else len(items) < PER_PAGE):
                break
        else:
            # Every reconnect catches up again: say it once per device, not per drop.
            self._log_once.warning(
                "Data of %s exceeds %d pages; catch-up is partial",
                device_id,
                page,
                kind="partial_catch_up",
                key=device_id,
            )
        result.sort(key=lambda record: record.ts)
        return result

    # --- control ------------------------------------------------------------------

    async def set_control(
        self,
        device_id: str,
        body: Mapping[str, Any],
        *,
        query: Mapping[str, str] | None = None,
        http_path: str | None = None,
        http_method: str | None = None,
    ) -> None:
        """Publish ``body`` to a device (e.g. ``{"state": "ON"}``).

        The cloud forwards the body as is and answers ``{}``: success means
        "delivered", the device confirms with a ``data`` event. ``http_path`` and
        ``http_method`` fill the ``instathings-path``/``-method`` headers HTTP
        devices need; ``query`` is forwarded to them.
        """
        headers: dict[str, str] = {}
        if http_path is not None:
            headers["instathings-path"] = http_path
        if http_method is not None:
            headers["instathings-method"] = http_method
        status, resp_headers, text = await self._call(
            "POST",
            f"/device/v1/control/{quote(device_id, safe='')}/set",
            what="control",
            params=query,
            json_body=dict(body),
            headers=headers,
        )
        if status in _COMMAND_REFUSED:
            detail = f"HTTP {status}: {text[:EXCERPT_CHARS]}" if text else f"HTTP {status}"
            raise ApiCommandError("set", detail)
        raise_for_status(status, resp_headers, text, "control")

    # --- websocket ----------------------------------------------------------------

    async def events(
        self, on_connected: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncGenerator[InstathingsEvent]:
        """Yield parsed events from the project's websocket.

        Never returns normally: when the socket closes or fails it raises
        ApiConnectionError, and the caller reconnects (and catches up with
        ``data_since``). A refused token, even after fetching a new one, raises
        ApiAuthError. Close it with ``contextlib.aclosing`` when stopping early.

        ``on_connected`` is awaited once the socket is open and before the first
        message is read: catching up there loses nothing, because messages that
        arrive meanwhile wait in the socket's buffer. Its errors close the socket
        and propagate.
        """
        ws = await self._connect_ws()
        try:
            if on_connected is not None:
                await on_connected()
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    yield parse_event(msg.data)
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    try:
                        text = msg.data.decode()
                    except UnicodeDecodeError:
                        yield BadMessage("binary message is not UTF-8", repr(msg.data[:60]))
                    else:
                        yield parse_event(text)
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    error = msg.data if isinstance(msg.data, BaseException) else ws.exception()
                    if (
                        isinstance(error, aiohttp.WebSocketError)
                        and error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
                    ):
                        raise ApiPayloadError(
                            f"websocket: message larger than {MAX_WS_MESSAGE} bytes"
                        )
                    raise ApiConnectionError(
                        f"websocket: connection failed ({type(error).__name__})"
                    )
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    raise ApiConnectionError(f"websocket: closed (code {ws.close_code})")
        finally:
            await ws.close()

    async def _open_ws(
        self, token: str
    ) -> tuple[aiohttp.ClientWebSocketResponse | None, int, Mapping[str, str]]:
        """Try one handshake; return the socket, or None with the refusal's status."""
        url = URL(self._ws_url).update_query(project=self._project, access_token=token)
        self._sent += 1
        # Error texts from aiohttp quote the URL, which holds the token: never pass
        # them on, and cut the exception chain (``from None``).
        try:
            async with asyncio.timeout(WS_CONNECT_TIMEOUT):
                ws = await self._session.ws_connect(
                    url, heartbeat=self._ws_heartbeat, max_msg_size=MAX_WS_MESSAGE
                )
        except aiohttp.WSServerHandshakeError as err:
            return None, err.status, err.headers or {}
        except TimeoutError:
            raise ApiConnectionError("websocket: timed out connecting") from None
        except aiohttp.ClientError as err:
            raise ApiConnectionError(f"websocket: {type(err).__name__}") from None
        return ws, 101, {}

    async def _connect_ws(self) -> aiohttp.ClientWebSocketResponse:
        # A gateway-style authorizer may answer 403 for an expired token, so both
        # refusals earn one retry with a fresh token.
        ws, status, headers = await self._auth.call(
            self._open_ws, refused=lambda outcome: outcome[0] is None and outcome[1] in (401, 403)
        )
        if ws is not None:
            return ws
        if status in (401, 403):
            raise ApiAuthError(f"websocket: HTTP {status}: access token refused")
        raise_for_status(status, headers, "", "websocket")
        raise ApiConnectionError(f"websocket: handshake answered HTTP {status}")
