"""Keep every path a manifest names inside the hand-over folder.

A hand-over is a folder someone else wrote. A path in its ``baton.yaml`` that is absolute,
climbs out with ``..``, or leads out through a symbolic link (to a file or to a folder on
the way) would make ``baton register`` copy a file the author cannot read themselves, such
as ``/etc/shadow``, into the store. Links that stay inside the folder are fine.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from baton.errors import BadInput


def check_relative(value: str, field: str, source: str) -> None:
    """``value`` must be a relative path without ``..``: the rule on the text itself."""
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or value.startswith("~"):
        raise BadInput(
            f"{field} {value!r} in {source} is an absolute path: name a file inside the "
            "hand-over folder, relative to baton.yaml"
        )
    if ".." in posix.parts or ".." in windows.parts:
        raise BadInput(
            f"{field} {value!r} in {source} climbs out of the hand-over folder with '..': "
            "copy the file into the folder and name it relative to baton.yaml"
        )


def inside(folder: Path, value: str, field: str, source: str) -> Path:
    """The real path ``value`` names under ``folder``, refused if it leads outside it."""
    check_relative(value, field, source)
    root = folder.resolve()
    try:
        real = (root / value).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop (Python 3.11)
        raise BadInput(f"{field} {value!r} in {source} cannot be followed ({exc})") from None
    if not real.is_relative_to(root):
        raise BadInput(
            f"{field} {value!r} in {source} leads outside the hand-over folder through a "
            f"symbolic link (to {real}): copy the file into {root}"
        )
    return real
