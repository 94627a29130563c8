"""Per-address limits on traffic that carries no valid credentials (the request guard's
bookkeeping). One instance per worker process; it lives on the event loop (no locks)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 100_000  # bookkeeping never grows without bound (a flood of spoofed sources)


class AddressLimits:
    """Two limits per client address, for unauthenticated or failed-auth traffic only:

    - ``concurrent``: bodies being read at once without credentials (the sign-in form);
    - ``per_minute``: attempts (sign-in posts, requests refused for a missing/wrong key)
      in the last minute.
    """

    def __init__(
        self,
        *,
        concurrent: int,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._concurrent = concurrent
        self._per_minute = per_minute
        self._clock = clock
        self._open: dict[str, int] = {}
        self._attempts: dict[str, deque[float]] = {}
        self.refused = 0  # requests answered 429 by these limits (a metric)

    def _recent(self, address: str) -> deque[float]:
        now = self._clock()
        found = self._attempts.get(address)
        if found is None:
            if len(self._attempts) >= MAX_ADDRESSES:
                self._attempts.clear()
            found = self._attempts[address] = deque()
        while found and now - found[0] > WINDOW_SECONDS:
            found.popleft()
        return found

    def over_rate(self, address: str) -> bool:
        """True when ``address`` used up its attempts of the last minute (counts a refusal)."""
        if len(self._recent(address)) >= self._per_minute:
            self.refused += 1
            return True
        return False

    def attempt(self, address: str) -> None:
        """One more unauthenticated attempt by ``address``."""
        recent = self._recent(address)
        recent.append(self._clock())
        if len(recent) > self._per_minute:
            recent.popleft()

    def enter(self, address: str) -> bool:
        """Start reading a body without credentials; False (and counted) when at the limit."""
        current = self._open.get(address, 0)
        if current >= self._concurrent:
            self.refused += 1
            return False
        if not current and len(self._open) >= MAX_ADDRESSES:
            self._open = {k: v for k, v in self._open.items() if v > 0}
        self._open[address] = current + 1
        return True

    def leave(self, address: str) -> None:
        current = self._open.get(address, 0) - 1
        if current > 0:
            self._open[address] = current
        else:
            self._open.pop(address, None)
