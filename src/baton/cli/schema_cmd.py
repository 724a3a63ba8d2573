"""``baton schema manifest|fleet``: the published JSON Schemas of baton.yaml and fleet.yaml."""

from __future__ import annotations

import json
import sys

import typer

schema_app = typer.Typer(help="Print published JSON Schemas.")
# the output is JSON either way; taken so that every command accepts --json
JSON = typer.Option(False, "--json", help="the output is JSON already")


@schema_app.command("manifest")
def schema_manifest(json_out: bool = JSON) -> None:
    """The JSON Schema of baton.yaml (for editors and CI validation)."""
    from baton.core.manifest import manifest_json_schema

    sys.stdout.write(json.dumps(manifest_json_schema(), indent=2) + "\n")


@schema_app.command("fleet")
def schema_fleet(json_out: bool = JSON) -> None:
    """The JSON Schema of fleet.yaml: the servers baton did not start, for the right-size audit."""
    from baton.audit.fleet_file import fleet_json_schema

    sys.stdout.write(json.dumps(fleet_json_schema(), indent=2) + "\n")
