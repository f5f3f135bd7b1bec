"""Stored state never stops an entry from starting, whatever shape it has."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
import pytest

from custom_components.iot_bridge.storage import async_load_state, entry_store_key

KEY = entry_store_key("sample", "entry1")


def _restore(data: Any) -> dict[str, int]:
    return {str(key): int(value) for key, value in (data or {}).items()}


async def test_good_state_is_restored(hass: HomeAssistant, hass_storage: dict[str, Any]) -> None:
    hass_storage[KEY] = {"version": 2, "minor_version": 1, "key": KEY, "data": {"a": "1"}}
    assert await async_load_state(Store[Any](hass, 2, KEY), _restore, dict) == {"a": 1}


@pytest.mark.parametrize(
    "stored",
    [
        # An older version without a migration: Home Assistant raises NotImplementedError.
        {"version": 1, "minor_version": 1, "key": KEY, "data": {"a": "1"}},
        # A newer major version (a downgrade of the integration).
        {"version": 9, "minor_version": 1, "key": KEY, "data": {"a": "1"}},
        # Valid JSON, unexpected shape.
        {"version": 2, "minor_version": 1, "key": KEY, "data": ["not", "a", "mapping"]},
        {"version": 2, "minor_version": 1, "key": KEY, "data": {"a": "not a number"}},
    ],
)
async def test_unusable_state_starts_afresh(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    stored: dict[str, Any],
) -> None:
    hass_storage[KEY] = stored
    assert await async_load_state(Store[Any](hass, 2, KEY), _restore, dict) == {}
    assert "Ignoring the stored state" in caplog.text
