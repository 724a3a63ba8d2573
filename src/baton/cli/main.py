"""The ``baton`` command: wires command groups and maps errors to one line and an exit code."""

from __future__ import annotations

import contextlib
import signal
import sys
import traceback
from types import FrameType

import typer

from baton import __version__
from baton.cli import (
    audit_cmd,
    canary_cmds,
    deploy_cmds,
    drift_cmd,
    evaluate_cmds,
    exporters_cmds,
    history_cmd,
    log_cmd,
    metrics_cmd,
    monitor_bundle_cmds,
    registry_cmds,
    router_cmd,
    serve_cmd,
    store_cmds,
    ui_cmd,
)
from baton.cli.output import err_console, fail, safe
from baton.cli.owner_cmds import register_commands as register_owner_commands
from baton.cli.quickstart import quickstart
from baton.cli.schema_cmd import schema_app
from baton.errors import BadInput, BatonError

app = typer.Typer(
    name="baton",
    help="Carry a model from research to production, and keep it healthy there.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # `baton --install-completion`; completing pays no heavy import
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"baton {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version"
    ),
) -> None:
    from pydantic import ValidationError  # imported here: --version and --help stay fast

    from baton.cli.state import State
    from baton.config import Settings
    from baton.core.manifest import describe_validation_error

    try:
        settings = Settings()
    except ValidationError as exc:
        raise BadInput(
            f"settings from BATON_* variables: {describe_validation_error(exc)}"
        ) from None
    ctx.obj = State(settings)
    ctx.call_on_close(ctx.obj.close)


app.command()(registry_cmds.init)
app.command()(registry_cmds.register)
app.command()(registry_cmds.models)
app.command()(registry_cmds.show)
app.command()(log_cmd.log)
app.command()(history_cmd.history)
app.command()(store_cmds.verify)
app.command()(store_cmds.gc)
app.command()(quickstart)
app.command()(evaluate_cmds.evaluate)
app.command()(evaluate_cmds.report)
app.command()(metrics_cmd.metrics)
app.command()(serve_cmd.serve)
app.command()(router_cmd.router)
app.command()(router_cmd.servers)
app.command()(drift_cmd.drift)
app.command()(ui_cmd.ui)
app.add_typer(registry_cmds.alias_app, name="alias")
app.add_typer(schema_app, name="schema")
app.add_typer(exporters_cmds.exporters_app, name="exporters")
register_owner_commands(app)
app.add_typer(monitor_bundle_cmds.monitor_app, name="monitor")
app.add_typer(deploy_cmds.deploy_app, name="deploy")
app.add_typer(canary_cmds.canary_app, name="canary")
app.add_typer(audit_cmd.audit_app, name="audit")


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so every cleanup runs as it does for Ctrl-C."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends it at once
    raise Terminated


def run() -> None:
    """Entry point: BatonError, or a usage error (an unknown option, a value out of range),
    -> one red line and its exit code; bugs keep their traceback."""
    signal.signal(signal.SIGTERM, _terminate)  # `baton serve` sets its own graceful drain
    try:  # also under `python -m`: completion reads _BATON_COMPLETE
        code = app(prog_name="baton", standalone_mode=False)
    except BatonError as exc:
        sys.exit(fail(exc))
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted")
        sys.exit(130)
    except Terminated:
        err_console.print("terminated")
        sys.exit(143)
    except Exception as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `baton deploy` alone: its help
            sys.exit(_help(2))
        if is_usage_error(exc):
            sys.exit(fail(BadInput(usage_error(exc))))
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {safe(exc)} "
            "(this is a bug in baton; please report it with the traceback below)"
        )
        traceback.print_exc()
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)  # typer.Exit(N) comes back as N


def is_usage_error(exc: Exception) -> bool:
    """Click's ``ClickException`` (an unknown option, a value out of range), as click or
    typer's copy of it raises it, told by its documented interface."""
    return callable(getattr(exc, "format_message", None)) and isinstance(
        getattr(exc, "exit_code", None), int
    )


def usage_error(exc: Exception) -> str:
    """Click's error as one line, with where to read more (click would box it in five)."""
    message = str(exc.format_message())  # type: ignore[attr-defined]
    path = getattr(getattr(exc, "ctx", None), "command_path", None)
    return f"{message} (`{path} --help` lists what it takes)" if path else message


def _help(code: int) -> int:
    """The help of the command given alone (a group that needs a command), as typer
    renders it; ``code`` is what click exits with there."""
    with contextlib.suppress(SystemExit):
        app(prog_name="baton", args=[*sys.argv[1:], "--help"])
    return code


if __name__ == "__main__":
    run()
