"""Where the proofs' stored files are read and written.

Certificates (``certificates/*.smt2``) and stored runs (``runs/*.json``)
ship inside the package.  In a checkout (the package sits beside the
project's ``pyproject.toml``) they are read from and written to those folders,
and committed with the rules they were found for.  An installed package
(a wheel in ``site-packages``) is never written: a file that a run finds
again goes to the user's cache folder (``$XDG_CACHE_HOME/tcp-conform``, else
``~/.cache/tcp-conform``), under the package's version and the folder's
name, and is read from there first.  Whatever is read is re-checked against
the current rules before it is trusted, so a stale file in either place only
costs the time to find it again.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

__all__ = ["cache_root", "installed", "readable", "writable"]

_PACKAGE = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """The user's cache folder for this tool."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tcp-conform"


def installed() -> bool:
    """True when the package is an installed copy, not a checkout."""
    return not (_PACKAGE.parent / "pyproject.toml").is_file()


def _version() -> str:
    try:
        return metadata.version("tcp-conform")
    except metadata.PackageNotFoundError:
        return "unversioned"


def _cached(folder: Path, name: str) -> Path:
    return cache_root() / _version() / folder.name / name


def readable(folder: Path, name: str) -> Path:
    """The file ``name`` of the shipped ``folder`` as it should be read: the
    cache's copy when an installed package has one, else the shipped file
    (which may not exist)."""
    if installed():
        c = _cached(folder, name)
        if c.exists():
            return c
    return folder / name


def writable(folder: Path, name: str) -> Path:
    """Where a new version of ``name`` of the shipped ``folder`` is written
    (its parent folder made): the folder itself in a checkout, the cache for
    an installed package."""
    p = _cached(folder, name) if installed() else folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    return p
