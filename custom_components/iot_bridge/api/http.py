"""One place that turns aiohttp outcomes into the shared API errors."""

from __future__ import annotations

from collections.abc import Mapping
import json
from typing import Any

import aiohttp

from .errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
    ApiRateLimitError,
)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=20)


def parse_retry_after(value: str | None) -> float | None:
    """Read a Retry-After header given in seconds; dates are rare enough to ignore."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


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
) -> tuple[int, Mapping[str, str], str]:
    """Send one request; return status, headers and body text.

    Transport failures become ApiConnectionError; status codes are left to the
    caller, which knows what a 401 means for its vendor.
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
            text = await resp.text()
            return resp.status, resp.headers, text
    except TimeoutError as err:
        raise ApiConnectionError(f"{what}: timed out") from err
    except (aiohttp.ClientError, UnicodeDecodeError, ValueError) as err:
        raise ApiConnectionError(f"{what}: {err}") from err


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
    )
    raise_for_status(status, resp_headers, text, what)
    return decode_json(text, what)
