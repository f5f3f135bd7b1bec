"""Where an entry keeps its own state on disk."""

from __future__ import annotations

from .const import DOMAIN


def entry_store_key(name: str, entry_id: str) -> str:
    """The storage key of an entry's own persisted state."""
    return f"{DOMAIN}.{name}.{entry_id}"
