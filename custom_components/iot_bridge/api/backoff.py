"""Reconnect pacing for long-lived streams (websocket, SSE)."""

from __future__ import annotations

from dataclasses import dataclass, field
import random


@dataclass
class Backoff:
    """Capped exponential backoff with full jitter.

    Jitter keeps many installations from reconnecting in lock-step after a
    vendor outage; ``reset`` is called once a connection has delivered data.
    """

    initial: float = 1.0
    maximum: float = 300.0
    factor: float = 2.0
    jitter: bool = True
    _attempt: int = field(default=0, init=False)
    _rng: random.Random = field(default_factory=random.Random, init=False, repr=False)

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def next_delay(self, floor: float | None = None) -> float:
        """Return the next delay in seconds, at least ``floor`` (a server's Retry-After)."""
        ceiling = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        delay = self._rng.uniform(ceiling / 2, ceiling) if self.jitter else ceiling
        if floor is not None:
            delay = max(delay, min(floor, self.maximum))
        return delay

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._attempt = 0
