"""The one supervisor of every push stream (Instathings' websocket, Netemera's SSE).

A stream vendor's coordinator subclasses ``StreamCoordinator`` and says three things:
how to open the stream (the client's async generator, which calls ``on_open`` once the
server has accepted it and before the first item is read), what to catch up on at that
moment, and how to apply one item. Everything else is decided here, once:

- the stream runs in an entry-owned task that never dies: refused credentials stop it
  and start re-authentication; any other failure, expected or not, is followed by a
  reconnect after capped exponential backoff with jitter (at least the server's
  Retry-After, which the API layer caps);
- the backoff starts over only after a connection proved healthy (it delivered real
  data, or stayed open ``HEALTHY_AFTER`` seconds), so a server that accepts and drops
  at once is not hammered, and the catch-up runs at most once per attempt;
- outages: entities keep their last values for ``grace`` seconds (a quick reconnect
  catches up without a gap); past that they are unavailable. One log line when they
  go, one when the stream is back.
"""

from __future__ import annotations

from abc import abstractmethod
import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing, suppress
from datetime import timedelta
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import UpdateFailed

from .api.backoff import Backoff
from .api.errors import ApiAuthError, ApiError, ApiForbiddenError, ApiRateLimitError
from .const import DOMAIN, LOGGER
from .coordinator import IotBridgeCoordinator
from .errors import update_error_for

# A connection that stayed open this long was healthy even if it carried no data
# (an idle application sends only keep-alives).
HEALTHY_AFTER: Final = 60.0
# Entities keep their last values this long after a drop: enough for the first few
# reconnect attempts, short enough that a dashboard does not show stale values as live.
STREAM_GRACE: Final = 120.0
RECONNECT_INITIAL: Final = 1.0
RECONNECT_MAX: Final = 300.0

type OnOpen = Callable[[], Awaitable[None]]


class StreamCoordinator[DataT, ItemT](IotBridgeCoordinator[DataT]):
    """A coordinator fed by a long-lived stream instead of polling."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        *,
        name: str,
        grace: float = STREAM_GRACE,
    ) -> None:
        """Set up an interval-less coordinator; ``async_start_stream`` starts following."""
        super().__init__(hass, entry, name=name)
        self.backoff = Backoff(initial=RECONNECT_INITIAL, maximum=RECONNECT_MAX)
        self.stream_grace = grace
        self.stream_stats: Counter[str] = Counter()
        self._stream_up = False
        self._opened_at: float | None = None
        self._healthy = False
        self._outage_logged = False
        self._unexpected_logged = False
        self._grace_unsub: CALLBACK_TYPE | None = None
        self._stream_task: asyncio.Task[None] | None = None

    # --- what a stream vendor provides -------------------------------------------

    @abstractmethod
    def _open_stream(self, on_open: OnOpen) -> AsyncGenerator[ItemT]:
        """Return the client's stream; it awaits ``on_open`` once the server accepted it."""

    async def _async_catch_up(self) -> None:
        """Fetch what the stream missed while it was down (runs inside ``on_open``)."""

    @abstractmethod
    def _handle_item(self, item: ItemT) -> bool:
        """Apply one item; return whether it was real data (not a keep-alive or junk)."""

    # --- the task ----------------------------------------------------------------

    @property
    def stream_connected(self) -> bool:
        """Whether the stream is open and caught up."""
        return self._stream_up

    @property
    def stream_task(self) -> asyncio.Task[None] | None:
        """The entry-owned task following the stream (None before it starts)."""
        return self._stream_task

    @callback
    def async_start_stream(self) -> None:
        """Start following the stream in a task the entry owns (cancelled on unload and stop)."""
        self._stream_task = self.config_entry.async_create_background_task(
            self.hass, self._async_run_stream(), f"{DOMAIN} {self.name} stream"
        )

    async def _async_run_stream(self) -> None:
        while True:
            floor: float | None = None
            self._opened_at = None
            self._healthy = False
            try:
                async with aclosing(self._open_stream(self._async_opened)) as stream:
                    async for item in stream:
                        if self._handle_item(item):
                            self._healthy = True
                # The server ended the stream: reconnect like after any drop.
                self._stream_down("the server closed the stream")
            except (ApiAuthError, ApiForbiddenError) as err:
                # The client already retried with a fresh token: the credentials are refused.
                self._stream_down(str(err))
                self._async_auth_failed(err)
                return
            except ApiRateLimitError as err:
                floor = err.retry_after
                self._stream_down(str(err))
            except ApiError as err:
                self._stream_down(str(err))
            except Exception as err:  # noqa: BLE001 - a bug must not end the stream for good
                if self._unexpected_logged:
                    LOGGER.debug("Unexpected error in the %s stream", self.name, exc_info=True)
                else:
                    self._unexpected_logged = True
                    LOGGER.exception("Unexpected error in the %s stream", self.name)
                self._stream_down(repr(err))
            if self._was_healthy():
                self.backoff.reset()
            delay = self.backoff.next_delay(floor)
            self.stream_stats["reconnects"] += 1
            LOGGER.debug("Reconnecting the %s stream in %.1f s", self.name, delay)
            await asyncio.sleep(delay)

    def _was_healthy(self) -> bool:
        if self._healthy:
            return True
        return self._opened_at is not None and time.monotonic() - self._opened_at >= HEALTHY_AFTER

    async def _async_opened(self) -> None:
        """The server accepted the stream: catch up, then the entities are live again."""
        await self._async_catch_up()
        self._opened_at = time.monotonic()
        self._stream_up = True
        self.stream_stats["connects"] += 1
        self._cancel_grace()
        if self._outage_logged:
            LOGGER.info("The %s stream is back", self.name)
            self._outage_logged = False
        if not self.last_update_success:
            self.async_set_updated_data(self.data)

    @callback
    def _stream_down(self, reason: str) -> None:
        self.stream_stats["drops"] += 1
        if self._stream_up:
            LOGGER.debug("The %s stream dropped: %s", self.name, reason)
        self._stream_up = False
        if self._grace_unsub is None and self.last_update_success:
            self._grace_unsub = async_call_later(
                self.hass, timedelta(seconds=self.stream_grace), self._async_grace_expired
            )

    @callback
    def _async_grace_expired(self, _now: Any) -> None:
        self._grace_unsub = None
        if not self._outage_logged:
            self._outage_logged = True
            LOGGER.warning(
                "The %s stream has been down for %.0f s; its entities are unavailable "
                "until it is back",
                self.name,
                self.stream_grace,
            )
        self.async_set_update_error(
            UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="stream_lost",
                translation_placeholders={
                    "name": self.name,
                    "seconds": str(round(self.stream_grace)),
                },
            )
        )

    @callback
    def _cancel_grace(self) -> None:
        if self._grace_unsub is not None:
            self._grace_unsub()
            self._grace_unsub = None

    @callback
    def _async_auth_failed(self, err: ApiError) -> None:
        self._cancel_grace()
        self.async_set_update_error(update_error_for(err))
        self.config_entry.async_start_reauth(self.hass)

    async def async_shutdown(self) -> None:
        """Stop the stream task and its timer before the entry goes away."""
        self._cancel_grace()
        if self._stream_task is not None and not self._stream_task.done():
            self._stream_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._stream_task
        await super().async_shutdown()
