"""The Ray Serve application ``ray/serve_config.yaml`` names (``baton.deploy.ray_app:app``).

Each replica runs ``baton serve --model-dir``'s ASGI app (``serve/app.py``) behind Ray's
HTTP proxy: the same model folder check, V2 codec, batcher, metrics and drift, with Ray
doing the routing and autoscaling the rendered ``autoscaling_config`` asks for. Needs the
``ray`` extra (``pip install 'modelbaton[ray]'``); importing this module imports Ray.

The folder is read on the replica, not where the application is built: on a cluster the
builder runs on any node, the replicas on those that mount ``model_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from ray.serve import Application
from ray.serve.deployment import Deployment

from baton.config import Settings
from baton.core.manifest import describe_validation_error
from baton.deploy.command import ServeCommand
from baton.deploy.ray import DEPLOYMENT
from baton.errors import BadInput
from baton.serve.app import ServeApp
from baton.serve.model_dir import open_model_dir


class RayArgs(BaseModel):
    """The application's ``args`` in the config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: str = Field(min_length=1, description="the model folder on every replica node")
    precision: Literal["fp32", "int8"] = Field(
        default="fp32", description="int8: the folder's int8 copy, as `--precision int8`"
    )

    def command(self) -> ServeCommand:
        return ServeCommand(model_dir=self.model_dir, precision=self.precision)


class Replica:
    """One replica: baton's V2 server over the model folder, started by Ray's lifespan."""

    def __init__(self, command: ServeCommand) -> None:
        self.command = command

    def __serve_build_asgi_app__(self) -> ServeApp:
        folder = open_model_dir(Path(self.command.model_dir))  # one line naming a bad folder
        options = self.command.options(folder.ref)
        # gc.freeze in a process Ray also runs its own machinery in: left to Ray's defaults
        return ServeApp(Settings(), options, tune_gc=False)


BatonModel: Deployment = serve.deployment(name=DEPLOYMENT)(serve.ingress()(Replica))


def app(args: dict[str, object]) -> Application:
    """The application builder ``serve run``/``serve deploy`` call with the config's args."""
    try:
        parsed = RayArgs.model_validate(args)
    except ValidationError as exc:
        raise BadInput(f"Ray Serve args: {describe_validation_error(exc)}") from None
    return BatonModel.bind(parsed.command())
