"""The joins the audit once asked Prometheus for, done on the answers' arrays instead.

Process and GPU metrics carry no model label: a replica's figures belong to the models
that its ``baton_model_info`` names on the same ``instance``. Prometheus 2.42 evaluates a
range query step by step, so ``info * on (instance) group_left () cpu`` over 1,345 steps
cost it a hash of every series at every step, and evaluating the info side again in each
of four queries (and once more for the replica count, and again for the "0 req/s while
up" fallback of the request rate) was about half of its work for 1,000 deployments. Here
the info lines are read once (the ``info`` query) and the joins are elementwise on the
statistics grid, with the semantics PromQL gives them, so the answers ``audit.observe``
reads are the ones the server-side joins gave, point for point and in the same order:

- ``replicas``: ``count by (model, version) (info)``, at each step the info lines present;
- ``rps``: ``requests or (0 * replicas)``, a deployment's rate where one was counted, and 0
  where a replica was up and none was;
- ``cpu``, ``memory``, ``gpu``, ``gpu_memory``: ``info * on (instance) group_left ()
  per_instance``, one line per info line, at the steps where both have a point.

A point is present when Prometheus returned it (a NaN it returned is present, as in
PromQL); absent points are left out of the answers, as Prometheus leaves them out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from baton.audit.prometheus import FloatArray, Labels, RangeResult

BoolArray = npt.NDArray[np.bool_]
JOINED = ("cpu", "memory", "gpu", "gpu_memory")  # per-instance answers joined to the info
DEPLOYMENT_KEYS = ("model", "version")
INFO_KEYS = ("model", "version", "instance")
_Line = tuple[Labels, BoolArray, FloatArray]  # a series on the grid: presence, values


class _OnGrid:
    """Series placed on the statistics grid: which points are present, and their values."""

    def __init__(self, grid: FloatArray) -> None:
        self.grid = grid
        self.step = float(grid[1] - grid[0]) if grid.size > 1 else 1.0

    def place(self, ts: FloatArray, vs: FloatArray) -> tuple[BoolArray, FloatArray]:
        present = np.zeros(self.grid.shape, dtype=np.bool_)
        values = np.full(self.grid.shape, np.nan)
        if self.grid.size == 0:
            return present, values
        index = np.rint((ts - self.grid[0]) / self.step).astype(np.int64)
        ok = (index >= 0) & (index < self.grid.size)
        present[index[ok]] = True
        values[index[ok]] = vs[ok]
        return present, values

    def points(self, labels: Labels, present: BoolArray, values: FloatArray) -> RangeResult:
        """One series as Prometheus returns it: its present points only; none if empty."""
        if not present.any():
            return []
        return [(labels, self.grid[present], values[present])]


def join_answers(ranged: dict[str, RangeResult], grid: FloatArray) -> dict[str, RangeResult]:
    """The range answers as ``audit.observe`` reads them: replicas counted, the request
    rate's zeros added, per-instance figures joined to the models on each instance."""
    on = _OnGrid(grid)
    info = _max_by(on, ranged.get("info", []), INFO_KEYS)
    out = {name: rows for name, rows in ranged.items() if name not in ("info", *JOINED)}
    out["replicas"] = _replicas(on, info)
    out["rps"] = _served(on, ranged.get("rps", []), out["replicas"])
    for name in JOINED:
        if name in ranged:
            out[name] = _joined(on, info, _max_by(on, ranged[name], ("instance",)))
    return out


def _grouped(labels: Labels, keys: tuple[str, ...]) -> Labels:
    """The labels an aggregation ``by (keys)`` keeps: those keys the series has."""
    return {k: labels[k] for k in keys if labels.get(k)}


def _max_by(on: _OnGrid, rows: RangeResult, keys: tuple[str, ...]) -> list[_Line]:
    """``max by (keys)``: one line per group, the largest value present at each step (a NaN
    only where every present value is NaN, as PromQL's max), sorted as Prometheus sorts.

    Two jobs scraping one server give two series of one replica: this keeps one. Done here
    because Prometheus builds every group's labels again at every step of a range query.
    """
    groups: dict[tuple[tuple[str, str], ...], tuple[Labels, BoolArray, FloatArray]] = {}
    for labels, ts, vs in rows:
        kept = _grouped(labels, keys)
        present, values = on.place(ts, vs)
        key = tuple(sorted(kept.items()))
        if key in groups:
            _, was_present, was = groups[key]
            groups[key] = (kept, was_present | present, np.fmax(was, values))
        else:
            groups[key] = (kept, present, values)
    return [groups[key] for key in sorted(groups)]


def _key(labels: Labels) -> tuple[str, str]:
    return (labels.get("model", ""), labels.get("version", ""))


def _replicas(on: _OnGrid, info: list[_Line]) -> RangeResult:
    """``count by (model, version) (info)``: the info lines present at each step."""
    counts: dict[tuple[str, str], npt.NDArray[np.int64]] = {}
    for labels, present, _ in info:
        key = _key(labels)
        if key not in counts:
            counts[key] = np.zeros(on.grid.shape, dtype=np.int64)
        counts[key] += present
    out: RangeResult = []
    for (model, version), count in sorted(counts.items()):
        labels = _grouped({"model": model, "version": version}, DEPLOYMENT_KEYS)
        out += on.points(labels, count > 0, count.astype(np.float64))
    return out


def _served(on: _OnGrid, rps: RangeResult, replicas: RangeResult) -> RangeResult:
    """``rps or (0 * replicas)``: the rate where one was computed, else 0 while a replica
    is up (a server that never counted a request served 0 req/s, not "no data")."""
    up = {_key(labels): on.place(ts, vs)[0] for labels, ts, vs in replicas}
    lines = {_key(labels): (labels, *on.place(ts, vs)) for labels, ts, vs in rps}
    out: RangeResult = []
    for key in sorted(lines.keys() | up.keys()):
        labels, present, values = lines.get(key) or (
            _grouped({"model": key[0], "version": key[1]}, DEPLOYMENT_KEYS),
            np.zeros(on.grid.shape, dtype=np.bool_),
            np.full(on.grid.shape, np.nan),
        )
        zero = up.get(key, np.zeros(on.grid.shape, dtype=np.bool_)) & ~present
        values = np.where(zero, 0.0, values)
        out += on.points(labels, present | zero, values)
    return out


def _joined(on: _OnGrid, info: list[_Line], per_instance: list[_Line]) -> RangeResult:
    """``info * on (instance) group_left () per_instance``: each info line (a model on a
    replica) times its instance's line, where both have a point; the info line's labels."""
    by_instance = {labels.get("instance", ""): (p, v) for labels, p, v in per_instance}
    out: RangeResult = []
    for labels, present, values in info:
        match = by_instance.get(labels.get("instance", ""))
        if match is not None:
            out += on.points(labels, present & match[0], values * match[1])
    return out
