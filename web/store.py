"""Per-visitor objects in a bounded store: at most MAX_VISITORS, idle ones expire.

Each visitor of the page gets a random token and their own MovingAverage, RingBuffer and
Counter. The store never holds more than MAX_VISITORS of them: a new visitor past that
pushes out the one idle the longest, and any visitor idle for IDLE_SECONDS is dropped. With
the sizes capped by the API (a window of at most 1,000 floats, a ring of at most 64 short
items) the whole store stays within a few tens of MiB whatever the room does.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import rust_demo

MAX_VISITORS = 1_000
IDLE_SECONDS = 30 * 60


def _default_counter() -> object:
    # Counter is exercise 3's class: while that exercise is started it is missing.
    counter_class = getattr(rust_demo, "Counter", None)
    return counter_class() if counter_class is not None else None


@dataclass
class Visitor:
    """One visitor's objects, as demo.py creates them (window 3, capacity 3)."""

    moving_average: rust_demo.MovingAverage = field(
        default_factory=lambda: rust_demo.MovingAverage(3)
    )
    ring_buffer: rust_demo.RingBuffer = field(default_factory=lambda: rust_demo.RingBuffer(3))
    counter: object = field(default_factory=_default_counter)
    last_seen: float = field(default_factory=time.monotonic)


class VisitorStore:
    """Token -> Visitor, least recently seen first; every method is thread-safe."""

    def __init__(self, max_visitors: int = MAX_VISITORS, idle_seconds: float = IDLE_SECONDS):
        self.max_visitors = max_visitors
        self.idle_seconds = idle_seconds
        self._visitors: OrderedDict[str, Visitor] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0  # pushed out by newcomers while not yet idle long enough to expire

    def _expire(self, now: float) -> None:
        while self._visitors:
            token, oldest = next(iter(self._visitors.items()))
            if now - oldest.last_seen < self.idle_seconds:
                break
            del self._visitors[token]

    def create(self) -> str:
        """A new visitor's token; the visitor idle the longest goes if the store is full."""
        visitor = Visitor()
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._expire(visitor.last_seen)
            while len(self._visitors) >= self.max_visitors:
                self._visitors.popitem(last=False)
                self.evicted += 1
            self._visitors[token] = visitor
        return token

    def get(self, token: str) -> Visitor | None:
        """The visitor with this token (now the most recently seen), or None."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            visitor = self._visitors.get(token)
            if visitor is not None:
                visitor.last_seen = now
                self._visitors.move_to_end(token)
            return visitor

    def __len__(self) -> int:
        with self._lock:
            return len(self._visitors)
