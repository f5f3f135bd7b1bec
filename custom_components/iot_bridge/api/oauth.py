"""OAuth 2.0 client-credentials tokens: fetch, cache, renew early, and renew once on 401.

Vendors differ in how the token is asked for (Netemera: HTTP Basic with an
``audience``; Instathings: the credentials as a JSON body) and in how its
lifetime is told (``expires_in``, or a JWT's ``exp``). ``TokenEndpoint`` holds
those differences; ``ClientCredentials`` does the rest the same for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
import math
import time
from typing import Any, Final

import aiohttp

from .errors import ApiAuthError, ApiPayloadError
from .fields import as_float, as_mapping, as_str
from .http import decode_json, raise_for_status, request

# A token endpoint's answer is a few hundred bytes; anything near this is not one.
MAX_TOKEN_BODY: Final = 64 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenEndpoint:
    """How one vendor hands out tokens.

    ``lifetime`` reads the token's lifetime in seconds from the token and the
    answer's JSON object; None means "until refused". ``refused`` says which
    answers mean the client credentials are wrong (ApiAuthError, reauth) rather
    than some other failure. A token is renewed ``early_refresh`` seconds before
    it expires, or ``max_early_fraction`` of its lifetime before, whichever is
    shorter (so a short-lived token is still used for most of its life).
    """

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] | None = None
    json_body: Mapping[str, Any] | None = None
    refused: Callable[[int, str], bool]
    lifetime: Callable[[str, Mapping[str, Any]], float | None]
    early_refresh: float
    max_early_fraction: float


def expires_in(default: float) -> Callable[[str, Mapping[str, Any]], float | None]:
    """A ``lifetime`` reader for RFC 6749's ``expires_in`` (seconds), ``default`` if unusable."""

    def read(_token: str, body: Mapping[str, Any]) -> float | None:
        lifetime = as_float(body.get("expires_in"))
        return lifetime if lifetime is not None and lifetime > 0 else default

    return read


class ClientCredentials:
    """A cached access token for one client, shared by every request of that client.

    ``requests_sent`` counts the token requests made.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        endpoint: TokenEndpoint,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Nothing is sent until a token is first needed."""
        self._session = session
        self._endpoint = endpoint
        self._clock = clock
        self._token: str | None = None
        self._deadline = 0.0
        self._lock = asyncio.Lock()
        self.requests_sent = 0

    @property
    def endpoint(self) -> TokenEndpoint:
        """Where and how tokens are fetched."""
        return self._endpoint

    async def token(self, stale: str | None = None) -> str:
        """Return a valid token: the cached one unless it nears expiry or is ``stale``.

        Pass the token a server just refused as ``stale``; concurrent callers that
        saw the same refusal then share one new token instead of fetching one each.
        """
        async with self._lock:
            if self._token is not None and self._token != stale and self._clock() < self._deadline:
                return self._token
            self._token = None
            token, lifetime = await self._fetch()
            if lifetime is None or not math.isfinite(lifetime):
                # No readable expiry: keep it until the server refuses it.
                self._deadline = math.inf
            else:
                early = min(
                    self._endpoint.early_refresh, lifetime * self._endpoint.max_early_fraction
                )
                self._deadline = self._clock() + lifetime - early
            self._token = token
            return token

    def invalidate(self) -> None:
        """Forget the cached token (the next call fetches a new one)."""
        self._token = None

    async def _fetch(self) -> tuple[str, float | None]:
        endpoint = self._endpoint
        self.requests_sent += 1
        status, headers, text = await request(
            self._session,
            "POST",
            endpoint.url,
            what="token",
            headers={"Accept": "application/json", **endpoint.headers},
            params=endpoint.params,
            json_body=endpoint.json_body,
            max_body=MAX_TOKEN_BODY,
        )
        if endpoint.refused(status, text):
            raise ApiAuthError(f"token: HTTP {status}: client credentials refused")
        raise_for_status(status, headers, text, "token")
        body = as_mapping(decode_json(text, "token"))
        token = as_str(body.get("access_token")) if body is not None else None
        if not token or body is None:
            raise ApiPayloadError("token: answer has no access_token")
        return token, endpoint.lifetime(token, body)

    async def call[T](
        self,
        attempt: Callable[[str], Awaitable[T]],
        *,
        refused: Callable[[T], bool],
        release: Callable[[T], object] | None = None,
    ) -> T:
        """Run ``attempt`` with a token; when ``refused`` says so, renew it and run it once more.

        ``release`` frees a refused result (a response or socket) before the retry.
        The second outcome is returned whatever it is: a token refused right after
        it was issued means the credentials, not the token, are the problem.
        """
        token = await self.token()
        outcome = await attempt(token)
        if not refused(outcome):
            return outcome
        if release is not None:
            release(outcome)
        return await attempt(await self.token(stale=token))


def status_is(*statuses: int) -> Callable[[tuple[int, Mapping[str, str], str]], bool]:
    """A ``refused`` test for ``call`` on ``http.request`` results."""

    def check(outcome: tuple[int, Mapping[str, str], str]) -> bool:
        return outcome[0] in statuses

    return check
