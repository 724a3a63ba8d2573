"""``baton quickstart``: build the example hand-over, register it, say what to do next."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from baton.cli.output import console, print_json, safe
from baton.cli.registry_cmds import _print_registered
from baton.cli.state import State, state

if TYPE_CHECKING:
    from baton.store.evaluations import EvaluationRecord


def quickstart(
    ctx: typer.Context,
    folder: Path | None = typer.Option(
        None,
        "--dir",
        help="where the example hand-over is built (default: BATON_HOME/examples/digits)",
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="end by serving the example (--no-serve: for scripts)"
    ),
    port: int = typer.Option(8000, help="port to serve the example on"),
    json_out: bool = typer.Option(
        False, "--json", help="print one JSON object (once serving, with --serve)"
    ),
) -> None:
    """Train the digits example if missing, register it, and show the next steps."""
    from baton.examples import digits  # onnx and scikit-learn are slow to import
    from baton.handover.register import register_handover

    s = state(ctx)
    # take the port first: a taken one fails now, not after the training and the gate
    sock = _bind_example(digits.NAME, port) if serve else None
    folder = folder or s.settings.home / "examples" / digits.NAME
    with _quiet(json_out):
        built = _build_example(folder)
        result = register_handover(
            s.store, folder, actor=s.settings.user, reason="baton quickstart"
        )
        _print_registered(result)
        record, html = _evaluate_example(s, result.version.model, result.version.number)
        steps = _next_steps(result.version.ref, result.version.number)
    said: dict[str, object] = {
        "handover": folder,
        "built": built,
        "registered": {"created": result.created, "version": result.version},
        "evaluation": {"id": record.id, "status": record.status, "passed": record.passed},
        "report": html,
        "next": steps,
    }
    if json_out and sock is None:
        print_json(said)
    if sock is not None:
        _serve_example(s, folder, digits.NAME, sock, said if json_out else None)


@contextmanager
def _quiet(on: bool) -> Iterator[None]:
    """Silence the people's output while a script gets JSON."""
    before = console.quiet
    console.quiet = before or on
    try:
        yield
    finally:
        console.quiet = before


def _build_example(folder: Path) -> dict[str, float] | None:
    """Train the example unless its hand-over is there; its scores when trained now."""
    from baton.examples import digits

    if (folder / "baton.yaml").exists():
        console.print(f"using the example hand-over in {safe(folder)}")
        return None
    with console.status("training the digits classifier (scikit-learn's bundled data)..."):
        built = digits.build(folder)
    console.print(
        f"[green]built[/] example hand-over in {safe(folder)}: "
        f"accuracy {built.accuracy:.4f}, macro-F1 {built.macro_f1:.4f}"
    )
    return {"accuracy": built.accuracy, "macro_f1": built.macro_f1}


def _next_steps(ref: str, number: int) -> list[str]:
    from baton.examples import digits

    steps = [
        (f"baton show {ref}", "manifest, signature, files"),
        (f"baton alias set {digits.NAME}@production {number}", ""),
        ("baton models", "everything registered"),
        ("baton log", "who did what, when, why"),
    ]
    console.print()
    console.print("[bold]next[/]")
    for command, what in steps:
        console.print(f"  {command:<48} # {what}" if what else f"  {command}", markup=False)
    return [command for command, _ in steps]


def _bind_example(name: str, port: int) -> socket.socket:
    from baton.serve.options import ServeOptions
    from baton.serve.server import bind

    return bind(ServeOptions(refs=(name,), port=port))


def _serve_example(
    s: State, folder: Path, name: str, sock: socket.socket, said: dict[str, object] | None
) -> None:
    """Serve the example and, once it serves, show a request to paste into another terminal
    (with ``said``: print it as one JSON line, with the serving document and the request)."""
    import numpy as np

    from baton.cli.serve_cmd import print_serving
    from baton.handover.bundle import read_handover
    from baton.serve.curl import curl_command
    from baton.serve.options import ServeOptions
    from baton.serve.ready import served_versions, serving_document
    from baton.serve.server import check_refs, serve

    handover = read_handover(folder)
    spec = handover.manifest.signature.inputs[0]
    shape = [1 if d == -1 else d for d in spec.shape[1:]]
    row = np.zeros(shape, dtype=spec.dtype.value)
    if handover.eval_path is not None and handover.eval_path.suffix == ".npz":
        with np.load(handover.eval_path) as data:
            row = data[spec.name][0]
    options = ServeOptions(refs=(name,), port=sock.getsockname()[1])
    planned = check_refs(s.settings, options)
    s.close()

    def announce(port: int) -> None:
        base = f"http://127.0.0.1:{port}"
        if said is not None:
            served = served_versions(base, [name], planned)
            curl = curl_command(base, name, spec, row)
            print_json({**said, "serving": serving_document(base, served), "curl": curl}, line=True)
            return
        console.print()
        print_serving(base, [name], planned)
        console.print("in another terminal:")
        console.print(curl_command(base, name, spec, row), soft_wrap=True, markup=False)

    serve(s.settings, options, announce=announce, sock=sock)


def _evaluate_example(s: State, name: str, number: int) -> tuple[EvaluationRecord, Path]:
    """Run the gate on the example (quick profile) unless it already ran, and write the
    HTML report next to the store so the first thing to open is there."""
    from baton.cli.evaluate_cmds import print_summary
    from baton.core.refs import Ref
    from baton.evaluate.policy_file import load_policy
    from baton.evaluate.report import render_html
    from baton.evaluate.service import evaluate

    record = s.store.evaluations.latest(name, number)
    if record is None:
        with console.status(f"evaluating {name}:{number} (quality, sanity, quick profile)..."):
            record = evaluate(
                s.store,
                Ref(name, number),
                actor=s.settings.user,
                mode="quick",
                policy=load_policy(s.settings.policy),
            )
    print_summary(record)
    html = s.settings.home / "reports" / f"{name}-{number}.html"
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_html(record), encoding="utf-8")
    console.print(f"report: {safe(html)}  (or `baton report {safe(name)}:{number}`)")
    return record, html
