"""Compose (``docker compose``, ``podman compose``): hosts that run containers without
Kubernetes. One service runs the image's ``baton serve``; ``--with-monitoring`` adds a
Prometheus scraping it and an Alertmanager beside it; ``--with-router`` puts a ``baton
router`` service in front of it (the same router ``baton deploy up`` runs on one machine),
published in its place, its admin token a Compose secret read from ``./router.token``.
With ``--canary V --percent P`` as well, a ``baseline`` (a copy of the stable version) and
a ``canary`` service sit beside it behind the router (``deploy/compose_canary.py``)."""

from __future__ import annotations

from baton.deploy.command import serve_command
from baton.deploy.compose_canary import (
    CANARY,
    baseline_service,
    canary_service,
    router_variants,
    scrape_variants,
)
from baton.deploy.spec import MODEL_PATH, PORT, ROUTER_STATE_DIR, RenderSpec
from baton.deploy.text import Document, audit_annotations, header, labels, yaml_documents

PROMETHEUS_IMAGE = "prom/prometheus:v2.53.2"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.27.0"
READY = f"http://127.0.0.1:{PORT}/v2/health/ready"
# exec form, no curl in a slim image: Python is there
PROBE = f"import urllib.request,sys; sys.exit(urllib.request.urlopen('{READY}').status != 200)"


# what every baton container runs with: read-only, unprivileged, restarted, drained on stop
HARDENED: Document = {
    "environment": {"BATON_HOME": "/tmp/baton"},
    "read_only": True,
    "tmpfs": ["/tmp"],
    "user": "10001:10001",
    "security_opt": ["no-new-privileges:true"],
    "cap_drop": ["ALL"],
    "restart": "unless-stopped",
    "stop_grace_period": "40s",
}


def _resources(spec: RenderSpec) -> Document:
    r = spec.resources
    amounts = {"cpus": f"{r.cores:g}", "memory": f"{r.memory_bytes // (1 << 20)}M"}
    reservations: Document = dict(amounts)
    if r.gpus:
        reservations["devices"] = [{"driver": "nvidia", "count": r.gpus, "capabilities": ["gpu"]}]
    return {"limits": dict(amounts), "reservations": reservations}


def _ports(spec: RenderSpec) -> list[str]:
    """Published on the host's loopback only: put a proxy in front to reach them further."""
    ports = [PORT] if spec.grpc_port is None else [PORT, spec.grpc_port]
    return [f"127.0.0.1:{p}:{p}" for p in ports]


def service(spec: RenderSpec) -> Document:
    body: Document = {
        "image": spec.image,
        "command": serve_command(spec).args(),  # the image's entrypoint is `baton`
        "ports": _ports(spec),
        **HARDENED,
        "healthcheck": {
            "test": ["CMD", "python", "-c", PROBE],
            "interval": "10s",
            "timeout": "3s",
            "retries": 3,
            "start_period": "120s",
        },
        "deploy": {"resources": _resources(spec)},
        "labels": {**labels(spec), **audit_annotations(spec)},
    }
    if spec.model_from == "volume":
        body["volumes"] = [{"type": "volume", "source": "models", "target": MODEL_PATH,
                            "read_only": True, "volume": {"subpath": spec.folder}}]  # fmt: skip
    return body


ROUTER_PROBE = PROBE  # the router answers /v2/health/ready on the same port
TOKEN_SECRET = "router_token"
ROUTER_STATE_VOLUME = "router-state"  # the applied weights, kept across restarts


def router_service(spec: RenderSpec) -> Document:
    """``baton router`` in front of the ``baton`` service: all traffic to it (stable) until
    weights are changed through ``PUT /router/weights`` with the token; with a canary, the
    baseline and canary services too, at the rendered share each."""
    variants, needs = router_variants(spec)
    return {
        "image": spec.image,
        "command": ["router", spec.model, *variants, "--host", "0.0.0.0", "--port", str(PORT),
                    "--admin-token-file", f"/run/secrets/{TOKEN_SECRET}", "--drain-timeout",
                    "30", "--state-file", f"{ROUTER_STATE_DIR}/state.json"],
        "ports": [f"127.0.0.1:{PORT}:{PORT}"],
        **HARDENED,
        "volumes": [f"{ROUTER_STATE_VOLUME}:{ROUTER_STATE_DIR}"],
        "secrets": [TOKEN_SECRET],
        "healthcheck": {"test": ["CMD", "python", "-c", ROUTER_PROBE], "interval": "10s",
                        "timeout": "3s", "retries": 3, "start_period": "30s"},
        "depends_on": {n: {"condition": "service_healthy"} for n in needs},
        "labels": {**labels(spec, track="router")},
    }  # fmt: skip


def _behind_router(body: Document, spec: RenderSpec) -> Document:
    """The version's service reached through the router only: its HTTP port is not
    published on the host (gRPC, when on, still is)."""
    out = {k: v for k, v in body.items() if k != "ports"}
    if spec.grpc_port is not None:
        out["ports"] = [f"127.0.0.1:{spec.grpc_port}:{spec.grpc_port}"]
    out["expose"] = [str(PORT)]
    return out


def _monitoring(services: dict[str, Document], volumes: dict[str, Document]) -> None:
    services["prometheus"] = {
        "image": PROMETHEUS_IMAGE,
        "command": ["--config.file=/etc/prometheus/prometheus.yml",
                    "--storage.tsdb.path=/prometheus"],
        "ports": ["127.0.0.1:9090:9090"],
        "volumes": ["./prometheus.yml:/etc/prometheus/prometheus.yml:ro", "prometheus:/prometheus"],
        "restart": "unless-stopped",
        "depends_on": {"baton": {"condition": "service_healthy"}},
    }  # fmt: skip
    services["alertmanager"] = {
        "image": ALERTMANAGER_IMAGE,
        "command": ["--config.file=/etc/alertmanager/alertmanager.yml"],
        "ports": ["127.0.0.1:9093:9093"],
        "volumes": ["./alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"],
        "restart": "unless-stopped",
    }
    volumes["prometheus"] = {}


def document(spec: RenderSpec) -> Document:
    services: dict[str, Document] = {"baton": service(spec)}
    volumes: dict[str, Document] = {}
    if spec.with_router:
        services["baton"] = _behind_router(services["baton"], spec)
        if spec.canary is not None:
            services["baseline"] = baseline_service(spec, services["baton"])
            services[CANARY] = canary_service(spec, service)
        services["router"] = router_service(spec)
        volumes[ROUTER_STATE_VOLUME] = {}
    if spec.model_from == "volume":
        volumes["models"] = {"external": True, "name": "baton-models"}
    if spec.with_monitoring:
        _monitoring(services, volumes)
    doc: Document = {"name": spec.name, "services": services}
    if volumes:
        doc["volumes"] = volumes
    if spec.with_router:
        doc["secrets"] = {TOKEN_SECRET: {"file": "./router.token"}}
    return doc


def _prometheus(spec: RenderSpec) -> Document:
    tags = {"model": spec.model, "version": str(spec.version)}
    targets: list[Document] = [{"targets": [f"baton:{PORT}"], "labels": tags}]
    if spec.with_router:  # the judge tells variants apart by this label
        targets = [{"targets": [f"baton:{PORT}"], "labels": {**tags, "variant": "stable"}},
                   *scrape_variants(spec),
                   {"targets": [f"router:{PORT}"], "labels": {"model": spec.model}}]  # fmt: skip
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
        "scrape_configs": [{"job_name": "baton", "metrics_path": "/metrics",
                            "static_configs": targets}],
    }  # fmt: skip


def _alertmanager() -> Document:
    return {"route": {"receiver": "default"}, "receivers": [{"name": "default"}]}


def render(spec: RenderSpec) -> dict[str, str]:
    files = {"compose/compose.yaml": yaml_documents(header(spec, "Compose file"), [document(spec)])}
    if spec.with_monitoring:
        files["compose/prometheus.yml"] = yaml_documents(
            header(spec, "Prometheus for the Compose file"), [_prometheus(spec)]
        )
        files["compose/alertmanager.yml"] = yaml_documents(
            header(spec, "Alertmanager for the Compose file (add your receivers)"),
            [_alertmanager()],
        )
    return files
