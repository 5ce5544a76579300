"""`lighter-bot analyze`: when does the bot make or lose money? (the seed's SOL regime analysis)

The pieces, in the order the command uses them:

- `candles.py`   1-minute OHLCV bars from a kline CSV (or fetched from Lighter by the composition root);
- `inputs.py`    the fills ledger (live or a replay's `fills.jsonl`) and a replay's `rules.jsonl`;
- `features.py`  per-minute candle features: rolling realized volatility, momentum, and the guards'
                 own feature analogues (45 s-style trend, EWMA volatility);
- `slices.py`    PnL slices (5 minutes by default) joined with those features, guard engagements,
                 hedger taker fills and inventory excursions;
- `buckets.py`   PnL by volatility x trend with bootstrap confidence intervals, PnL against inventory;
- `suggest.py`   threshold changes whose guard condition would have covered the losing slices;
- `verify.py`    each suggestion replayed by `policy diff` on the same data;
- `plots.py`, `report.py`, `cli.py`  the PNGs, the markdown, the command.

Everything computational is a pure function of arrays (the notebook and the tests call them);
only `inputs.py`, `candles.py` (reading), `verify.py`, `plots.py` and `cli.py` touch files.
"""
