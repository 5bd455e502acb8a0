"""Where a live run writes its traces: a directory, and never over a file already there."""

from __future__ import annotations

import os

__all__ = ["RunRefused", "prepare", "write_exclusive", "write_new"]


class RunRefused(Exception):
    """A run that cannot start as asked; nothing has run.  ``detail``: more to say (or "")."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


def prepare(out_dir: str | None, stems: list[str] = ()) -> dict[str, str]:
    """Make ``out_dir`` (if given) ready for ``STEM.jsonl`` of every stem; the path of each.
    Raises :class:`RunRefused` when it is not a directory, one of those files exists, or
    it cannot be made."""
    if out_dir is None:
        return {}
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise RunRefused(f"--out {out_dir!r} is not a directory")
    paths = {stem: os.path.join(out_dir, f"{stem}.jsonl") for stem in stems}
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing:
        raise RunRefused(f"refusing to overwrite {', '.join(existing)}")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise RunRefused(f"cannot create {out_dir!r}: {e.strerror or e}") from None
    return paths


def write_exclusive(path: str, text: str) -> None:
    """Write ``text`` to a new file ``path``; FileExistsError (an OSError) if it is there."""
    with open(path, "x", encoding="utf-8") as f:
        f.write(text)


def write_new(directory: str, stem: str, text: str) -> str | None:
    """Write ``text`` to ``directory/stem.jsonl``, or ``stem-2.jsonl``... : never over an
    existing file.  The path written, or None when nothing could be written."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    for k in range(1, 10_000):
        path = os.path.join(directory, f"{stem}.jsonl" if k == 1 else f"{stem}-{k}.jsonl")
        try:
            write_exclusive(path, text)
            return path
        except FileExistsError:
            continue
        except OSError:
            return None
    return None
