"""Enapter HTTP API v3 client (Enapter Cloud or a local Enapter Gateway).

The same paths serve both: the cloud lives at ``https://api.enapter.com``, a
gateway at ``http://<gateway>/api``. Sites differ: the cloud lists many with
``GET /v3/sites``, a gateway answers that with 404 and has exactly one site at
``GET /v3/site``; :meth:`EnapterClient.list_sites` tries the cloud form first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import logging
import re
from typing import Any, Literal

import aiohttp
from yarl import URL

from .enapter_history import (
    DATA_TYPES_HEADER,
    HISTORY_TIMEOUT_SECONDS,
    MAX_TIMESERIES_BYTES,
    NoTelemetryFoundError,
    Timeseries,
    TimeseriesSelector,
    is_no_attributes_error,
    parse_timeseries,
    timeseries_request,
)
from .enapter_manifest import (
    ArgumentError,
    CommandArgumentSpec,
    CommandSpec,
    Manifest,
    PropertySpec,
    TelemetrySpec,
    display_unit,
    parse_manifest,
)
from .errors import (
    ApiAuthError,
    ApiCommandError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
    ApiRateLimitError,
)
from .fields import as_float, as_list, as_mapping, as_str
from .http import decode_json, parse_retry_after, request
from .timestamps import InvalidTimestampError, check_epoch
from .urls import base_url, parse_url, strip_path_suffix

__all__ = [
    "DEFAULT_CLOUD_URL",
    "ArgumentError",
    "CommandArgumentSpec",
    "CommandResult",
    "CommandSpec",
    "Connectivity",
    "EnapterClient",
    "EnapterDevice",
    "EnapterSite",
    "Manifest",
    "PropertySpec",
    "TelemetryPoint",
    "TelemetrySpec",
    "display_unit",
    "normalize_url",
    "parse_manifest",
]

_LOGGER = logging.getLogger(__name__)

DEFAULT_CLOUD_URL = "https://api.enapter.com"
CLOUD_HOST = "api.enapter.com"
AUTH_HEADER = "X-Enapter-Auth-Token"
ALLOW_HTTP_HEADER = "X-Enapter-Allow-HTTP"
MAX_URL_LENGTH = 4000
# The shortest limit a 414 answer can shrink the URL budget to.
MIN_URL_LENGTH = 1000
# A server that ignores ``offset`` would otherwise page forever.
MAX_PAGES = 1000

Connectivity = Literal["ONLINE", "OFFLINE", "UNKNOWN"]
_CONNECTIVITY: dict[str, Connectivity] = {
    "ONLINE": "ONLINE",
    "OFFLINE": "OFFLINE",
    "UNKNOWN": "UNKNOWN",
}
_HOST_RE = re.compile(r"^[A-Za-z0-9._\-\[\]:]+$")


@dataclass(frozen=True, slots=True)
class EnapterSite:
    """A site: the unit that groups devices (a gateway has exactly one)."""

    id: str
    name: str
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class EnapterDevice:
    """A device with its expanded manifest, properties and connectivity."""

    id: str
    name: str
    site_id: str | None
    blueprint_id: str | None
    type: str | None
    slug: str | None
    connectivity: Connectivity = "UNKNOWN"
    authorized_role: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    manifest: Manifest | None = None


@dataclass(frozen=True, slots=True)
class TelemetryPoint:
    """A latest datapoint; ``timestamp`` (unix seconds) is None when there is no recent value."""

    timestamp: float | None
    value: Any


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A command execution that ended in SUCCESS."""

    execution_id: str | None
    state: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    # The arguments as the API recorded the request.
    arguments: Mapping[str, Any] = field(default_factory=dict)


def normalize_url(text: str) -> str:
    """Turn what a user typed into an API base URL.

    Empty means the cloud. A bare gateway host (``192.168.1.20``) becomes
    ``http://192.168.1.20/api``; a URL with a scheme keeps its path as typed,
    so ``http://host:8080`` stays a cloud-layout URL. A pasted ``/v3`` suffix
    and trailing slashes are dropped. Raises ValueError on anything that is
    not an http(s) URL or host name.
    """
    text = text.strip()
    if not text:
        return DEFAULT_CLOUD_URL
    default_scheme = None
    bare_gateway = False
    if "://" not in text:
        host_part = text.split("/", 1)[0]
        if not _HOST_RE.match(host_part):
            raise ValueError(f"not a host name: {text!r}")
        cloud = host_part.lower() == CLOUD_HOST
        bare_gateway = not cloud
        default_scheme = "https" if cloud else "http"
    url = parse_url(text, default_scheme=default_scheme, query="refuse")
    path = strip_path_suffix(url.path, "/v3")
    if not path and bare_gateway:
        path = "/api"
    return base_url(url, path)


def _error_messages(text: str) -> str:
    """Join the messages of an Enapter ``{"errors": [...]}`` body, if it is one."""
    try:
        body = decode_json(text, "error body")
    except ApiPayloadError:
        return ""
    parts: list[str] = []
    for item in as_list((as_mapping(body) or {}).get("errors")) or []:
        error = as_mapping(item)
        if error is None:
            continue
        message = as_str(error.get("message")) or ""
        code = as_str(error.get("code"))
        parts.append(f"{message} ({code})" if code else message)
    return "; ".join(part for part in parts if part)


# Words in an error's code or message that refuse the caller's role, not its token.
_ROLE_WORDS = ("forbidden", "permission", "access", "role", "not_allowed", "not allowed")
_TOKEN_WORDS = ("token", "header", "auth")


def _refuses_role(text: str) -> bool:
    """Whether a 403 body clearly refuses the role rather than the token.

    Enapter documents 403 as "token invalid or expired" and answers it too when the
    token's role may read a device but not run a command; only a body that names a
    permission and says nothing of the token settles it here.
    """
    try:
        body = decode_json(text, "error body")
    except ApiPayloadError:
        return False
    role = False
    for item in as_list((as_mapping(body) or {}).get("errors")) or []:
        error = as_mapping(item) or {}
        words = " ".join(
            (as_str(error.get("code")) or "", as_str(error.get("message")) or "")
        ).lower()
        if any(word in words for word in _TOKEN_WORDS) or (
            as_str((as_mapping(error.get("details")) or {}).get("header")) == AUTH_HEADER
        ):
            return False
        role = role or any(word in words for word in _ROLE_WORDS)
    return role


def _raise_for_status(status: int, headers: Mapping[str, str], text: str, what: str) -> None:
    """Enapter's mapping: 401 missing and 403 invalid/expired token both need a new token."""
    if status < 300:
        return
    messages = _error_messages(text)
    detail = f"{what}: HTTP {status}"
    if messages:
        detail = f"{detail}: {messages}"
    elif text:
        detail = f"{detail}: {text[:200]}"
    if status in (401, 403):
        raise ApiAuthError(detail)
    if status == 429:
        raise ApiRateLimitError(detail, parse_retry_after(headers.get("Retry-After")))
    if status >= 500 or status in (404, 408):
        raise ApiConnectionError(detail)
    raise ApiPayloadError(detail)


def _parse_site(raw: Any) -> EnapterSite | None:
    data = as_mapping(raw)
    if data is None:
        return None
    site_id = as_str(data.get("id"))
    if not site_id:
        return None
    return EnapterSite(
        id=site_id,
        name=as_str(data.get("name")) or site_id,
        timezone=as_str(data.get("timezone")),
    )


def _parse_device(raw: Any) -> EnapterDevice | None:
    data = as_mapping(raw)
    if data is None:
        return None
    device_id = as_str(data.get("id"))
    if not device_id:
        return None
    status = as_str((as_mapping(data.get("connectivity")) or {}).get("status"))
    return EnapterDevice(
        id=device_id,
        name=as_str(data.get("name")) or device_id,
        site_id=as_str(data.get("site_id")),
        blueprint_id=as_str(data.get("blueprint_id")),
        type=as_str(data.get("type")),
        slug=as_str(data.get("slug")),
        connectivity=_CONNECTIVITY.get(status or "", "UNKNOWN"),
        authorized_role=as_str(data.get("authorized_role")),
        properties=dict(as_mapping(data.get("properties")) or {}),
        manifest=parse_manifest(data.get("manifest")),
    )


def _datapoint_time(value: Any) -> float | None:
    """A datapoint's Unix time; an impossible one counts as "no recent value" (None)."""
    seconds = as_float(value)
    if seconds is None:
        return None
    try:
        return check_epoch(seconds)
    except InvalidTimestampError:
        return None


def _parse_latest(body: Any) -> dict[str, dict[str, TelemetryPoint]]:
    telemetry = as_mapping((as_mapping(body) or {}).get("telemetry"))
    if telemetry is None:
        raise ApiPayloadError("latest telemetry: no telemetry object")
    result: dict[str, dict[str, TelemetryPoint]] = {}
    for device_id, datapoints in telemetry.items():
        points = as_mapping(datapoints)
        if points is None:
            continue
        parsed: dict[str, TelemetryPoint] = {}
        for attribute, raw in points.items():
            point = as_mapping(raw)
            if point is None:
                continue
            parsed[str(attribute)] = TelemetryPoint(
                timestamp=_datapoint_time(point.get("timestamp")), value=point.get("value")
            )
        result[str(device_id)] = parsed
    return result


_STATE_REASONS = {
    "ERROR": "the device reported an error",
    "TIMEOUT": "the device did not answer in time",
    "UNSYNC": "the command's outcome is unknown: the device is out of sync",
    "NEW": "the command was not picked up yet",
    "IN_PROGRESS": "the command was still running",
}


def _command_reason(state: str, payload: Mapping[str, Any]) -> str:
    message = next(
        (text for key in ("message", "reason", "error") if (text := as_str(payload.get(key)))),
        None,
    )
    return f"{state}: {message or _STATE_REASONS.get(state, 'unexpected execution state')}"


class EnapterClient:
    """Async client for the parts of Enapter HTTP API v3 the integration uses."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        token: str,
        *,
        max_url_length: int = MAX_URL_LENGTH,
    ) -> None:
        """Talk to ``base_url`` (see :func:`normalize_url`), sending ``token`` on every call."""
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._headers = {AUTH_HEADER: token, "Accept": "application/json"}
        if self._base_url.lower().startswith("http://"):
            # The API refuses plain HTTP unless the caller opts in explicitly.
            self._headers[ALLOW_HTTP_HEADER] = "true"
        self._max_url_length = max_url_length
        self.requests_sent = 0
        self.is_gateway: bool | None = None

    @property
    def base_url(self) -> str:
        """The API base URL this client talks to."""
        return self._base_url

    async def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[int, Mapping[str, str], str]:
        self.requests_sent += 1
        return await request(
            self._session,
            method,
            f"{self._base_url}{path}",
            what=what,
            headers=self._headers,
            params=params,
            json_body=json_body,
        )

    async def _get_json(
        self, path: str, *, what: str, params: Mapping[str, str] | None = None
    ) -> Any:
        status, headers, text = await self._send("GET", path, what=what, params=params)
        _raise_for_status(status, headers, text, what)
        return decode_json(text, what)

    async def _paginate(
        self,
        path: str,
        key: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        absent_ok: bool = False,
    ) -> list[Any] | None:
        """Fetch ``offset=N`` pages until the server answers an empty one.

        With ``absent_ok`` a 404 on the first page returns None instead of raising.
        """
        items: list[Any] = []
        previous: list[Any] | None = None
        for _ in range(MAX_PAGES):
            query = {**(params or {}), "offset": str(len(items))}
            status, headers, text = await self._send("GET", path, what=what, params=query)
            if absent_ok and status == 404 and not items:
                return None
            _raise_for_status(status, headers, text, what)
            page = as_list((as_mapping(decode_json(text, what)) or {}).get(key))
            if page is None:
                raise ApiPayloadError(f"{what}: no {key} list")
            if not page:
                return items
            if page == previous:
                # A server that ignores ``offset`` repeats itself forever.
                raise ApiPayloadError(f"{what}: the server repeats the same page")
            previous = page
            items.extend(page)
        raise ApiPayloadError(f"{what}: more than {MAX_PAGES} pages")

    async def list_sites(self) -> list[EnapterSite]:
        """List the token's sites; on a gateway (``/v3/sites`` is 404 there), its single site."""
        if not self.is_gateway:
            raw_sites = await self._paginate(
                "/v3/sites", "sites", what="list sites", absent_ok=True
            )
            if raw_sites is not None:
                self.is_gateway = False
                return [site for raw in raw_sites if (site := _parse_site(raw)) is not None]
        body = await self._get_json("/v3/site", what="get gateway site")
        site = _parse_site((as_mapping(body) or {}).get("site"))
        if site is None:
            raise ApiPayloadError("get gateway site: no site object")
        self.is_gateway = True
        return [site]

    async def list_devices(self, site_id: str | None = None) -> list[EnapterDevice]:
        """List a site's devices (all the token sees when ``site_id`` is None), expanded."""
        path = "/v3/devices" if site_id is None else f"/v3/sites/{site_id}/devices"
        raw_devices = await self._paginate(
            path,
            "devices",
            what="list devices",
            params={"expand": "manifest,properties,connectivity"},
        )
        devices: dict[str, EnapterDevice] = {}
        for raw in raw_devices or []:
            device = _parse_device(raw)
            if device is None:
                _LOGGER.debug("Skipping malformed device entry")
                continue
            # Offsets can shift while a device is added mid-walk; keep the first copy.
            devices.setdefault(device.id, device)
        return list(devices.values())

    def _latest_chunks(
        self, request_map: Mapping[str, Sequence[str]], extra: Mapping[str, str]
    ) -> Iterator[dict[str, str]]:
        """Pack ``devices[<id>]=a,b`` parameters into as few URLs under the limit as possible."""
        base = len(f"{self._base_url}/v3/telemetry/latest")
        budget = self._max_url_length - base - _query_length(extra) - 1

        def parts(device_id: str, attributes: list[str]) -> Iterator[list[str]]:
            current: list[str] = []
            for attribute in attributes:
                if current and _param_length(device_id, [*current, attribute]) > budget:
                    yield current
                    current = []
                current.append(attribute)
            if current:
                yield current

        chunk: dict[str, str] = {}
        used = 0
        for device_id, attributes in request_map.items():
            unique = list(dict.fromkeys(a for a in attributes if a))
            for part in parts(device_id, unique):
                key = f"devices[{device_id}]"
                size = _param_length(device_id, part) + 1
                if chunk and (used + size > budget or key in chunk):
                    yield {**chunk, **extra}
                    chunk, used = {}, 0
                chunk[key] = ",".join(part)
                used += size
        if chunk:
            yield {**chunk, **extra}

    async def latest_telemetry(
        self,
        request_map: Mapping[str, Sequence[str]],
        *,
        relevance_interval: int | None = None,
    ) -> dict[str, dict[str, TelemetryPoint]]:
        """Read the latest values of many devices' attributes, in one request when the URL allows.

        ``relevance_interval`` (seconds) makes the API answer ``timestamp: null``
        for values older than that. Attributes the API leaves out are absent.
        """
        extra = {"relevance_interval": f"{relevance_interval}s"} if relevance_interval else {}
        what = "latest telemetry"
        while True:
            result: dict[str, dict[str, TelemetryPoint]] = {}
            for params in self._latest_chunks(request_map, extra):
                status, headers, text = await self._send(
                    "GET", "/v3/telemetry/latest", what=what, params=params
                )
                if status == 414 and self._max_url_length > MIN_URL_LENGTH:
                    break
                _raise_for_status(status, headers, text, what)
                for device_id, points in _parse_latest(decode_json(text, what)).items():
                    result.setdefault(device_id, {}).update(points)
            else:
                return result
            # A proxy in front of the API allows shorter URLs than we assumed: remember
            # the smaller limit for every later poll and read everything again.
            refused = self._max_url_length
            self._max_url_length = max(MIN_URL_LENGTH, refused // 2)
            _LOGGER.warning(
                "The API refused a URL of up to %s characters (HTTP 414); "
                "splitting latest telemetry at %s from now on",
                refused,
                self._max_url_length,
            )

    @property
    def max_url_length(self) -> int:
        """The longest URL latest-telemetry requests use (shrinks after an HTTP 414)."""
        return self._max_url_length

    async def query_timeseries(
        self,
        start: datetime,
        end: datetime,
        granularity: timedelta,
        selectors: Sequence[TimeseriesSelector],
    ) -> Timeseries:
        """Read history for [start, end) as CSV (see api/enapter_history.py).

        Raises NoTelemetryFoundError when the cloud has no telemetry for a device
        or attribute of the query.
        """
        what = "telemetry history"
        self.requests_sent += 1
        status, headers, text = await request(
            self._session,
            "POST",
            f"{self._base_url}/v3/telemetry/query_timeseries",
            what=what,
            headers={**self._headers, "Accept": "text/csv"},
            json_body=timeseries_request(start, end, granularity, selectors),
            timeout=aiohttp.ClientTimeout(total=HISTORY_TIMEOUT_SECONDS),
            max_body=MAX_TIMESERIES_BYTES,
        )
        if status == 404 and is_no_attributes_error(text):
            raise NoTelemetryFoundError(f"{what}: {text[:200]}")
        _raise_for_status(status, headers, text, what)
        return parse_timeseries(text, headers.get(DATA_TYPES_HEADER), start=start, end=end)

    async def execute_command(
        self, device_id: str, name: str, arguments: Mapping[str, Any] | None = None
    ) -> CommandResult:
        """Run a command and wait for its outcome; anything but SUCCESS raises ApiCommandError."""
        what = f"command {name}"
        status, headers, text = await self._send(
            "POST",
            f"/v3/devices/{device_id}/execute_command",
            what=what,
            json_body={"name": name, "arguments": dict(arguments or {})},
        )
        if 400 <= status < 500 and status not in (401, 403, 408, 429):
            # The API refused this command (unknown name, bad arguments, no such device).
            raise ApiCommandError(name, _error_messages(text) or f"HTTP {status}")
        if status == 403 and _refuses_role(text):
            raise ApiForbiddenError(f"{what}: HTTP 403: {_error_messages(text)}")
        # Any other 403 may still be the role: the caller tells by whether reading works.
        _raise_for_status(status, headers, text, what)
        execution = as_mapping((as_mapping(decode_json(text, what)) or {}).get("execution"))
        state = as_str((execution or {}).get("state"))
        if execution is None or state is None:
            raise ApiPayloadError(f"{what}: no execution state")
        response = as_mapping(execution.get("response")) or {}
        payload = dict(as_mapping(response.get("payload")) or {})
        if state != "SUCCESS":
            raise ApiCommandError(name, _command_reason(state, payload))
        request_body = as_mapping(execution.get("request")) or {}
        return CommandResult(
            execution_id=as_str(execution.get("id")),
            state=state,
            payload=payload,
            arguments=dict(as_mapping(request_body.get("arguments")) or {}),
        )


def _param_length(device_id: str, attributes: list[str]) -> int:
    return _query_length({f"devices[{device_id}]": ",".join(attributes)})


def _query_length(params: Mapping[str, str]) -> int:
    """Length of ``k=v&...`` exactly as yarl (and so aiohttp) encodes it."""
    if not params:
        return 0
    return len(str(URL.build(query=dict(params)))) - 1
