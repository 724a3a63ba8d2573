"""Ray Serve: a config file (``serve deploy``/``serve run``) with one application whose
deployment serves the version through baton's own V2 codec and batcher
(``baton.deploy.ray_app``), autoscaled between the replica bounds."""

from __future__ import annotations

from baton.deploy.command import serve_command
from baton.deploy.spec import MODEL_PATH, PORT, RenderSpec
from baton.deploy.text import Document, header, yaml_documents

IMPORT_PATH = "baton.deploy.ray_app:app"
DEPLOYMENT = "BatonModel"  # ray_app's deployment, configured here by name


def config(spec: RenderSpec, model_path: str = MODEL_PATH) -> Document:
    r = spec.resources
    actor: dict[str, float] = {"num_cpus": r.cores}
    if r.gpus:
        actor["num_gpus"] = r.gpus
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": PORT},
        "applications": [{
            "name": spec.name,
            "route_prefix": "/",
            "import_path": IMPORT_PATH,
            "args": serve_command(spec, model_path).ray_args(),
            "deployments": [{
                "name": DEPLOYMENT,
                "max_ongoing_requests": 2 * spec.config.max_batch_size,
                "autoscaling_config": {
                    "min_replicas": r.min_replicas,
                    "initial_replicas": r.replicas,
                    "max_replicas": r.max_replicas,
                    "target_ongoing_requests": max(1, spec.config.max_batch_size // 2),
                },
                "ray_actor_options": actor,
            }],
        }],
    }  # fmt: skip


def render(spec: RenderSpec) -> dict[str, str]:
    text = yaml_documents(header(spec, "Ray Serve config"), [config(spec)])
    return {"ray/serve_config.yaml": text}
