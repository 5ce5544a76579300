"""Test-wide settings.

Hypothesis runs derandomized by default so the suite is deterministic in CI (the same
examples every run); `pytest --hypothesis-profile=explore` searches with fresh random
examples and more of them, which is how new edge cases are found.
"""
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile("ci")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (2 CPUs) for the whole session, so its start-up (~5 s) is paid once.
    `replay --sweep --ray auto` joins it; it is shut down when the session ends."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]'")
    import logging
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()
