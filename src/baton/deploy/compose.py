"""Compose (``docker compose``, ``podman compose``): hosts that run containers without
Kubernetes. One service runs the image's ``baton serve``; ``--with-monitoring`` adds a
Prometheus scraping it and an Alertmanager beside it."""

from __future__ import annotations

from baton.deploy.command import serve_command
from baton.deploy.spec import MODEL_PATH, PORT, RenderSpec
from baton.deploy.text import Document, audit_annotations, header, labels, yaml_documents

PROMETHEUS_IMAGE = "prom/prometheus:v2.53.2"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.27.0"
READY = f"http://127.0.0.1:{PORT}/v2/health/ready"
# exec form, no curl in a slim image: Python is there
PROBE = f"import urllib.request,sys; sys.exit(urllib.request.urlopen('{READY}').status != 200)"


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
        "environment": {"BATON_HOME": "/tmp/baton"},
        "read_only": True,
        "tmpfs": ["/tmp"],
        "user": "10001:10001",
        "security_opt": ["no-new-privileges:true"],
        "cap_drop": ["ALL"],
        "restart": "unless-stopped",
        "stop_grace_period": "40s",
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
    if spec.model_from == "volume":
        volumes["models"] = {"external": True, "name": "baton-models"}
    if spec.with_monitoring:
        _monitoring(services, volumes)
    doc: Document = {"name": spec.name, "services": services}
    if volumes:
        doc["volumes"] = volumes
    return doc


def _prometheus(spec: RenderSpec) -> Document:
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}]}]},
        "scrape_configs": [{
            "job_name": "baton",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"baton:{PORT}"],
                                "labels": {"model": spec.model, "version": str(spec.version)}}],
        }],
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
