"""The HTTP endpoint the Efento gateway POSTs to.

One view serves every Efento entry: ``/api/iot_bridge/efento/<webhook id>/<endpoint>``.
It is registered once per Home Assistant run, the first time an Efento entry
starts setting up, and stays for the run (aiohttp routes cannot be removed). It
therefore exists for every configured entry whether or not that entry is loaded
right now, which is what lets it answer 503 instead of 404 while an entry is
retrying its set-up, reloading (token rotation, reconfigure) or disabled, and
while Home Assistant is still starting or already stopping. Home Assistant's
webhook component cannot do that: an id whose entry is not loaded is simply
unknown to it, and it answers such requests 200, which the gateway counts as a
failure and resends at once instead of pausing.

Order of checks, cheapest and most telling first: unknown id → 404; token →
401; announced size → 413; not ready → 503; read at most 1 MiB → 413; parse →
400; apply → 201.
"""

from __future__ import annotations

import hmac
from http import HTTPStatus
import json

from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import CoreState, HomeAssistant, callback
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from ..api.efento import TOKEN_HEADER, EfentoMessageError, parse_message
from ..api.log_once import LogOnce
from ..const import CONF_VENDOR, DOMAIN, LOGGER
from .const import CONF_TOKEN, ENDPOINTS, MAX_BODY_BYTES, URL_BASE, VENDOR_KEY
from .coordinator import EfentoConfigEntry

# The gateway pauses five minutes on 503 anyway; say so for other clients.
RETRY_AFTER = "300"


# Per Home Assistant run, like the view itself (its presence means the view exists):
# refusals already logged, per entry.
DATA_REFUSALS_LOGGED: HassKey[LogOnce] = HassKey(f"{DOMAIN}_efento_http")


@callback
def async_register_view(hass: HomeAssistant) -> None:
    """Register the endpoint once per run (idempotent)."""
    if DATA_REFUSALS_LOGGED in hass.data:
        return
    hass.data[DATA_REFUSALS_LOGGED] = LogOnce(LOGGER)
    hass.http.register_view(EfentoView())


def measurements_path(webhook_id: str) -> str:
    """The path to type into the gateway's measurements endpoint."""
    return f"{URL_BASE}/{webhook_id}/measurements"


def heartbeat_path(webhook_id: str) -> str:
    """The path to type into the gateway's heartbeat endpoint."""
    return f"{URL_BASE}/{webhook_id}/heartbeat"


def _text(status: HTTPStatus, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _log_refusal(hass: HomeAssistant, entry: EfentoConfigEntry, kind: str, message: str) -> None:
    hass.data[DATA_REFUSALS_LOGGED].warning(
        "Efento gateway %s: %s", entry.title, message, kind=kind, key=entry.entry_id
    )


async def _read_limited(request: web.Request) -> bytes | None:
    """Read the body, or None as soon as it passes the limit (chunked bodies too)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class EfentoView(HomeAssistantView):
    """Measurements and heartbeats of every Efento entry."""

    url = URL_BASE + "/{webhook_id}/{endpoint:" + "|".join(ENDPOINTS) + "}"
    name = "api:iot_bridge:efento"
    # The gateway authenticates with X-Api-Token, checked below.
    requires_auth = False

    async def post(self, request: web.Request, webhook_id: str, endpoint: str) -> web.Response:
        """Answer the gateway exactly as its documentation expects."""
        hass = request.app[KEY_HASS]
        entry: EfentoConfigEntry | None = hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, webhook_id
        )
        if entry is None or entry.data.get(CONF_VENDOR) != VENDOR_KEY:
            return _text(HTTPStatus.NOT_FOUND, "unknown endpoint")
        sent = request.headers.get(TOKEN_HEADER)
        if sent is None or not hmac.compare_digest(
            sent.encode("utf-8", "surrogateescape"), str(entry.data[CONF_TOKEN]).encode()
        ):
            _log_refusal(
                hass,
                entry,
                "token",
                f"refused a request from {request.remote} with a missing or wrong "
                f"{TOKEN_HEADER} (answered 401). Check the gateway's Organization Token",
            )
            return _text(HTTPStatus.UNAUTHORIZED, "missing or wrong X-Api-Token")
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return self._too_large(hass, entry)
        if not _ready(hass, entry):
            return web.json_response(
                {"error": "not ready, retry later"},
                status=HTTPStatus.SERVICE_UNAVAILABLE,
                headers={"Retry-After": RETRY_AFTER},
            )
        body = await _read_limited(request)
        if body is None:
            return self._too_large(hass, entry)
        if not _ready(hass, entry):  # unloaded while the body was arriving
            return web.json_response(
                {"error": "not ready, retry later"},
                status=HTTPStatus.SERVICE_UNAVAILABLE,
                headers={"Retry-After": RETRY_AFTER},
            )
        coordinator = entry.runtime_data.coordinator
        try:
            message = parse_message(body)
        except EfentoMessageError as err:
            coordinator.async_note_bad_message(f"{endpoint}: {err.reason}")
            return _text(HTTPStatus.BAD_REQUEST, err.reason)
        reply = coordinator.async_handle_message(message)
        return web.Response(
            status=HTTPStatus.CREATED,
            text=json.dumps(reply if reply is not None else {}),
            content_type="application/json",
        )

    @staticmethod
    def _too_large(hass: HomeAssistant, entry: EfentoConfigEntry) -> web.Response:
        _log_refusal(
            hass,
            entry,
            "size",
            f"refused a body over {MAX_BODY_BYTES} bytes (answered 413)",
        )
        return _text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")


def _ready(hass: HomeAssistant, entry: EfentoConfigEntry) -> bool:
    return hass.state is CoreState.running and entry.state is ConfigEntryState.LOADED
