"""Session fixtures: the lab (moto, S3-backed registry, story proxy) is started once and stopped by PID."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lab.published import Published  # noqa: E402
from lab.stories import Stories  # noqa: E402
from lab.world import Lab  # noqa: E402


@pytest.fixture(scope="session")
def lab():
    world = Lab()
    try:
        yield world
    finally:
        world.close()


@pytest.fixture(scope="session")
def stories(lab):
    return Stories(lab)


@pytest.fixture(scope="session")
def published(lab):
    """Both articles' stand-ins, proxies and clients: one set per session (test_published's docker steps,
    then test_published_containerd's rows, which pull what those pushed)."""
    return Published(lab)
