"""Netemera LoRaWAN Application Data API v3 client.

OAuth 2.0 client credentials against the authorization server, an SSE stream of
uplinks for one application, time-range history and downlinks. See
vendor-docs/netemera-lorawan-api-v3.md.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import logging
import math
import re
from typing import Any
from urllib.parse import quote

import aiohttp

from .errors import (
    ApiCommandError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
)
from .fields import as_bool, as_float, as_int, as_list, as_mapping, as_str
from .http import decode_json, raise_for_status, request
from .oauth import ClientCredentials, TokenEndpoint, expires_in, status_is
from .sse import SseError, SseEvent, SseParser
from .timestamps import InvalidTimestampError, parse_timestamp
from .urls import parse_url

_LOGGER = logging.getLogger(__name__)

TOKEN_PATH = "/api/v1/oauth2/token"  # noqa: S105 - a URL path, not a secret
DEFAULT_TOKEN_LIFETIME = 86400.0  # the documented 24 h, used when expires_in is unusable
# Refresh a little early so a request never leaves with a token that expires in flight.
TOKEN_EARLY_REFRESH = 300.0
DEFAULT_STREAM_IDLE_TIMEOUT = 300.0
MAX_HISTORY_PAGES = 100
MAX_DOWNLINK_PAYLOAD = 242  # largest FRMPayload any LoRaWAN region allows
EXCERPT_CHARS = 200

_HEX_SEPARATORS = re.compile(r"[\s:]")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
# The doc marks missing permissions as "405 Forbidden"; real servers may send 403.
_FORBIDDEN = (403, 405)
_OAUTH_BAD_CLIENT = ("invalid_client", "unauthorized_client", "invalid_grant")


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """Radio metadata from one gateway that heard an uplink."""

    id: str | None
    rssi: float | None
    snr: float | None


@dataclass(frozen=True, slots=True)
class Uplink:
    """One uplink packet. Optional or malformed fields are None.

    ``payload`` is None when ``frm_payload`` is absent or not valid hex;
    ``payload_hex`` is the string as the server sent it. ``frequency`` is in MHz.
    ``event_id`` is the SSE id (None for history items).
    """

    dev_eui: str
    f_cnt_up: int | None
    f_port: int | None
    payload: bytes | None
    payload_hex: str | None
    recv_time: datetime | None
    data_rate: int | None
    frequency: float | None
    ack: bool | None
    adr: bool | None
    gateways: tuple[GatewayInfo, ...]
    event_id: str | None = None

    @property
    def best_gateway(self) -> GatewayInfo | None:
        """The gateway with the highest SNR, ties broken by the highest RSSI.

        SNR says how far above the noise floor the frame was, which is what
        decides whether a LoRa link is reliable; RSSI alone is skewed by noise.
        """
        if not self.gateways:
            return None
        return max(self.gateways, key=lambda gw: (_or_floor(gw.snr), _or_floor(gw.rssi)))


@dataclass(frozen=True, slots=True)
class BadEvent:
    """A stream event that is not a valid uplink; the stream goes on."""

    reason: str
    excerpt: str
    event_id: str | None


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """An empty ``data:`` event the server sends when there is no traffic."""

    event_id: str | None


type StreamItem = Uplink | BadEvent | KeepAlive


def _or_floor(value: float | None) -> float:
    return -math.inf if value is None else value


def _parse_gateway(raw: Any) -> GatewayInfo | None:
    data = as_mapping(raw)
    if data is None:
        return None
    return GatewayInfo(
        as_str(data.get("id")), as_float(data.get("rssi")), as_float(data.get("snr"))
    )


def parse_uplink(raw: Any, event_id: str | None = None) -> Uplink:
    """Read one Uplink Packet object.

    Raises ApiPayloadError without a dev_eui, and InvalidTimestampError (one) when
    ``recv_time`` is present but cannot be real: such an uplink would outrank every
    genuine one in "newest wins" rules and move the history cursor out of range.
    A missing ``recv_time`` reads as None.
    """
    data = as_mapping(raw)
    if data is None:
        raise ApiPayloadError("uplink is not a JSON object")
    dev_eui = as_str(data.get("dev_eui"))
    if not dev_eui:
        raise ApiPayloadError("uplink has no dev_eui")
    raw_time = data.get("recv_time")
    try:
        # The API speaks UTC; a missing offset still means UTC.
        recv_time = None if raw_time is None else parse_timestamp(raw_time)
    except InvalidTimestampError as err:
        raise InvalidTimestampError(err.reason, raw_time, "recv_time") from None
    payload_hex = as_str(data.get("frm_payload"))
    payload: bytes | None = None
    if payload_hex is not None:
        try:
            payload = bytes.fromhex(payload_hex)
        except ValueError:
            _LOGGER.debug("Uplink from %s has a non-hex frm_payload", dev_eui)
    gateways = tuple(
        gw for gw in map(_parse_gateway, as_list(data.get("gw_info")) or []) if gw is not None
    )
    return Uplink(
        dev_eui=dev_eui,
        f_cnt_up=as_int(data.get("f_cnt_up")),
        f_port=as_int(data.get("f_port")),
        payload=payload,
        payload_hex=payload_hex,
        recv_time=recv_time,
        data_rate=as_int(data.get("data_rate")),
        frequency=as_float(data.get("ul_freq")),
        ack=as_bool(data.get("ack")),
        adr=as_bool(data.get("adr")),
        gateways=gateways,
        event_id=event_id,
    )


def validate_hex(text: str) -> bytes:
    """Turn user-typed hex ("01FF", "01 ff", "0x01ff", "01:ff") into bytes; ValueError if bad."""
    cleaned = _HEX_SEPARATORS.sub("", text)
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    if not _HEX_DIGITS.fullmatch(cleaned):
        raise ValueError("payload must contain only hex digits 0-9 and A-F")
    if len(cleaned) % 2:
        raise ValueError("payload must have an even number of hex digits")
    if len(cleaned) // 2 > MAX_DOWNLINK_PAYLOAD:
        raise ValueError(f"payload must be at most {MAX_DOWNLINK_PAYLOAD} bytes")
    return bytes.fromhex(cleaned)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("history needs timezone-aware datetimes")
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def normalize_url(text: str) -> str:
    """Trim an http(s) URL's whitespace and trailing slashes; ValueError if it is none.

    The rest stays as typed: entries store this text and derive their unique id from it.
    """
    url = text.strip().rstrip("/")
    parse_url(url, query="keep", allow_credentials=True)
    return url


def _token_url(auth_url: str) -> str:
    base = auth_url.rstrip("/")
    # Accept either the server's base URL or the full token endpoint.
    return base if base.endswith(TOKEN_PATH) else base + TOKEN_PATH


def _excerpt(text: str) -> str:
    return text[:EXCERPT_CHARS]


def _time_key(uplink: Uplink) -> tuple[bool, datetime]:
    return (uplink.recv_time is not None, uplink.recv_time or datetime.min.replace(tzinfo=UTC))


class NetemeraClient:
    """Talk to one Netemera application.

    ``auth_url`` is the authorization server's base URL (the token endpoint
    ``/api/v1/oauth2/token`` is appended unless already present); ``api_url`` is
    the application server's API base ending in ``/api/v3``, also sent as the
    token ``audience``.
    """

    def __init__(  # noqa: PLR0917 - Home Assistant's vendor packages call it positionally
        self,
        session: aiohttp.ClientSession,
        auth_url: str,
        api_url: str,
        client_id: str,
        client_secret: str,
        application_id: str,
        *,
        stream_idle_timeout: float = DEFAULT_STREAM_IDLE_TIMEOUT,
    ) -> None:
        """Store the connection details; nothing is sent until the first call."""
        self._session = session
        self._api_url = api_url.rstrip("/")
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._auth = ClientCredentials(
            session,
            TokenEndpoint(
                url=_token_url(auth_url),
                headers={"Authorization": f"Basic {basic}"},
                # The documented request: grant and audience as query parameters.
                params={"grant_type": "client_credentials", "audience": self._api_url},
                refused=_credentials_refused,
                lifetime=expires_in(DEFAULT_TOKEN_LIFETIME),
                early_refresh=TOKEN_EARLY_REFRESH,
                max_early_fraction=0.1,
            ),
        )
        self._application_id = application_id
        self._stream_idle_timeout = stream_idle_timeout
        self._sent = 0

    @property
    def requests_sent(self) -> int:
        """Every HTTP request made, token requests included."""
        return self._sent + self._auth.requests_sent

    @property
    def application_id(self) -> str:
        """The application this client reads."""
        return self._application_id

    # --- authorization -------------------------------------------------------------

    async def authorize(self) -> None:
        """Fetch an access token now (unless a valid one is cached).

        Lets a caller tell the token endpoint's refusals apart from the API's: a
        403 here usually means the API URL (the token audience) is wrong, while a
        403/405 from the API means the client lacks a permission.
        """
        await self._auth.token()

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        what: str,
        params: Mapping[str, str] | None,
        json_body: Any,
    ) -> tuple[int, Mapping[str, str], str]:
        self._sent += 1
        return await request(
            self._session,
            method,
            self._api_url + path,
            what=what,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
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
    ) -> tuple[int, Mapping[str, str], str]:
        """Send an authorized request; on 401 fetch a new token and retry once."""

        async def attempt(token: str) -> tuple[int, Mapping[str, str], str]:
            return await self._send(
                method, path, token, what=what, params=params, json_body=json_body
            )

        status, headers, text = await self._auth.call(attempt, refused=status_is(401))
        if status in _FORBIDDEN:
            raise ApiForbiddenError(f"{what}: HTTP {status}: missing permissions")
        return status, headers, text

    # --- history ------------------------------------------------------------------

    async def history(self, start: datetime, end: datetime | None = None) -> list[Uplink]:
        """Return the application's uplinks received in [start, end), oldest first.

        The doc describes no paging, but a server may cap an answer. So after a
        non-empty answer we ask again from its newest ``recv_time`` (from_time is
        inclusive) until an answer brings nothing new; normally that costs one
        extra request.
        """
        path = f"/uplink-packets/applications/{quote(self._application_id, safe='')}"
        until = None if end is None else _iso(end)
        cursor = start
        seen: set[tuple[str, int | None, datetime | None]] = set()
        result: list[Uplink] = []
        for _ in range(MAX_HISTORY_PAGES):
            params = {"from_time": _iso(cursor)}
            if until is not None:
                params["until_time"] = until
            status, headers, text = await self._call("GET", path, what="history", params=params)
            raise_for_status(status, headers, text, "history")
            items = as_list(decode_json(text, "history"))
            if items is None:
                raise ApiPayloadError("history: answer is not a JSON array")
            newest: datetime | None = None
            for raw in items:
                try:
                    uplink = parse_uplink(raw)
                except ApiPayloadError as err:
                    _LOGGER.debug("Skipping a history item: %s", err)
                    continue
                key = (uplink.dev_eui, uplink.f_cnt_up, uplink.recv_time)
                if key in seen:
                    continue
                seen.add(key)
                result.append(uplink)
                if uplink.recv_time and (newest is None or uplink.recv_time > newest):
                    newest = uplink.recv_time
            if newest is None or newest <= cursor:
                break
            cursor = newest
        result.sort(key=_time_key)
        return result

    # --- stream -------------------------------------------------------------------

    async def stream(
        self,
        last_event_id: str | None = None,
        *,
        on_open: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncGenerator[StreamItem]:
        """Yield uplinks (and keep-alives, bad events) from the application's SSE stream.

        Never returns normally: when the server closes or the connection drops
        (or nothing arrives for ``stream_idle_timeout`` seconds) it raises
        ApiConnectionError; reconnect with the last ``event_id`` seen. Close it
        with ``contextlib.aclosing`` when stopping early.

        ``on_open`` is awaited once the server has accepted the stream and before
        anything is read from it: a caller reconnecting without an event id can
        catch up from history there, knowing the stream covers everything after.
        """
        resp = await self._connect_stream(last_event_id)
        try:
            if on_open is not None:
                await on_open()
            parser = SseParser()
            try:
                async for chunk in resp.content.iter_any():
                    for event in parser.feed(chunk):
                        item = _stream_item(event)
                        if item is not None:
                            yield item
            except TimeoutError as err:
                raise ApiConnectionError("uplink stream: no data, keep-alive missed") from err
            except aiohttp.ClientError as err:
                raise ApiConnectionError(f"uplink stream: {err}") from err
            except SseError as err:
                raise ApiPayloadError(f"uplink stream: {err}") from err
            raise ApiConnectionError("uplink stream: closed by the server")
        finally:
            resp.close()

    async def _open_stream(self, token: str, last_event_id: str | None) -> aiohttp.ClientResponse:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
        }
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        url = f"{self._api_url}/uplink-packets/applications/{quote(self._application_id, safe='')}"
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=20, sock_read=self._stream_idle_timeout
        )
        self._sent += 1
        try:
            return await self._session.get(url, headers=headers, timeout=timeout)
        except TimeoutError as err:
            raise ApiConnectionError("uplink stream: timed out connecting") from err
        except aiohttp.ClientError as err:
            raise ApiConnectionError(f"uplink stream: {err}") from err

    async def _connect_stream(self, last_event_id: str | None) -> aiohttp.ClientResponse:
        resp = await self._auth.call(
            lambda token: self._open_stream(token, last_event_id),
            refused=lambda resp: resp.status == 401,
            release=lambda resp: resp.close(),
        )
        if resp.status == 200:
            content_type = resp.headers.get("Content-Type", "")
            if content_type.lower().startswith("text/event-stream"):
                return resp
            resp.close()
            raise ApiPayloadError(f"uplink stream: answered {content_type or 'no content type'}")
        status, headers = resp.status, resp.headers
        try:
            text = (await resp.content.read(EXCERPT_CHARS)).decode("utf-8", "replace")
        except (TimeoutError, aiohttp.ClientError):
            text = ""
        finally:
            resp.close()
        if status in _FORBIDDEN:
            raise ApiForbiddenError(f"uplink stream: HTTP {status}: missing permissions")
        if status == 400 and last_event_id:
            raise ApiPayloadError(
                "uplink stream: HTTP 400: request refused; the Last-Event-ID may be unknown "
                "or expired, reconnect without it and catch up from history"
            )
        raise_for_status(status, headers, text, "uplink stream")
        raise ApiPayloadError(f"uplink stream: unexpected HTTP {status}")

    # --- downlink -----------------------------------------------------------------

    async def send_downlink(
        self, dev_eui: str, port: int, payload: bytes, confirmed: bool = False
    ) -> None:
        """Queue a downlink for an end-device (HTTP 202 when accepted)."""
        if not 1 <= port <= 223:
            raise ApiCommandError("downlink", f"port {port} is outside 1-223")
        if len(payload) > MAX_DOWNLINK_PAYLOAD:
            raise ApiCommandError("downlink", f"payload exceeds {MAX_DOWNLINK_PAYLOAD} bytes")
        body: dict[str, Any] = {"dev_eui": dev_eui, "f_port": port, "confirmed": confirmed}
        if payload:
            body["frm_payload"] = payload.hex().upper()
        status, headers, text = await self._call(
            "POST",
            f"/downlink-packets/end-devices/{quote(dev_eui, safe='')}",
            what="downlink",
            json_body=body,
        )
        if status in (400, 404, 409, 422):
            detail = f"HTTP {status}: {text[:EXCERPT_CHARS]}" if text else f"HTTP {status}"
            raise ApiCommandError("downlink", detail)
        raise_for_status(status, headers, text, "downlink")


def _oauth_error(text: str) -> str | None:
    try:
        body = as_mapping(json.loads(text))
    except (ValueError, RecursionError):
        return None
    return as_str(body.get("error")) if body else None


def _credentials_refused(status: int, text: str) -> bool:
    return status == 401 or (status == 400 and _oauth_error(text) in _OAUTH_BAD_CLIENT)


def _stream_item(event: SseEvent) -> StreamItem | None:
    event_id = event.last_event_id or None
    if event.event != "message":
        # An EventSource only hands "message" events to onmessage; others are not uplinks.
        _LOGGER.debug("Ignoring SSE event of type %s", event.event[:40])
        return None
    if not event.data.strip():
        return KeepAlive(event_id)
    try:
        raw = json.loads(event.data)
    except (ValueError, RecursionError):  # deep nesting must not escape as RecursionError
        return BadEvent("data is not JSON", _excerpt(event.data), event_id)
    try:
        return parse_uplink(raw, event_id)
    except ApiPayloadError as err:
        return BadEvent(str(err), _excerpt(event.data), event_id)
