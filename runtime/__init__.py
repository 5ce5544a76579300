"""The trading runtime: config, feature store, tick loop, maker, hedger, risk gate.

Nothing in this package imports `adapters`; venues are plugged in through `runtime.ports`.
"""
