"""``baton schema manifest``: the published JSON Schema of baton.yaml."""

from __future__ import annotations

import json
import sys

import typer

from baton.core.manifest import manifest_json_schema

schema_app = typer.Typer(help="Print published JSON Schemas.")


@schema_app.command("manifest")
def schema_manifest() -> None:
    """The JSON Schema of baton.yaml (for editors and CI validation)."""
    sys.stdout.write(json.dumps(manifest_json_schema(), indent=2) + "\n")
