"""The live Lighter venue (`venue.kind: lighter`) and the fake Lighter server it is tested against.

Importing this package needs only the core dependencies (httpx, websockets, pydantic); the
signer (lighter-sdk) and the fake server (aiohttp) come with the `[lighter]` extra and are
imported where they are used, with a message naming the install command when missing.
"""
