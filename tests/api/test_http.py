"""The shared HTTP helpers: Retry-After, status mapping and the body size cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.iot_bridge.api.errors import (
    ApiConnectionError,
    ApiPayloadError,
    ApiRateLimitError,
)
from custom_components.iot_bridge.api.http import (
    MAX_BODY_BYTES,
    MAX_RETRY_AFTER,
    parse_retry_after,
    raise_for_status,
    request,
    request_json,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- Retry-After ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("3600", MAX_RETRY_AFTER),
        # Ten years: used to stop polling for ten years.
        ("315360000", MAX_RETRY_AFTER),
        # Used to reach timedelta(seconds=1e20) in the coordinator: OverflowError.
        ("1e20", MAX_RETRY_AFTER),
        ("1e400", None),  # float() gives inf
        ("inf", None),
        ("Infinity", None),
        ("nan", None),
        ("-1", None),
        ("-0.5", None),
        ("soon", None),
        ("", None),
        (None, None),
        pytest.param("9" * 5000, None, id="5000 nines"),
        # HTTP-date form (RFC 9110 section 10.2.3).
        ("Sun, 01 Mar 2026 12:02:00 GMT", 120.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: retry now
        ("Sun, 01 Mar 2026 12:02:00 -0000", 120.0),
        ("Sun, 01 Mar 2026 14:02:00 +0200", 120.0),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
        ("Mon, 99 Foo 2026 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_any_retry_after_fits_a_timedelta() -> None:
    """What the coordinator does with it must never overflow."""
    for header in ("1e20", "315360000", "1e308", "Fri, 31 Dec 9999 23:59:59 GMT"):
        seconds = parse_retry_after(header, now=NOW)
        assert seconds is not None
        assert timedelta(seconds=seconds) <= timedelta(hours=1)


@pytest.mark.parametrize(("header", "expected"), [("1e20", MAX_RETRY_AFTER), ("-1", None)])
def test_rate_limit_error_carries_the_capped_value(header: str, expected: float | None) -> None:
    with pytest.raises(ApiRateLimitError) as info:
        raise_for_status(429, {"Retry-After": header}, "", "poll")
    assert info.value.retry_after == expected


# --- body size cap -------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query["n"]))

    async def endless(request: web.Request) -> web.StreamResponse:
        """Chunked, no Content-Length, never ends: only a cap stops the reader."""
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"[" * 65536
        while True:
            await response.write(chunk)
            await asyncio.sleep(0)

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    async def charset(request: web.Request) -> web.Response:
        content_type = f"application/json; charset={request.query['c']}"
        return web.Response(body=b'{"a": 1}', headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/endless", endless)
    app.router.add_get("/charset", charset)
    app.router.add_get("/slow", slow)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def url(server: TestServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


async def test_body_at_the_cap_is_read(session: aiohttp.ClientSession, server: TestServer) -> None:
    status, _, text = await request(
        session, "GET", url(server, "/sized?n=1000"), what="t", max_body=1000
    )
    assert (status, len(text)) == (200, 1000)


async def test_declared_body_over_the_cap_is_refused(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    with pytest.raises(ApiPayloadError, match="1001 bytes exceeds 1000"):
        await request(session, "GET", url(server, "/sized?n=1001"), what="t", max_body=1000)


async def test_endless_body_is_refused_without_reading_on(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    """Without the cap this read runs until the timeout (a connection error), filling memory."""
    timeout = aiohttp.ClientTimeout(total=10)
    with pytest.raises(ApiPayloadError, match="exceeds 1048576 bytes"):
        await request(
            session, "GET", url(server, "/endless"), what="t", timeout=timeout, max_body=1 << 20
        )


async def test_default_cap_applies_to_json_requests(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    assert MAX_BODY_BYTES == 16 * 1024 * 1024
    with pytest.raises(ApiPayloadError, match=f"exceeds {MAX_BODY_BYTES} bytes"):
        await request_json(
            session, "GET", url(server, "/endless"), what="t", timeout=aiohttp.ClientTimeout(30)
        )


@pytest.mark.parametrize("charset", ["utf-8", "latin-1", "no-such-charset", "rot13"])
async def test_unknown_charsets_read_as_utf8(
    session: aiohttp.ClientSession, server: TestServer, charset: str
) -> None:
    body = await request_json(session, "GET", url(server, f"/charset?c={charset}"), what="t")
    assert body == {"a": 1}


async def test_unreachable_is_connection_error(session: aiohttp.ClientSession) -> None:
    with pytest.raises(ApiConnectionError):
        await request(session, "GET", "http://127.0.0.1:1/", what="t")


async def test_timeout_is_connection_error(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    timeout = aiohttp.ClientTimeout(total=0.2)
    with pytest.raises(ApiConnectionError, match="timed out"):
        await request(session, "GET", url(server, "/slow"), what="t", timeout=timeout)
