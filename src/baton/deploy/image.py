"""The image build context: a Dockerfile on a slim Python base installing baton's wheel
and its locked dependencies, non-root, exec-form, health-checked, labelled (OCI).

pip installs in hash-checking mode (``--require-hashes``): every distribution, baton's
wheel included, must match a sha256 in ``requirements.lock`` (``deploy/wheel.py``), so the
image holds what was locked or the build fails."""

from __future__ import annotations

import json

from baton.deploy.command import serve_command
from baton.deploy.spec import MODEL_PATH, PORT, ROUTER_STATE_DIR, RenderSpec
from baton.deploy.text import comment, header

PYTHON = "3.11"  # the base image's Python: the lock's wheels are chosen for it
BASE_IMAGE = f"python:{PYTHON}-slim"
USER = "10001:10001"
READY = f"http://127.0.0.1:{PORT}/v2/health/ready"
PROBE = f"import urllib.request,sys; sys.exit(urllib.request.urlopen('{READY}').status != 200)"
IGNORE = "**/__pycache__\n**/*.pyc\n.git\n"
# copied to the image's user-owned folder that a Compose router's state volume starts from
STATE_README = (
    f"The Compose router keeps its applied weights in {ROUTER_STATE_DIR}/state.json (baton\n"
    "router --state-file), on a named volume. Docker fills a new volume with this folder,\n"
    "owned by the image's user, so the router (read-only root, not root) can write there.\n"
)


def _labels(spec: RenderSpec) -> list[str]:
    pairs = [
        ("org.opencontainers.image.title", f"baton serving {spec.ref}"),
        ("org.opencontainers.image.source", "modelbaton"),
        ("org.opencontainers.image.version", spec.baton_version),
        ("org.opencontainers.image.revision", spec.revision or "unknown"),
        ("dev.baton.model", spec.model),
        ("dev.baton.version", str(spec.version)),
        ("dev.baton.digest", f"sha256:{spec.digest}"),
        ("dev.baton.precision", spec.precision),
        ("dev.baton.owner", spec.owner),
    ]
    return [f"{k}={json.dumps(v)}" for k, v in pairs]


def dockerfile(spec: RenderSpec) -> str:
    where = "baked in under" if spec.model_from == "image" else "mounted at"
    lines = [
        *header(spec, "Image build context"),
        "Build: docker build -t IMAGE .  (or: buildah bud -t IMAGE .) in this folder.",
        f"The model folder is {where} {MODEL_PATH}.",
    ]
    labels = " \\\n      ".join(_labels(spec))
    parts = [
        comment(lines),
        f"ARG BASE_IMAGE={BASE_IMAGE}\n",
        "FROM ${BASE_IMAGE}\n",
        f"LABEL {labels}\n",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\\n"
        "    BATON_HOME=/tmp/baton\n",
        "WORKDIR /opt/baton\n",
        "COPY requirements.lock ./\n",
        "COPY wheels/ ./wheels/\n",
        "RUN pip install --no-cache-dir --require-hashes --only-binary=:all: \\\n"
        "    --find-links=./wheels -r requirements.lock \\\n"
        "    && rm -rf ./wheels\n",
        f"COPY --chown={USER} router-state/ {ROUTER_STATE_DIR}/\n",
    ]
    if spec.model_from == "image":
        parts.append(f"COPY model/ {MODEL_PATH}/\n")
    parts += [
        f"USER {USER}\n",
        f"EXPOSE {' '.join(str(p) for p in (PORT, spec.grpc_port) if p is not None)}\n",
        "HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \\\n"
        f"  CMD {json.dumps(['python', '-c', PROBE])}\n",
        'ENTRYPOINT ["baton"]\n',
        f"CMD {json.dumps(serve_command(spec).args())}\n",
    ]
    return "".join(parts)


def render(spec: RenderSpec, lock: str) -> dict[str, str]:
    """The context's text files (the wheel and the model folder are copied by the service)."""
    return {
        "image/Dockerfile": dockerfile(spec),
        "image/.dockerignore": IGNORE,
        "image/router-state/README": STATE_README,
        "image/requirements.lock": lock,
    }
