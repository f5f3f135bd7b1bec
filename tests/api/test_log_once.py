"""Logging a recurring problem once."""

from __future__ import annotations

import logging

import pytest

from custom_components.iot_bridge.api.log_once import LogOnce

LOGGER = logging.getLogger("tests.log_once")


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER.name]


def test_each_kind_and_key_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    once = LogOnce(LOGGER)
    assert once.warning("field %s missing", "a", kind="missing", key="a")
    assert not once.warning("field %s missing", "a", kind="missing", key="a")
    assert once.warning("field %s missing", "b", kind="missing", key="b")
    assert once.info("other %s", "a", kind="other", key="a")
    assert messages(caplog) == ["field a missing", "field b missing", "other a"]
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING, logging.INFO]
    assert once.logged("missing", "a")
    assert not once.logged("missing", "c")


def test_forget_allows_logging_again(caplog: pytest.LogCaptureFixture) -> None:
    once = LogOnce(LOGGER)
    once.warning("lost", kind="lost")
    assert once.forget("lost")
    assert not once.forget("lost")
    once.warning("lost", kind="lost")
    once.warning("bad 1", kind="bad", key=1)
    once.warning("bad 2", kind="bad", key=2)
    once.forget_kind("bad")
    once.log(logging.ERROR, "bad 1 again", kind="bad", key=1)
    assert messages(caplog) == ["lost", "lost", "bad 1", "bad 2", "bad 1 again"]


def test_memory_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    once = LogOnce(LOGGER, max_remembered=3)
    for key in range(5):
        once.warning("key %s", key, kind="k", key=key)
    # The two oldest were forgotten; the newest are still remembered.
    assert [once.logged("k", key) for key in range(5)] == [False, False, True, True, True]
    assert not once.warning("key %s", 4, kind="k", key=4)


def test_record_names_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    LogOnce(LOGGER).warning("here", kind="k")
    assert caplog.records[-1].filename == "test_log_once.py"
