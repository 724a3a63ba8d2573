"""A CPU request that follows use, as KRR (Robusta's Kubernetes Resource Recommender) does.

A replica is paid for by its CPU *request*; what it can burst to is its *limit*. A replica
that uses 0.04 cores at p95 on a 4-core request pays for 3.96 idle cores. When the observed
p95, scaled to the recommended replica count and given the policy's headroom, is far below
the configuration's cores, the request comes from use and the configuration's cores stay as
the limit, so bursts still have them.
"""

from __future__ import annotations

import math

MIN_CORES = 0.01  # KRR's floor: 10 millicores
FAR_BELOW = 0.25  # a request from use under this share of the cores is "far below"


def round_up_cores(cores: float) -> float:
    """Up to the next 10 millicores (never below ``MIN_CORES``)."""
    return max(MIN_CORES, math.ceil(round(cores * 100, 6)) / 100)


def cpu_request_from_use(
    p95_cores: float,
    replicas_now: float,
    replicas_after: float,
    configured_cores: float,
    headroom: float,
    far_below: float = FAR_BELOW,
) -> float | None:
    """The request from use, or None when use is not far below ``configured_cores``.

    Fewer replicas after carry more load each, so the p95 per replica is scaled by
    ``replicas_now / replicas_after`` (never scaled down: more replicas keep it as it was).
    """
    if not (math.isfinite(p95_cores) and p95_cores >= 0 and configured_cores > 0):
        return None
    scale = max(1.0, replicas_now / replicas_after) if replicas_after > 0 else 1.0
    request = round_up_cores(p95_cores * scale * (1 + headroom))
    return request if request < far_below * configured_cores else None
