"""Shared fixtures: every test may load the custom integration."""

from __future__ import annotations

from collections.abc import Generator
import logging
import re
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.helpers import frame
import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

# Snapshots hold what the newest Home Assistant shows (registry fields, unit symbols);
# they are recorded and compared on the newest test leg only. See CONTRIBUTING.md.
SNAPSHOT_LEG = (2026, 10)
ON_SNAPSHOT_LEG = (MAJOR_VERSION, MINOR_VERSION) >= SNAPSHOT_LEG

# Home Assistant's words when it reports code that stops working in a later release.
_DEPRECATION = re.compile(r"deprecat|will stop working|will be removed", re.IGNORECASE)


class _DeprecationReports(logging.Handler):
    """Collect Home Assistant's deprecation reports that name this integration."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "iot_bridge" in message and _DEPRECATION.search(message):
            self.reports.append(message)


_REPORTS = _DeprecationReports()


def pytest_configure(config: pytest.Config) -> None:
    """Listen from the start: deprecated constants report when a module is imported."""
    logging.getLogger().addHandler(_REPORTS)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run for reports made outside a test (at import or collection)."""
    if _REPORTS.reports:
        print("\nDeprecated Home Assistant usage by iot_bridge:")
        for report in dict.fromkeys(_REPORTS.reports):
            print(f"  {report}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def no_deprecated_usage() -> Generator[None]:
    """Fail a test whose code makes Home Assistant report a deprecation of ours."""
    # Home Assistant reports each usage once per process; forget that, so every
    # test that reaches a deprecated call fails, not only the first.
    reported: Any = getattr(frame, "_REPORTED_INTEGRATIONS", None)
    if reported is not None:
        reported.clear()
    _REPORTS.reports.clear()
    yield
    found = list(dict.fromkeys(_REPORTS.reports))
    _REPORTS.reports.clear()
    assert not found, "Deprecated Home Assistant usage:\n" + "\n".join(found)


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


class _NotComparedHere:
    """Stands in for a snapshot on the minimum leg: the rest of the test still runs."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __call__(self, *args: Any, **kwargs: Any) -> _NotComparedHere:
        return self


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion | _NotComparedHere:
    """Snapshots that leave out ids and times that differ on every run."""
    if not ON_SNAPSHOT_LEG:
        return _NotComparedHere()
    return snapshot.use_extension(HomeAssistantSnapshotExtension)
