"""What one request costs in CPU, from how a server's CPU followed its traffic.

A least-squares line through (req/s, cores busy) per replica: its slope is the marginal CPU
seconds of a request, its intercept the idle cores (drift sketches, the interpreter).
Dividing total CPU by total requests instead would charge the idle cost to every request
and, at low traffic, make a replica look many times slower than it is.

A slope is only worth something when the traffic moved the CPU. The line is refused, with
the reason, when:

- there are too few paired samples (``min_points``);
- the traffic is too flat: its coefficient of variation is under ``min_variation``, so
  per-request and idle cost cannot be told apart;
- the slope is not clearly positive: its t statistic (slope over its standard error) is
  under ``min_t``. Near-idle traffic (a request a minute) moves the CPU by less than its
  own noise, and a line through noise has a slope of either sign and any size: read as
  seconds of CPU per request it would say one replica cannot serve anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_POINTS = 12
MIN_VARIATION = 0.1  # the traffic's standard deviation over its mean
MIN_T = 3.0  # a slope three standard errors above zero: ~0.1% by chance for pure noise
RESOLUTION = 1e-9  # relative: residuals below this are rounding, not a perfect fit


@dataclass(frozen=True)
class CostFit:
    """The fitted cost, or why there is none (``per_request`` None, ``reason`` says why)."""

    per_request: float | None  # CPU seconds one request adds
    idle: float | None  # cores busy with no traffic
    t: float | None  # the slope's t statistic
    reason: str  # why the line was refused; "" when fitted

    @property
    def fitted(self) -> bool:
        return self.per_request is not None


def _refused(reason: str, t: float | None = None) -> CostFit:
    return CostFit(None, None, t, reason)


def cpu_cost_per_request(
    rps: Sequence[float],
    cpu_cores: Sequence[float],
    min_points: int = MIN_POINTS,
    min_variation: float = MIN_VARIATION,
    min_t: float = MIN_T,
) -> CostFit:
    """CPU seconds one request costs and the idle cores, from paired per-replica samples."""
    pairs = [
        (x, y)
        for x, y in zip(rps, cpu_cores, strict=True)
        if math.isfinite(x) and math.isfinite(y) and x >= 0 and y >= 0
    ]
    n = len(pairs)
    if n < max(min_points, 3):
        return _refused(f"only {n} samples of traffic and CPU (needs {min_points})")
    mx = math.fsum(x for x, _ in pairs) / n
    my = math.fsum(y for _, y in pairs) / n
    sxx = math.fsum((x - mx) ** 2 for x, _ in pairs)
    variation = math.sqrt(sxx / n) / mx if mx > 0 else 0.0
    if variation < min_variation:
        return _refused(
            f"traffic too flat to tell per-request from idle CPU (it varies by "
            f"{variation:.0%}, needs {min_variation:.0%})"
        )
    slope = math.fsum((x - mx) * (y - my) for x, y in pairs) / sxx
    idle = my - slope * mx
    residual = math.fsum((y - idle - slope * x) ** 2 for x, y in pairs) / (n - 2)
    # no measurement is finer than float resolution: a perfectly flat CPU has no slope
    resolution = (RESOLUTION * max(abs(y) for _, y in pairs)) ** 2
    se = math.sqrt(max(residual, resolution) / sxx)
    t = slope / se if se > 0 else 0.0
    if not t >= min_t:
        return _refused(
            f"CPU does not follow the traffic (slope t = {t:.2g}, needs {min_t:g}): too "
            "little or too noisy traffic to measure what a request costs",
            t,
        )
    return CostFit(slope, max(0.0, idle), t, "")
