"""``baton quickstart``: build the example hand-over, register it, say what to do next."""

from __future__ import annotations

from pathlib import Path

import typer

from baton.cli.output import console
from baton.cli.registry_cmds import _print_registered
from baton.cli.state import state


def quickstart(
    ctx: typer.Context,
    folder: Path | None = typer.Option(
        None,
        "--dir",
        help="where the example hand-over is built (default: BATON_HOME/examples/digits)",
    ),
) -> None:
    """Train the digits example if missing, register it, and show the next steps."""
    from baton.examples import digits  # onnx and scikit-learn are slow to import
    from baton.handover.register import register_handover

    s = state(ctx)
    folder = folder or s.settings.home / "examples" / digits.NAME
    if not (folder / "baton.yaml").exists():
        with console.status("training the digits classifier (scikit-learn's bundled data)..."):
            built = digits.build(folder)
        console.print(
            f"[green]built[/] example hand-over in {folder}: "
            f"accuracy {built.accuracy:.4f}, macro-F1 {built.macro_f1:.4f}"
        )
    else:
        console.print(f"using the example hand-over in {folder}")
    result = register_handover(s.store, folder, actor=s.settings.user, reason="baton quickstart")
    _print_registered(result)
    ref = result.version.ref
    console.print()
    console.print("[bold]next[/]")
    console.print(f"  baton show {ref}                       # manifest, signature, files")
    console.print(f"  baton alias set {digits.NAME}@production {result.version.number}")
    console.print("  baton models                                     # everything registered")
    console.print("  baton log                                        # who did what, when, why")
