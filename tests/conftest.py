import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    env = os.environ.get("TCP_SHARED")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared", ROOT / "shared"]:
        if (cand / "trace-format.md").exists():
            return cand
    return None


@pytest.fixture
def shared() -> Path:
    d = shared_dir()
    if d is None:
        pytest.skip("../shared (the trace examples) is not beside this checkout")
    return d


def pytest_configure(config):
    """tracefs for the tests that watch the kernel's tracepoint: mounted in a
    mount namespace of the test process's own when the machine has none
    mounted (as root; nothing changes outside this process and its children)."""
    from tcpconform.live.tracepoint import mount_private
    mount_private()
