"""The one JSON envelope every ``conform`` subcommand prints under ``--json``.

Every object printed has ``command`` (the subcommand, e.g. ``"check"`` or
``"run --list"``), ``conform`` (the tool's version) and exactly one of:

* ``verdict`` -- one check's word on one trace (``check``, one object per
  trace, a line each; ``trace``), with ``line``, ``reason``, ``allowed``,
  ``events`` and ``event`` (the trace line at ``line`` as an object, or null);
* ``results`` -- a list, one entry per scenario, property, witness, mutant,
  file or place (``run``, ``prove``, ``mutants``, ``diagram``, ``run --list``,
  ``run --where``);
* ``error`` -- why the command could not do what was asked: an object with
  ``message`` (exit status 2).

A value that is not known is null, never a placeholder string.  The JSON
Schema (``envelope.schema.json``, beside this module) is the contract;
docs/json.md describes it for readers.  Pure functions: the CLI prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("envelope.schema.json")


def version() -> str:
    """The installed tool's version (``unknown`` when run from an uninstalled copy)."""
    from importlib import metadata
    try:
        return metadata.version("tcp-conform")
    except metadata.PackageNotFoundError:
        return "unknown"


def envelope(command: str, **body: Any) -> dict[str, Any]:
    """The envelope of one subcommand's answer: ``command``, ``conform``, then ``body``."""
    return {"command": command, "conform": version(), **body}


def error(command: str, message: str, **where: Any) -> dict[str, Any]:
    """The envelope of an error: ``{"command", "conform", "error": {"message", ...}}``."""
    return envelope(command, error={"message": message, **where})


def verdict(command: str, kind: str, line: int | None, reason: str, allowed: list[str],
            events: int | None, event: dict | None, **more: Any) -> dict[str, Any]:
    """The envelope of one verdict on one trace."""
    return envelope(command, verdict=kind, line=line, reason=reason, allowed=allowed, events=events,
                    event=event, **more)


def event_object(text: str | None) -> dict | None:
    """A trace line's text as the object it holds (null when there is no line,
    or it is not a JSON object: the ``reason`` then says what was wrong)."""
    if not text:
        return None
    import orjson   # as strict as the trace reader: no NaN, no lone surrogates
    try:
        obj = orjson.loads(text)
        json.dumps(obj)   # and printable again: a line nested too deep for that is refused by the reader
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def schema() -> dict:
    """The envelope's JSON Schema."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
