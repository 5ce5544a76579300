"""How long our requests take to reach the venue: a named model (hftbacktest's `LatencyModel`).

`entry_s` is the time from our submit to the matching engine acting on a place or a modify;
`cancel_s` the same for a cancel. During those seconds the recorded market keeps moving, so a
quote can be crossed before it lands (post-only cancel) and a cancel can arrive after the fill.
The response leg is zero: what the venue does is reported at the time it does it (a stated
simplification: acknowledgements and fills reach the core without delay).
"""
from __future__ import annotations

from dataclasses import dataclass

from runtime.intents import CancelAll, CancelOrder, Intent


@dataclass(frozen=True)
class ConstantLatency:
    entry_s: float
    cancel_s: float

    @property
    def name(self) -> str:
        return f"constant(entry {self.entry_s * 1000:g} ms, cancel {self.cancel_s * 1000:g} ms, response 0 ms)"

    def arrival(self, intent: Intent, now: float) -> float:
        if isinstance(intent, (CancelOrder, CancelAll)):
            return now + self.cancel_s
        return now + self.entry_s
