"""The ``baton`` script: ``baton --version`` answers before the CLI is imported.

Scripts and CI steps call ``baton --version`` to check what is installed; building the
command tree (typer, rich and every command's module) costs it 0.1-0.3 s for nothing.
Everything else goes to ``baton.cli.main``.
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] == ["--version"]:
        from baton import __version__

        print(f"baton {__version__}")
        return
    from baton.cli.main import run as main

    main()


if __name__ == "__main__":
    run()
