"""The live process around the trading core: driver loop, policy and config reload, HTTP, CLI, file sinks.

Everything here may do I/O, use asyncio, threads and the wall clock; the core under
`runtime/` may not, and never imports this package (tests/test_architecture.py).
"""
