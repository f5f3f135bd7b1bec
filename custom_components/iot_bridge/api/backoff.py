"""Reconnect pacing for long-lived streams (websocket, SSE)."""

from __future__ import annotations

from dataclasses import dataclass, field
import math
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

    def __post_init__(self) -> None:
        """Refuse settings that could make a delay infinite, negative or shrinking."""
        if not (0 < self.initial <= self.maximum and math.isfinite(self.maximum)):
            raise ValueError("Backoff needs 0 < initial <= maximum < inf")
        if not (1 <= self.factor < math.inf):
            raise ValueError("Backoff needs a finite factor >= 1")

    def next_delay(self, floor: float | None = None) -> float:
        """Return the next delay in seconds, at least ``floor`` (a server's Retry-After).

        Always finite and at most ``maximum``: a floor beyond it, infinite or NaN
        cannot stop reconnecting for good.
        """
        try:
            grown = self.initial * self.factor**self._attempt
        except OverflowError:  # float ** int raises once past 1e308 (after ~1000 failures)
            grown = self.maximum
        ceiling = min(self.maximum, grown)
        self._attempt += 1
        delay = self._rng.uniform(ceiling / 2, ceiling) if self.jitter else ceiling
        # NaN compares false with everything, so "floor > 0" already drops it.
        if floor is not None and floor > 0:
            delay = max(delay, min(floor, self.maximum))
        return delay

    def reset(self) -> None:
        """Start again from the initial delay."""
        self._attempt = 0
