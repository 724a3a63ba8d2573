"""The models a server holds, and hot swap: follow the server's decisions (alias moves,
load and unload) without dropping a request.

A swap loads the new version beside the old one, switches the route in one assignment on
the event loop, then drains the old version's queue and unloads it. A request looks its
model up and queues on it without yielding to the event loop in between, so every
request is served by exactly one version, old or new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from functools import partial

from baton.core.drift import Reference
from baton.core.refs import Ref, parse_ref
from baton.errors import BatonError, NotFound, Unavailable
from baton.serve.decision import Decision, ServeTarget
from baton.serve.drift import DriftMonitor, OutputWatch
from baton.serve.follow import Source, source_for
from baton.serve.loader import DriftSlot, LoadedModel, load_version
from baton.serve.metrics import ServingMetrics
from baton.serve.options import ServeOptions, serving_plan
from baton.serve.source import ModelSource
from baton.serve.stats import ModelStats
from baton.store.registry import VersionInfo
from baton.store.servers import ServedModel

log = logging.getLogger("baton.serve")
FLUSH_S = 0.5  # multiprocess mode: how often a worker's output counters reach the shared files


@dataclass
class Route:
    """One reference being served (``digits``, ``digits@staging``, ``digits:3``)."""

    ref: Ref
    model: LoadedModel


def served_model(route: Route) -> ServedModel:
    """A route as the store records it: version, alias followed, and how it runs."""
    model = route.model
    config = model.config
    return ServedModel(
        model.name,
        model.info.number,
        model.alias or None,
        max_batch_size=config.max_batch_size,
        threads=config.intra_op_threads,
        precision=config.precision,
    )


def alias_label(ref: Ref, info: VersionInfo) -> str:
    """The alias a route serves, for ``baton_model_info`` ('' when pinned to a number)."""
    if ref.alias is not None:
        return ref.alias
    if ref.version is not None:
        return ""
    return "production" if "production" in info.aliases else "latest"


class ModelRepository:
    """Routes from model names to loaded versions; loads, swaps and unloads them as the
    server's decisions say (serve/decider.py), and says what it serves after each."""

    def __init__(
        self,
        store: ModelSource,
        options: ServeOptions,
        metrics: ServingMetrics,
        source: Source | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.metrics = metrics
        self.source = source or source_for(store, options)
        self._routes: dict[str, list[Route]] = {}
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._decision = Decision(0, ())
        self._failed: dict[Ref, str] = {}  # targets that could not be loaded, and why
        self.ready = False
        self.swaps = 0

    # -- lookups (hot path: no awaits) ---------------------------------------------------

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        routes = self._routes.get(name)
        if not routes:
            served = ", ".join(sorted(self._routes)) or "none"
            raise NotFound(f"model {name!r} is not served here (served: {served})")
        if version is None:
            return routes[0].model
        for route in routes:
            if route.model.version == version:
                return route.model
        have = ", ".join(r.model.version for r in routes)
        raise NotFound(f"{name} version {version!r} is not served here (served versions: {have})")

    def versions(self, name: str) -> list[LoadedModel]:
        """Every version served under ``name`` (NotFound when none)."""
        self.get(name)
        return [route.model for route in self._routes[name]]

    def models(self) -> list[LoadedModel]:
        return [route.model for routes in self._routes.values() for route in routes]

    @property
    def polls(self) -> int:
        """Rounds of deciding finished (what a test can wait on)."""
        return self.source.rounds

    def served(self) -> list[ServedModel]:
        """What this process serves, as the store records a server."""
        return [served_model(route) for routes in self._routes.values() for route in routes]

    # -- following decisions -------------------------------------------------------------

    async def start(self) -> None:
        """Load what the first decision says, then follow the decisions that come."""
        await self._apply(await self.source.first(), strict=True)
        self.ready = True
        loop = asyncio.get_running_loop()
        self._watch = loop.create_task(self._follow(), name="decisions")
        if self.metrics.multiprocess_dir is not None:  # a scrape reaches one worker only
            self._flusher = loop.create_task(self._flush_outputs_every(FLUSH_S), name="outputs")

    async def load(self, name: str) -> list[LoadedModel]:
        """Repository extension ``load``: pick up alias moves and new evaluations' drift
        references now, or start serving ``name`` (the decider decides, for every worker)."""
        await self._apply(await self.source.ask("load", name))
        failed = [text for ref, text in self._failed.items() if ref.name == name]
        if failed:
            raise Unavailable(f"could not load {name}: {failed[0]}")
        return [r.model for r in self._routes.get(name, [])]

    async def unload(self, name: str) -> None:
        await self._apply(await self.source.ask("unload", name))

    async def close(self) -> None:
        """Stop following, then finish every queued request of every model (and count
        their outputs)."""
        for task in (self._watch, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for model in self.models():
            await model.batcher.close()
        self.flush_outputs()

    async def _flush_outputs_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await asyncio.to_thread(self.flush_outputs)

    def flush_outputs(self) -> None:
        """Bring every served version's output counters up to what it served."""
        for model in self.models():
            if model.slot.outputs is not None:
                model.slot.outputs.flush()

    async def _follow(self) -> None:
        """Apply each new decision; a version that failed to load is tried again."""
        while True:
            retry = time.monotonic() + max(1.0, self.options.poll_interval_s)
            decision = await self.source.next(
                self._decision.generation, retry if self._failed else None
            )
            try:
                await self._apply(decision or self._decision, again=decision is None)
            except Exception:  # never stop following: the next decision may do better
                log.exception("could not apply decision %s", self._decision.generation)
                await asyncio.sleep(1.0)

    async def _apply(
        self, decision: Decision, *, strict: bool = False, again: bool = False
    ) -> None:
        """Serve what ``decision`` says: load and switch what moved, retire what left."""
        retired: list[LoadedModel] = []
        async with self._lock:
            newest = self._decision.generation
            if decision.generation < newest or (decision.generation == newest and not again):
                return
            for target in decision.targets:
                try:
                    old = await self._reach(target)
                except Exception as exc:
                    if strict:
                        raise
                    self._failure(target, exc)
                else:
                    if self._failed.pop(target.ref, None) is not None:
                        log.warning("%s: loaded %s", target.ref, target.pinned)
                    if old is not None:
                        retired.append(old)
            retired += self._drop(decision)
            self._decision = decision
            served = self.served()
        self.source.applied(decision.generation, served)
        for model in retired:
            await self._retire(model)

    def _failure(self, target: ServeTarget, exc: Exception) -> None:
        text = exc.message if isinstance(exc, BatonError) else repr(exc)
        if self._failed.get(target.ref) != text:
            log.warning("%s: could not load %s: %s", target.ref, target.pinned, text)
        self._failed[target.ref] = text

    def _drop(self, decision: Decision) -> list[LoadedModel]:
        """Take away the routes the decision no longer names."""
        wanted = {target.ref for target in decision.targets}
        dropped = []
        for name, routes in list(self._routes.items()):
            dropped += [r.model for r in routes if r.ref not in wanted]
            routes[:] = [r for r in routes if r.ref in wanted]
            if not routes:
                del self._routes[name]
        self._failed = {ref: text for ref, text in self._failed.items() if ref in wanted}
        return dropped

    async def _reach(self, target: ServeTarget) -> LoadedModel | None:
        """Serve ``target``: load its version beside the one served, then switch; returns
        the version replaced. A new evaluation of the version served brings its drift
        reference."""
        routes = self._routes.get(target.ref.name, [])
        route = next((r for r in routes if r.ref == target.ref), None)
        if route is not None and route.model.info.number == target.version:
            slot = route.model.slot
            if not slot.read or slot.evaluation != target.evaluation:
                await asyncio.to_thread(self._read_reference, route.model.info, slot)
            return None
        info = await asyncio.to_thread(self.store.registry.resolve, target.pinned)
        loaded = await asyncio.to_thread(self._load, target.ref, info)
        loaded.batcher.start()
        self._routes.setdefault(target.ref.name, routes)
        old = route.model if route is not None else None
        if route is None:
            routes.append(Route(target.ref, loaded))
        else:
            route.model = loaded  # the switch: one assignment, on the event loop
        self.metrics.served(loaded.name, loaded.version, loaded.alias, loaded.info.owner)
        if old is not None:
            self.swaps += 1
            log.warning("%s now serves %s (was %s)", target.ref, loaded.info.ref, old.info.ref)
        return old

    def _load(self, ref: Ref, info: VersionInfo) -> LoadedModel:
        plan = serving_plan(self.store, info, self.options)
        series = self.metrics.for_model(info.model, str(info.number))
        stats = ModelStats()

        def on_batch(rows: int, compute_s: float) -> None:
            series.batch_size.observe(rows)
            series.compute_duration.observe(compute_s)
            stats.batch(rows, compute_s)

        slot = DriftSlot(outputs=self._output_watch(info))
        self._read_reference(info, slot)
        return load_version(
            self.store,
            info,
            plan,
            alias=alias_label(ref, info),
            series=series,
            max_queue=self.options.max_queue,
            on_batch=on_batch,
            drift=slot,
            stats=stats,
        )

    def _read_reference(self, info: VersionInfo, slot: DriftSlot) -> None:
        """Fill ``slot`` from the latest evaluation's reference unless it already holds that
        evaluation's; the lack of one is said once, a new one is said when it arrives."""
        evaluation = self.store.evaluations.latest(info.model, info.number)
        number = evaluation.id if evaluation is not None else None
        if slot.read and number == slot.evaluation:
            return
        first, slot.read, slot.evaluation = not slot.read, True, number
        inputs, outputs = evaluation.report.drift_references() if evaluation else (None, None)
        self._bin_outputs(info, slot, outputs)
        if inputs is None and outputs is None:
            if first:
                log.warning("%s: no drift reference (run `baton evaluate %s`)", info.ref, info.ref)
            return  # an evaluation without a reference keeps the one in use
        slot.monitor = DriftMonitor(
            info.manifest.signature,
            inputs,
            outputs,
            name=info.ref,
            on_error=self.metrics.drift_errors.labels(info.model, str(info.number)).inc,
        )
        if not first:
            log.warning("%s: drift reference from evaluation %s", info.ref, number)

    def _output_watch(self, info: VersionInfo) -> OutputWatch:
        model, version = info.model, str(info.number)
        return OutputWatch(
            [s.name for s in info.manifest.signature.outputs],
            self.metrics.nonfinite(model, version),
            name=info.ref,
            on_error=self.metrics.drift_errors.labels(model, version).inc,
        )

    def _bin_outputs(self, info: VersionInfo, slot: DriftSlot, own: Reference | None) -> None:
        """Bin the version's outputs, once, by ``--output-bins-from``'s output reference
        (so a canary and its baseline share bins), else by the version's own."""
        watch = slot.outputs
        if watch is None or watch.binned:
            return
        reference = self._output_bins_reference(info) or own
        if reference is not None:
            watch.bin_with(
                reference, partial(self.metrics.output_bin, info.model, str(info.number))
            )

    def _output_bins_reference(self, info: VersionInfo) -> Reference | None:
        text = self.options.output_bins_from
        ref = parse_ref(text) if text is not None else None
        if ref is None or ref.name != info.model or ref.version is None:
            return None
        evaluation = self.store.evaluations.latest(ref.name, ref.version)
        _, outputs = evaluation.report.drift_references() if evaluation else (None, None)
        if outputs is None:
            log.warning(
                "%s: %s has no evaluation with an output reference (run `baton evaluate %s`): "
                "its outputs are binned by its own evaluation's",
                info.ref, text, text,
            )  # fmt: skip
        return outputs

    def refresh_drift(self) -> None:
        """Publish every served version's drift scores and bring its output counters up to
        date (called when /metrics is read)."""
        self.flush_outputs()
        for model in self.models():
            if model.drift is not None:
                self.metrics.drift(model.name, model.version, model.drift.scores())

    async def _retire(self, model: LoadedModel) -> None:
        await model.batcher.close()
        self.metrics.retired(model.name, model.version, model.alias, model.info.owner)
