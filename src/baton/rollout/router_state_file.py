"""The router's state file (``--state-file``): read (or first written) once at start,
replaced whole at each change before it applies, so a restarted router finds the table it
last applied.

Written as a new file renamed over the old one, flushed to disk first: a crash leaves the
old table or the new one, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from baton.errors import BadInput
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_state import Saved, saved_of, starting, state_document

_MOVE_IT = "move it away to start from the command line's weights"


def start(options: RouterOptions) -> Saved | None:
    """The saved table to start from (``load``); without one, the command line's table is
    written first, so a state file that cannot be written stops the router at its start
    rather than at its first weight change."""
    saved = load(options)
    if options.state_file is None or saved is not None:
        return saved
    try:
        save(options, starting(options, None))
    except OSError as exc:
        raise BadInput(
            f"cannot write the router's state file {options.state_file} ({exc.strerror}): "
            "give --state-file a path in a folder this user can write"
        ) from None
    return None


def load(options: RouterOptions) -> Saved | None:
    """The saved table to start from: None without a state file, when there is none yet,
    or when it was saved under another command line."""
    if options.state_file is None:
        return None
    path = Path(options.state_file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BadInput(f"cannot read the router's state file {path} ({exc.strerror})") from None
    try:
        return saved_of(options, orjson.loads(data))
    except orjson.JSONDecodeError:
        raise BadInput(f"the router's state file {path} is not JSON: {_MOVE_IT}") from None
    except BadInput as exc:
        raise BadInput(f"the router's state file {path}: {exc.message}; {_MOVE_IT}") from None


def save(options: RouterOptions, saved: Saved) -> None:
    """Replace the state file with ``saved`` (OSError when it cannot be written)."""
    assert options.state_file is not None
    path = Path(options.state_file)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with part.open("wb") as out:
            out.write(orjson.dumps(state_document(options, saved), option=orjson.OPT_INDENT_2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, path)
    except OSError:
        part.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself on disk
    finally:
        os.close(folder)
