"""``baton serve``: serve registered models over the Open Inference Protocol."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from baton.cli.output import console, print_json, safe
from baton.cli.state import state
from baton.errors import BadInput

if TYPE_CHECKING:  # imported by the command itself: `baton --help` stays fast
    from pydantic import SecretStr

    from baton.serve.options import ServingPlan
    from baton.store.registry import VersionInfo

PRECISION = typer.Option(
    None,
    help="fp32: the registered model; int8: the evaluation's int8 copy (its outputs differ "
    "a little); recommended: what the evaluation recommends (default: the registered model)",
)
THREADS = typer.Option(
    None,
    help="ONNX Runtime threads per model call (default: the evaluation's recommendation, else 1)",
)
POLL_INTERVAL = typer.Option(
    1.0,
    help="seconds between checks for alias moves (hot swap) and new evaluations' drift "
    "references (0: never)",
)


REFS_OPTION = typer.Argument(
    None,
    help="models to serve: NAME (its @production, else newest), NAME@ALIAS or NAME:N",
    show_default=False,
)

MODEL_DIR_OPTION = typer.Option(
    None,
    "--model-dir",
    help="serve the one version in this model folder (`baton deploy render` writes one), "
    "checked against its MANIFEST.json, with no registry or database",
    show_default=False,
)

GRPC_PORT_OPTION = typer.Option(
    None, help="also serve V2 over gRPC (inference.GRPCInferenceService) on this port"
)

WORKERS_OPTION = typer.Option(
    "1",
    help="processes sharing the port: a number, or auto (one per core the CPU affinity "
    "and the cgroup CPU limit allow)",
)

MAX_BATCH_SIZE_OPTION = typer.Option(
    None, help="rows per model call (default: the evaluation's recommendation, else 32)"
)

MAX_QUEUE_DELAY_MS_OPTION = typer.Option(
    None,
    help="under load, hold a batch open this long for more rows "
    "(default: the evaluation's recommendation, else 0)",
)

ALLOW_NONFINITE_OPTION = typer.Option(
    False, "--allow-nonfinite", help="accept NaN and Infinity in float inputs"
)

MAX_CONNECTIONS_OPTION = typer.Option(
    1024, help="open connections; beyond, the longest-waiting idle or slow one is closed"
)

HEADER_TIMEOUT_OPTION = typer.Option(
    10.0, help="seconds a client has to send a request's headers (408 beyond)"
)

BODY_TIMEOUT_OPTION = typer.Option(
    30.0, help="longest pause, in seconds, while a request body arrives"
)

BODY_BUDGET_MB_OPTION = typer.Option(
    None,
    help="MiB of request bodies held at once, all connections together "
    "(503 + Retry-After beyond; default: 4 x --max-body-mb)",
)

ADMIN_TOKEN_OPTION = typer.Option(
    None,
    help="token for POST /v2/repository/models/NAME/load and /unload (off without "
    "one); BATON_SERVE_ADMIN_TOKEN keeps it out of the process list",
    show_default=False,
)

OUTPUT_BINS_FROM_OPTION = typer.Option(
    None,
    help="NAME:N whose evaluation's output deciles bin the served outputs of NAME "
    "(baton_output_bin_total): a canary and its baseline started with the same one are "
    "compared bin for bin (default: each version's own evaluation)",
    show_default=False,
)

JSON_OUT_OPTION = typer.Option(
    False, "--json", help="once serving, print one JSON line: address, models, plans"
)


HOST_OPTION = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0: all)")

PORT_OPTION = typer.Option(8000, help="TCP port")

MAX_QUEUE_OPTION = typer.Option(1024, help="queued requests per model before 429")

MAX_BODY_MB_OPTION = typer.Option(64.0, help="largest request body, MiB (413 beyond)")

DRAIN_TIMEOUT_OPTION = typer.Option(30.0, help="seconds in-flight requests get on SIGTERM")


def serve(
    ctx: typer.Context,
    refs: list[str] = REFS_OPTION,
    model_dir: Path | None = MODEL_DIR_OPTION,
    host: str = HOST_OPTION,
    port: int = PORT_OPTION,
    grpc_port: int | None = GRPC_PORT_OPTION,
    workers: str = WORKERS_OPTION,
    precision: str | None = PRECISION,
    max_batch_size: int | None = MAX_BATCH_SIZE_OPTION,
    max_queue_delay_ms: float | None = MAX_QUEUE_DELAY_MS_OPTION,
    threads: int | None = THREADS,
    max_queue: int = MAX_QUEUE_OPTION,
    max_body_mb: float = MAX_BODY_MB_OPTION,
    poll_interval: float = POLL_INTERVAL,
    drain_timeout: float = DRAIN_TIMEOUT_OPTION,
    allow_nonfinite: bool = ALLOW_NONFINITE_OPTION,
    max_connections: int = MAX_CONNECTIONS_OPTION,
    header_timeout: float = HEADER_TIMEOUT_OPTION,
    body_timeout: float = BODY_TIMEOUT_OPTION,
    body_budget_mb: float | None = BODY_BUDGET_MB_OPTION,
    admin_token: str | None = ADMIN_TOKEN_OPTION,
    output_bins_from: str | None = OUTPUT_BINS_FROM_OPTION,
    json_out: bool = JSON_OUT_OPTION,
) -> None:
    """Serve models over HTTP (KServe V2 / Open Inference Protocol; gRPC too with --grpc-port)
    until SIGTERM or Ctrl-C.

    Verifies every file, binds the port, loads, then says what runs and why each setting.
    """
    from baton.serve.options import MIB, ServeOptions, workers_from
    from baton.serve.server import check_refs
    from baton.serve.server import serve as run_server

    s = state(ctx)
    count, why = workers_from(workers)
    refs = _model_dir_refs(model_dir, refs or [])
    budget = None if body_budget_mb is None else int(body_budget_mb * MIB)
    options = ServeOptions(
        refs=tuple(refs), model_dir=None if model_dir is None else str(model_dir), host=host,
        port=port, grpc_port=grpc_port, workers=count, max_body_bytes=int(max_body_mb * MIB),
        max_queue=max_queue, poll_interval_s=poll_interval, drain_timeout_s=drain_timeout,
        allow_nonfinite=allow_nonfinite, max_batch_size=max_batch_size,
        max_queue_delay_ms=max_queue_delay_ms, threads=threads, precision=precision,
        max_connections=max_connections, header_timeout_s=header_timeout,
        body_timeout_s=body_timeout, body_budget_bytes=budget,
        admin_token=admin_token or _secret(s.settings.serve_admin_token),
        output_bins_from=output_bins_from,
    )  # fmt: skip
    planned = check_refs(s.settings, options)
    s.close()

    note = None if why is None else f"{count} worker{'s' * (count != 1)} (auto: {why})"
    announce = _announcer(host, refs, planned, json_out, grpc_port=grpc_port, workers=note)
    run_server(s.settings, options, announce=announce)


def _model_dir_refs(model_dir: Path | None, refs: list[str]) -> list[str]:
    """With ``--model-dir``, the one version the folder holds (references are refused)."""
    if model_dir is None:
        return refs
    if refs:
        raise BadInput("give models to serve or --model-dir, not both")
    from baton.serve.model_dir import open_model_dir

    return [open_model_dir(model_dir).ref]


def _announcer(
    host: str,
    refs: Sequence[str],
    planned: Sequence[tuple[VersionInfo, ServingPlan]],
    json_out: bool,
    *,
    grpc_port: int | None = None,
    workers: str | None = None,
) -> Callable[[int], None]:
    """What to say once the server serves on the port it bound: lines, or one JSON line."""
    grpc = None if grpc_port is None else f"{host}:{grpc_port}"

    def announce(bound: int) -> None:
        base = f"http://{host}:{bound}"
        if json_out:
            from baton.serve.ready import served_versions, serving_document

            document = serving_document(base, served_versions(base, refs, planned))
            if grpc is not None:
                document["grpc"] = grpc
            print_json(document, line=True)
        else:
            print_serving(base, refs, planned)
            if grpc is not None:
                console.print(f"gRPC (V2) at {grpc}", soft_wrap=True)
            if workers is not None:
                console.print(workers, soft_wrap=True)

    return announce


def print_serving(
    base: str, refs: Sequence[str], planned: Sequence[tuple[VersionInfo, ServingPlan]]
) -> None:
    """What the server runs, per model, once it does: address, precision, batching, threads."""
    for text, (info, plan) in zip(refs, planned, strict=True):
        console.print(
            f"serving [bold]{safe(info.ref)}[/] ({safe(text)}) at {safe(base)}/v2/models/"
            f"{safe(info.model)}",
            soft_wrap=True,
        )
        console.print(f"  {plan.describe()}", soft_wrap=True, markup=False)
        hint = plan.hint()
        if hint:
            console.print(f"  {hint}", soft_wrap=True, markup=False)
    console.print(f"metrics at {safe(base)}/metrics; stop with Ctrl-C or SIGTERM", soft_wrap=True)


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()
