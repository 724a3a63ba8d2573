"""Where the local monitoring stack listens unless told otherwise.

One place for the bundle (Prometheus's ``alerting`` section), ``baton monitor up``, the
drill and their CLI defaults; this module imports nothing, so the CLI reads it cheaply.
"""

from __future__ import annotations

HOST = "127.0.0.1"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
ALERTMANAGER = f"{HOST}:{ALERTMANAGER_PORT}"  # host:port, as Prometheus names its targets
ALERTMANAGER_URL = f"http://{ALERTMANAGER}"
