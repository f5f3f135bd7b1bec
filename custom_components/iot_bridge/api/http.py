"""One place that turns aiohttp outcomes into the shared API errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import json
import math
from typing import Any, Final

import aiohttp

from .errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
    ApiRateLimitError,
)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=20)
# The answers we read whole are JSON documents of kilobytes (a large site's device
# list with manifests: a few MiB). The cap only stops a broken or hostile server
# from filling memory; past it the body is not read on.
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
_READ_CHUNK: Final = 64 * 1024
# The longest wait a server may impose through Retry-After. Vendors ask for
# seconds to minutes; a larger value is a bug or an attack, and honouring it
# would stop updates for days (or overflow a timedelta). An hour still respects
# any real maintenance window while the entities stay recoverable.
MAX_RETRY_AFTER: Final = 3600.0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a Retry-After header: seconds, or an HTTP date; None when unusable.

    Negative, non-finite or unreadable values are ignored; every value is capped
    at MAX_RETRY_AFTER. A date in the past means "now" (0 seconds).
    """
    if not value:
        return None
    text = value.strip()
    if not text or len(text) > 64:
        return None
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until_http_date(text, now)
        if seconds is not None:
            seconds = max(seconds, 0.0)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _seconds_until_http_date(text: str, now: datetime | None) -> float | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # "-0000" means UTC with unknown origin
    # Years 1-9999 on both sides: the difference always fits a timedelta.
    return (moment - (now or datetime.now(UTC))).total_seconds()


def decode_json(text: str, what: str) -> Any:
    """Parse a JSON body or raise ApiPayloadError naming what was being read."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as err:
        raise ApiPayloadError(f"{what}: body is not JSON") from err


def raise_for_status(status: int, headers: Mapping[str, str], text: str, what: str) -> None:
    """Map an HTTP status to the shared errors; 2xx passes."""
    if status < 300:
        return
    detail = f"{what}: HTTP {status}"
    if text:
        detail = f"{detail}: {text[:200]}"
    if status == 401:
        raise ApiAuthError(detail)
    if status == 403:
        raise ApiForbiddenError(detail)
    if status == 429:
        raise ApiRateLimitError(detail, parse_retry_after(headers.get("Retry-After")))
    if status >= 500 or status in (404, 408):
        raise ApiConnectionError(detail)
    raise ApiPayloadError(detail)


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    data: Any = None,
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    max_body: int = MAX_BODY_BYTES,
) -> tuple[int, Mapping[str, str], str]:
    """Send one request; return status, headers and body text.

    Transport failures become ApiConnectionError; status codes are left to the
    caller, which knows what a 401 means for its vendor. A body larger than
    ``max_body`` bytes raises ApiPayloadError as soon as that is known.
    """
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            params=params,
            json=json_body,
            data=data,
            timeout=timeout,
        ) as resp:
            body = await read_limited(resp, max_body, what)
            return resp.status, resp.headers, _decode(body, resp.charset)
    except TimeoutError as err:
        raise ApiConnectionError(f"{what}: timed out") from err
    except (aiohttp.ClientError, UnicodeDecodeError, ValueError) as err:
        raise ApiConnectionError(f"{what}: {err}") from err


async def read_limited(resp: aiohttp.ClientResponse, max_body: int, what: str) -> bytes:
    """Read a whole body, refusing (ApiPayloadError) one larger than ``max_body`` bytes."""
    declared = resp.content_length
    if declared is not None and declared > max_body:
        raise ApiPayloadError(f"{what}: body of {declared} bytes exceeds {max_body}")
    chunks: list[bytes] = []
    size = 0
    while True:
        # One byte past the cap is enough to know it is exceeded.
        chunk = await resp.content.read(min(_READ_CHUNK, max_body + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_body:
            raise ApiPayloadError(f"{what}: body exceeds {max_body} bytes")
        chunks.append(chunk)


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8")
    except LookupError:
        # JSON is UTF-8 (RFC 8259); so is a body whose charset is no text encoding we know.
        return body.decode("utf-8")


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    max_body: int = MAX_BODY_BYTES,
) -> Any:
    """Send one request and return its JSON body, raising the shared errors."""
    status, resp_headers, text = await request(
        session,
        method,
        url,
        what=what,
        headers=headers,
        params=params,
        json_body=json_body,
        timeout=timeout,
        max_body=max_body,
    )
    raise_for_status(status, resp_headers, text, what)
    return decode_json(text, what)
