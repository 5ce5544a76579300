"""The trading core: feature store, maker, hedger, risk gate, order tracker and one tick (`trader.py`).

Nothing in this package imports `adapters`; venues are plugged in through `runtime.ports`.
"""
