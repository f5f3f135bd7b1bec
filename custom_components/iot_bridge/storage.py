"""Where an entry keeps its own state on disk, and how it is read back safely."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER


def entry_store_key(name: str, entry_id: str) -> str:
    """The storage key of an entry's own persisted state."""
    return f"{DOMAIN}.{name}.{entry_id}"


async def async_load_state[StateT](
    store: Store[Any], restore: Callable[[Any], StateT], empty: Callable[[], StateT]
) -> StateT:
    """Read an entry's stored state; what cannot be used is dropped, set-up goes on.

    Stored state comes from outside (a device's values, a hand edit, another
    version of this integration), so no shape of it may stop an entry from
    starting: a file of an unknown version or an unexpected shape is logged
    once and the entry starts afresh. ``restore`` itself skips single bad items.
    """
    try:
        return restore(await store.async_load())
    except Exception:  # noqa: BLE001 - any failure here would fail every later start
        LOGGER.warning(
            "Ignoring the stored state in %s: it cannot be read by this version; starting afresh",
            store.path,
            exc_info=True,
        )
        return empty()
