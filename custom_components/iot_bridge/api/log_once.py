"""Log a recurring problem once, not on every poll or message.

A vendor that keeps sending the same malformed field would otherwise fill the
log every few seconds. ``LogOnce`` remembers which (kind, key) pairs were logged
(``once.warning("Register %s has no rate", name, kind="no_rate", key=name)``);
``forget`` lets a problem be logged again after it went away and came back.
"""

from __future__ import annotations

from collections.abc import Hashable
import logging
from typing import Any, Final

# Keys come from vendor data (device ids, attribute names); an unbounded set would
# grow with whatever a vendor invents. Past this the oldest are forgotten, which
# at worst logs an old problem a second time.
MAX_REMEMBERED: Final = 1024


class LogOnce:
    """Remember what was logged per kind and key; log each only once until forgotten."""

    def __init__(self, logger: logging.Logger, max_remembered: int = MAX_REMEMBERED) -> None:
        """Log through ``logger``; remember at most ``max_remembered`` (kind, key) pairs."""
        self._logger = logger
        self._max = max_remembered
        # A dict keeps insertion order, so the oldest entry is the first one.
        self._seen: dict[tuple[str, Hashable], None] = {}

    def log(self, level: int, message: str, *args: Any, kind: str, key: Hashable = None) -> bool:
        """Log ``message % args`` unless (kind, key) was logged already; True if logged."""
        return self._emit(level, message, args, kind, key)

    def warning(self, message: str, *args: Any, kind: str, key: Hashable = None) -> bool:
        """Log a warning once per (kind, key)."""
        return self._emit(logging.WARNING, message, args, kind, key)

    def info(self, message: str, *args: Any, kind: str, key: Hashable = None) -> bool:
        """Log an info message once per (kind, key)."""
        return self._emit(logging.INFO, message, args, kind, key)

    def logged(self, kind: str, key: Hashable = None) -> bool:
        """Whether (kind, key) was logged and not forgotten since."""
        return (kind, key) in self._seen

    def forget(self, kind: str, key: Hashable = None) -> bool:
        """Allow (kind, key) to be logged again; True if it had been logged."""
        if (kind, key) not in self._seen:
            return False
        del self._seen[kind, key]
        return True

    def forget_kind(self, kind: str) -> None:
        """Allow every key of ``kind`` to be logged again."""
        for entry in [entry for entry in self._seen if entry[0] == kind]:
            del self._seen[entry]

    def _emit(
        self, level: int, message: str, args: tuple[Any, ...], kind: str, key: Hashable
    ) -> bool:
        entry = (kind, key)
        if entry in self._seen:
            return False
        if len(self._seen) >= self._max:
            del self._seen[next(iter(self._seen))]
        self._seen[entry] = None
        # stacklevel 3: the record names the caller of warning()/log(), not this helper.
        self._logger.log(level, message, *args, stacklevel=3)
        return True
