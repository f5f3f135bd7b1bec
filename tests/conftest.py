"""Shared fixtures: every test may load the custom integration."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import PropertyMock, patch

import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None, socket_enabled: None) -> None:
    """Let Home Assistant load custom_components/iot_bridge in every test.

    Sockets stay enabled because every vendor is faked by a real server on 127.0.0.1.
    """


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities that are disabled by default as enabled (for snapshots)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots that leave out ids and times that differ on every run."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)
