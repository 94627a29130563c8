"""A stream's CPU allowance for optional work on its samples (regions and the wider net,
classifiers): so many CPU milliseconds per second of the stream's own time, up to
`SAVED_SECONDS` of it saved up. Work that does not fit is not done for that sample and the
caller counts it; the sample is still matched on its whole frame."""

from __future__ import annotations

from dataclasses import dataclass

#: A stream saves up at most this many seconds of its allowance (one costly step, such as
#: reading a layout or running the classifiers, costs several seconds' worth).
SAVED_SECONDS = 10.0


@dataclass
class CpuBudget:
    """CPU seconds a stream may still spend (``credit``; None: full), accrued with its own
    stream time (a restarted clock accrues none)."""

    credit: float | None = None
    last_time: float | None = None

    def allowed(self, stream_time: float, ms_per_second: float) -> bool:
        """Whether work on a sample at ``stream_time`` fits (``ms_per_second`` 0: no limit)."""
        rate = ms_per_second / 1000.0
        if rate <= 0:
            return True
        most = rate * SAVED_SECONDS
        if self.credit is None:
            self.credit = most
        elif self.last_time is not None and stream_time > self.last_time:
            self.credit = min(most, self.credit + rate * (stream_time - self.last_time))
        self.last_time = stream_time
        return self.credit > 0

    def spend(self, seconds: float, ms_per_second: float) -> None:
        if ms_per_second > 0 and self.credit is not None:
            self.credit -= seconds
