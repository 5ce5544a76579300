"""Test-wide settings.

Hypothesis runs derandomized by default so the suite is deterministic in CI (the same
examples every run); `pytest --hypothesis-profile=explore` searches with fresh random
examples and more of them, which is how new edge cases are found.
"""
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile("ci")
