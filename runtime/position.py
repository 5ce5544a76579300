"""Our position: the fills we booked, checked against the venue's snapshots.

Fills are the truth for PnL; the venue is the truth for the position. Reconciling the
two without inventing anything needs to know which fills a snapshot already includes,
so position events carry the venue's `seq` and a snapshot says up to which `seq` it is
complete (`as_of_seq`):

- A fill whose `trade_id` was booked before is a duplicate (a reconnect replaying
  recent trades) and changes nothing.
- A snapshot older than our latest fill is compared with our position minus the fills
  after it; one that includes fills we have not received yet waits (up to
  `grace_s`) for them to arrive, then is compared.
- A real mismatch is corrected to the venue's position, at the venue's entry price,
  without booking a fill or any PnL; it is counted and reported. A fill that arrives
  later but was already included in that snapshot is "covered": its order is updated,
  the position is not moved twice.
- Until this process has sent its first order, any position the venue reports is
  inherited (a restart): the first snapshot seeds it at the venue's entry price, so a
  restart does not mark an existing position at the first mid. After that, a snapshot
  ahead of our fills may be counting fills still on their way, and waits for them.
- Funding payments are cash: they go into realized PnL, booked once per `seq`.

Venues that give no sequence (`as_of_seq` None) are compared directly, snapshot against position.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from runtime.events import Fill, Funding, PositionSnapshot
from runtime.pnl import FifoPosition

# Fills remembered for de-duplication, and (with their seq) for comparing stale snapshots.
TRADE_ID_MEMORY = 100_000
SEQ_MEMORY = 10_000

FillOutcome = Literal["booked", "covered", "duplicate"]


@dataclass(frozen=True, slots=True)
class Correction:
    """The venue's position differed from ours beyond a lot; we now hold `to_units`."""

    ts: float
    from_units: float
    to_units: float
    venue_units: float
    as_of_seq: int | None
    reason: str      # "mismatch" or "seeded"


class PositionBook:
    """FIFO position from fills, de-duplicated, reconciled to venue snapshots."""

    def __init__(self, lot: float, grace_s: float = 2.0):
        self.fifo = FifoPosition()
        self._lot = lot
        self._grace_s = grace_s
        self._trade_ids: set[str] = set()
        self._trade_order: deque[str] = deque()
        self._recent: deque[tuple[int, int]] = deque()     # (seq, signed lots) of booked fills
        # Whether `_recent` is in seq order (every fill so far came after the one before it): then
        # the fills after a snapshot are at its end, and `_compare` reads only those.
        self._recent_ordered = True
        self._funding_seqs: set[int] = set()
        self.last_seq = 0
        self._covered_seq = 0            # fills with seq <= this are in the position by a correction
        self._pending: tuple[PositionSnapshot, float] | None = None   # (snapshot ahead of us, when it came)
        self._booked_any = False
        self._may_seed = True            # no order sent yet: a venue position can only be inherited
        self.corrections: list[Correction] = []            # taken by the Trader to report
        self.duplicates_total = 0
        self.covered_total = 0
        self.mismatches_total = 0
        self.stale_snapshots_total = 0

    @property
    def units(self) -> float:
        return self.fifo.units

    def orders_sent(self) -> None:
        """This process sent an order: from now on a position can come from our own fills."""
        self._may_seed = False

    def _lots(self, units: float) -> int:
        return round(units / self._lot)

    def restore(self, lots: list[tuple[float, float]], realized_quote: float, trade_ids: list[str],
                funding_seqs: list[int]) -> None:
        """Start from what the fills ledger recorded (a restart), before any venue event.

        The position then counts as booked by our fills, so the venue's first snapshot is
        compared with it (a real mismatch is corrected as any other) rather than seeding over
        it; the trade ids make a venue replaying those fills a duplicate.
        """
        self.fifo.restore(lots, realized_quote)
        for trade_id in trade_ids[-TRADE_ID_MEMORY:]:
            if trade_id not in self._trade_ids:
                self._trade_ids.add(trade_id)
                self._trade_order.append(trade_id)
        self._funding_seqs.update(funding_seqs)
        self._booked_any = bool(lots) or bool(trade_ids)

    # -- fills and funding ------------------------------------------------------------------------
    def fill(self, fill: Fill, now: float) -> tuple[FillOutcome, float]:
        """Book `fill`; returns what happened to it and the PnL it realized."""
        trade_id = fill.trade_id
        if trade_id:
            if trade_id in self._trade_ids:
                self.duplicates_total += 1
                return "duplicate", 0.0
            self._trade_ids.add(trade_id)
            self._trade_order.append(trade_id)
            if len(self._trade_order) > TRADE_ID_MEMORY:
                self._trade_ids.discard(self._trade_order.popleft())
        seq = fill.seq
        if seq and seq <= self._covered_seq:
            self.covered_total += 1
            return "covered", 0.0
        realized = self.fifo.apply(fill.side, fill.price, fill.size, fill.fee)
        self._booked_any = True
        if seq:
            if seq > self.last_seq:
                self.last_seq = seq
            lots = round(fill.size / self._lot)
            recent = self._recent
            if recent and seq < recent[-1][0]:
                self._recent_ordered = False     # for good: `_compare` then reads every fill it remembers
            recent.append((seq, lots if fill.side == "buy" else -lots))
            if len(recent) > SEQ_MEMORY:
                recent.popleft()
            if self._pending is not None and self.last_seq >= self._pending[0].as_of_seq:
                self._compare(self._pending[0], fill.price)
        return "booked", realized

    def funding(self, event: Funding) -> bool:
        """Book a funding payment once; False if this `seq` was booked already."""
        if event.seq:
            if event.seq in self._funding_seqs:
                return False
            self._funding_seqs.add(event.seq)
        self.fifo.add_realized(event.amount)
        return True

    # -- snapshots --------------------------------------------------------------------------------
    def snapshot(self, snapshot: PositionSnapshot, now: float, mark: float) -> None:
        """Compare with the venue's position (see the module doc); corrections go to `corrections`."""
        if self._may_seed and not self._booked_any and self._lots(snapshot.units) != 0:
            self._correct(snapshot, snapshot.units, snapshot.entry_price or mark, "seeded")
            return
        if snapshot.as_of_seq is not None and snapshot.as_of_seq > self.last_seq:
            self._pending = (snapshot, now)    # it knows of fills still on their way to us
            return
        self._compare(snapshot, mark)

    def settle(self, now: float, mark: float) -> None:
        """A snapshot that waited `grace_s` for fills that never came is compared as it is."""
        if self._pending is not None and now - self._pending[1] >= self._grace_s:
            self._compare(self._pending[0], mark)

    def _compare(self, snapshot: PositionSnapshot, mark: float) -> None:
        self._pending = None
        later_lots = 0
        if snapshot.as_of_seq is not None:
            if len(self._recent) == SEQ_MEMORY and self._recent[0][0] > snapshot.as_of_seq + 1:
                # Older than every fill we remember: we cannot tell what it includes.
                self.stale_snapshots_total += 1
                return
            as_of = snapshot.as_of_seq
            if self._recent_ordered:
                # The fills after the snapshot, newest first, up to the first it includes: not a scan
                # of up to SEQ_MEMORY fills on every snapshot (the same integer sum).
                for seq, lots in reversed(self._recent):
                    if seq <= as_of:
                        break
                    later_lots += lots
            else:
                later_lots = sum(lots for seq, lots in self._recent if seq > as_of)
        ours_lots = self._lots(self.fifo.units)
        venue_lots = self._lots(snapshot.units)
        if ours_lots - later_lots == venue_lots:
            return
        self.mismatches_total += 1
        target = (venue_lots + later_lots) * self._lot
        price = snapshot.entry_price if snapshot.entry_price > 0 and later_lots == 0 else \
            (self.fifo.avg_entry if self.fifo.avg_entry > 0 and self.fifo.units * target > 0 else mark)
        self._correct(snapshot, target, price, "mismatch")

    def _correct(self, snapshot: PositionSnapshot, target_units: float, price: float, reason: str) -> None:
        before = self.fifo.units
        self.fifo.reset(target_units, price)
        as_of = snapshot.as_of_seq
        if as_of is not None and as_of > self._covered_seq:
            self._covered_seq = as_of
            if as_of > self.last_seq:
                self.last_seq = as_of
        self._booked_any = True
        self.corrections.append(Correction(snapshot.ts, before, self.fifo.units, snapshot.units, snapshot.as_of_seq,
                                           reason))
