"""A real Home Assistant instance with IoT Bridge loaded, for benchmarks.

It uses the test harness of pytest-homeassistant-custom-component (the same
Home Assistant core the tests run), outside pytest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import os
from pathlib import Path
import socket
import sys
import tempfile
from typing import Any

from homeassistant import loader
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def home_assistant() -> AsyncIterator[HomeAssistant]:
    """Yield a running Home Assistant that can load custom_components/iot_bridge."""
    with tempfile.TemporaryDirectory() as config_dir:
        os.symlink(ROOT / "custom_components", Path(config_dir) / "custom_components")
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            yield hass
            await hass.async_stop(force=True)


async def add_entry(
    hass: HomeAssistant, data: dict[str, Any], unique_id: str, title: str = "bench"
) -> MockConfigEntry:
    """Add a config entry and set it up."""
    entry = MockConfigEntry(domain="iot_bridge", data=data, unique_id=unique_id, title=title)
    entry.add_to_hass(hass)
    if not await hass.config_entries.async_setup(entry.entry_id):
        raise RuntimeError(f"set-up failed: {entry.state}")
    await hass.async_block_till_done()
    return entry


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def python() -> str:
    """The interpreter running the benchmark, for subprocess simulators."""
    return sys.executable
