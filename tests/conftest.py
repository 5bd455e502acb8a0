"""Fixtures and markers for the whole suite.

Markers (registered in pyproject.toml): ``live`` for tests that need root,
network namespaces and the real kernel stack — every test under
``tests/live`` gets it here, from its folder; a test elsewhere that records
on the kernel is marked by hand — and ``slow`` for tests of more than
about 5 s.  ``python -m pytest -m "not live"`` runs the pure tests alone;
``-m "not live and not slow"`` a fast subset.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
FOLDER_MARKS = {"live": "live"}   # folder under tests/ -> the marker every test in it gets


def shared_dir() -> Path | None:
    env = os.environ.get("TCP_SHARED")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared", ROOT / "shared"]:
        if (cand / "trace-format.md").exists():
            return cand
    return None


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> Path:
    """The trace format and its examples: ../shared when it is beside the
    checkout, else the repository's own copies (docs/trace-format.md and
    docs/examples, kept identical to it by tests/test_cli.py) laid out the same way."""
    d = shared_dir()
    if d is not None:
        return d
    own = tmp_path_factory.mktemp("shared")
    (own / "trace-format.md").symlink_to(ROOT / "docs" / "trace-format.md")
    (own / "trace-examples").symlink_to(ROOT / "docs" / "examples")
    return own


def pytest_configure(config):
    """tracefs for the tests that watch the kernel's tracepoint: mounted in a
    mount namespace of the test process's own when the machine has none
    mounted (as root; nothing changes outside this process and its children).
    The state graph the diagrams keep on disk goes to a folder of the run's
    own, removed at its end, not the user's cache."""
    import atexit
    import shutil
    import tempfile
    from tcpconform.live.tracepoint import mount_private
    mount_private()
    own = tempfile.mkdtemp(prefix="conform-tests-cache-")
    os.environ["XDG_CACHE_HOME"] = own
    atexit.register(shutil.rmtree, own, True)


def pytest_collection_modifyitems(config, items):
    """Mark each test with its folder's marker (:data:`FOLDER_MARKS`)."""
    for item in items:
        try:
            folder = Path(item.fspath).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if folder in FOLDER_MARKS:
            item.add_marker(FOLDER_MARKS[folder])
