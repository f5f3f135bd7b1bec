"""The shared client-credentials token cache, against a small token server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
import json
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.iot_bridge.api.errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiPayloadError,
)
from custom_components.iot_bridge.api.oauth import (
    MAX_TOKEN_BODY,
    ClientCredentials,
    TokenEndpoint,
    expires_in,
    status_is,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


class TokenServer:
    """Hands out numbered tokens; ``answer`` overrides the next answers."""

    def __init__(self) -> None:
        self.issued = 0
        self.lifetime: Any = 100
        self.answers: list[tuple[int, str]] = []
        self.requests: list[web.Request] = []
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        await request.read()
        await asyncio.sleep(self.delay)
        if self.answers:
            status, text = self.answers.pop(0)
            return web.Response(status=status, text=text, content_type="application/json")
        self.issued += 1
        body = {"access_token": f"t{self.issued}", "expires_in": self.lifetime}
        return web.json_response(body)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def vendor() -> TokenServer:
    return TokenServer()


@pytest.fixture
async def token_url(vendor: TokenServer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/token", vendor.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}/token"
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(
    session: aiohttp.ClientSession, url: str, clock: Clock, **overrides: Any
) -> ClientCredentials:
    settings: dict[str, Any] = {
        "url": url,
        "headers": {"Authorization": "Basic abc"},
        "params": {"grant_type": "client_credentials"},
        "refused": lambda status, _text: status == 401,
        "lifetime": expires_in(3600.0),
        "early_refresh": 30.0,
        "max_early_fraction": 0.1,
        **overrides,
    }
    return ClientCredentials(session, TokenEndpoint(**settings), clock=clock)


async def test_token_is_reused_until_shortly_before_expiry(
    session: aiohttp.ClientSession, token_url: str, vendor: TokenServer, clock: Clock
) -> None:
    auth = make(session, token_url, clock)
    assert await auth.token() == "t1"
    clock.now += 89.9  # lifetime 100, renewed min(30, 10) seconds early
    assert await auth.token() == "t1"
    clock.now += 0.2
    assert await auth.token() == "t2"
    assert auth.requests_sent == vendor.issued == 2
    request = vendor.requests[0]
    assert request.headers["Authorization"] == "Basic abc"
    assert request.query["grant_type"] == "client_credentials"


@pytest.mark.parametrize("lifetime", [None, "soon", -5, 0])
async def test_unusable_expires_in_uses_the_default(
    session: aiohttp.ClientSession, token_url: str, vendor: TokenServer, clock: Clock, lifetime: Any
) -> None:
    vendor.lifetime = lifetime
    auth = make(session, token_url, clock)
    await auth.token()
    clock.now += 3600 - 31
    assert await auth.token() == "t1"
    clock.now += 2
    assert await auth.token() == "t2"


async def test_no_lifetime_means_until_refused(
    session: aiohttp.ClientSession, token_url: str, clock: Clock
) -> None:
    auth = make(session, token_url, clock, lifetime=lambda _token, _body: None)
    await auth.token()
    clock.now += 1e12
    assert await auth.token() == "t1"
    assert await auth.token(stale="t1") == "t2"
    auth.invalidate()
    assert await auth.token() == "t3"


async def test_concurrent_refusals_share_one_new_token(
    session: aiohttp.ClientSession, token_url: str, vendor: TokenServer, clock: Clock
) -> None:
    auth = make(session, token_url, clock)
    await auth.token()
    vendor.delay = 0.05
    tokens = await asyncio.gather(*(auth.token(stale="t1") for _ in range(5)))
    assert tokens == ["t2"] * 5
    assert vendor.issued == 2


async def test_call_renews_once_on_refusal(
    session: aiohttp.ClientSession, token_url: str, clock: Clock
) -> None:
    auth = make(session, token_url, clock)
    seen: list[str] = []
    released: list[str] = []

    async def attempt(token: str) -> tuple[int, Mapping[str, str], str]:
        seen.append(token)
        return 401, {}, token

    outcome = await auth.call(
        attempt, refused=status_is(401), release=lambda outcome: released.append(outcome[2])
    )
    assert outcome == (401, {}, "t2")  # the second refusal is the caller's to judge
    assert seen == ["t1", "t2"]
    assert released == ["t1"]


@pytest.mark.parametrize(
    ("answer", "error", "match"),
    [
        ((401, '{"error": "invalid_client"}'), ApiAuthError, "client credentials refused"),
        ((503, ""), ApiConnectionError, "HTTP 503"),
        ((200, "not json"), ApiPayloadError, "not JSON"),
        ((200, "[]"), ApiPayloadError, "no access_token"),
        ((200, '{"access_token": 5}'), ApiPayloadError, "no access_token"),
        ((200, json.dumps({"pad": "x" * MAX_TOKEN_BODY})), ApiPayloadError, "exceeds"),
    ],
)
async def test_token_endpoint_failures(
    session: aiohttp.ClientSession,
    token_url: str,
    vendor: TokenServer,
    clock: Clock,
    answer: tuple[int, str],
    error: type[Exception],
    match: str,
) -> None:
    vendor.answers.append(answer)
    auth = make(session, token_url, clock)
    with pytest.raises(error, match=match):
        await auth.token()
    assert await auth.token() == "t1"  # a failure caches nothing
