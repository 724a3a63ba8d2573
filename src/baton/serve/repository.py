"""The models a server holds, and hot swap: follow alias moves without dropping a request.

A swap loads the new version beside the old one, switches the route in one assignment on
the event loop, then drains the old version's queue and unloads it. A request looks its
model up and queues on it without yielding to the event loop in between, so every
request is served by exactly one version, old or new.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from baton.core.refs import Ref, parse_ref
from baton.core.signature import Signature
from baton.errors import BatonError, NotFound
from baton.serve.drift import DriftMonitor, references
from baton.serve.loader import DriftSlot, LoadedModel, load_version
from baton.serve.metrics import ServingMetrics
from baton.serve.options import ServeOptions, serving_plan
from baton.serve.source import ModelSource
from baton.serve.stats import ModelStats
from baton.store.registry import VersionInfo

log = logging.getLogger("baton.serve")


@dataclass
class Route:
    """One reference being served (``digits``, ``digits@staging``, ``digits:3``)."""

    ref: Ref
    model: LoadedModel


def alias_label(ref: Ref, info: VersionInfo) -> str:
    """The alias a route serves, for ``baton_model_info`` ('' when pinned to a number)."""
    if ref.alias is not None:
        return ref.alias
    if ref.version is not None:
        return ""
    return "production" if "production" in info.aliases else "latest"


class ModelRepository:
    """Routes from model names to loaded versions; loads, swaps and unloads them."""

    def __init__(self, store: ModelSource, options: ServeOptions, metrics: ServingMetrics) -> None:
        self.store = store
        self.options = options
        self.metrics = metrics
        self._routes: dict[str, list[Route]] = {}
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self.ready = False
        self.swaps = 0
        self.polls = 0  # rounds of the alias watch finished (what a test can wait on)

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

    # -- loading and swapping ------------------------------------------------------------

    async def start(self) -> None:
        """Load every reference in the options, then follow alias moves."""
        for text in self.options.refs:
            await self._follow(parse_ref(text), add=True)
        self.ready = True
        if self.options.poll_interval_s > 0:
            self._watch = asyncio.get_running_loop().create_task(self._poll(), name="alias-watch")

    async def load(self, name: str) -> list[LoadedModel]:
        """Repository extension ``load``: pick up alias moves and new evaluations' drift
        references now, or start serving ``name``."""
        routes = self._routes.get(name)
        if not routes:
            await self._follow(parse_ref(name), add=True)
        else:
            for route in list(routes):
                await self._follow(route.ref, add=False)
                await asyncio.to_thread(self._refresh_reference, route.model)
        return [r.model for r in self._routes.get(name, [])]

    async def unload(self, name: str) -> None:
        async with self._lock:
            routes = self._routes.pop(name, None)
        if not routes:
            raise NotFound(f"model {name!r} is not served here, so it cannot be unloaded")
        for route in routes:
            await self._retire(route.model)

    async def close(self) -> None:
        """Stop watching, then finish every queued request of every model."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for model in self.models():
            await model.batcher.close()

    async def _follow(self, ref: Ref, *, add: bool) -> None:
        info = await asyncio.to_thread(self.store.registry.resolve, ref)
        async with self._lock:
            routes = self._routes.get(ref.name, [])
            route = next((r for r in routes if r.ref == ref), None)
            if route is not None and route.model.info.number == info.number:
                return
            if route is None and not add:
                return  # unloaded meanwhile: do not bring it back
            loaded = await asyncio.to_thread(self._load, ref, info)
            routes = self._routes.setdefault(ref.name, routes)
            loaded.batcher.start()
            old = route.model if route is not None else None
            if route is None:
                routes.append(Route(ref, loaded))
            else:
                route.model = loaded  # the switch: one assignment, on the event loop
            self.metrics.served(loaded.name, loaded.version, loaded.alias, loaded.info.owner)
        if old is not None:
            self.swaps += 1
            log.warning("%s now serves %s (was %s)", ref, loaded.info.ref, old.info.ref)
            await self._retire(old)

    def _load(self, ref: Ref, info: VersionInfo) -> LoadedModel:
        plan = serving_plan(self.store, info, self.options)
        series = self.metrics.for_model(info.model, str(info.number))
        stats = ModelStats()

        def on_batch(rows: int, compute_s: float) -> None:
            series.batch_size.observe(rows)
            series.compute_duration.observe(compute_s)
            stats.batch(rows, compute_s)

        slot = DriftSlot()
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
        inputs, outputs = references(evaluation.report if evaluation else None)
        if inputs is None and outputs is None:
            if first:
                log.warning("%s: no drift reference (run `baton evaluate %s`)", info.ref, info.ref)
            return  # an evaluation without a reference keeps the one in use
        signature = Signature.model_validate(info.manifest["signature"])
        slot.monitor = DriftMonitor(
            signature,
            inputs,
            outputs,
            name=info.ref,
            on_error=self.metrics.drift_errors.labels(info.model, str(info.number)).inc,
        )
        if not first:
            log.warning("%s: drift reference from evaluation %s", info.ref, number)

    def _refresh_reference(self, model: LoadedModel) -> None:
        """A new evaluation of a served version brings its drift reference (no restart)."""
        self._read_reference(model.info, model.slot)

    def refresh_drift(self) -> None:
        """Publish every served version's drift scores (called when /metrics is read)."""
        for model in self.models():
            if model.drift is not None:
                self.metrics.drift(model.name, model.version, model.drift.scores())

    async def _retire(self, model: LoadedModel) -> None:
        await model.batcher.close()
        self.metrics.retired(model.name, model.version, model.alias, model.info.owner)

    async def _poll(self) -> None:
        """Re-resolve every alias route and re-read each served version's latest evaluation;
        a failing registry is reported once, not per poll."""
        problems: dict[Ref, str] = {}
        while True:
            await asyncio.sleep(self.options.poll_interval_s)
            for routes in list(self._routes.values()):
                for route in list(routes):
                    try:
                        if route.ref.version is None:
                            await self._follow(route.ref, add=False)
                        await asyncio.to_thread(self._refresh_reference, route.model)
                    except Exception as exc:  # registry unreachable, alias removed...
                        text = exc.message if isinstance(exc, BatonError) else repr(exc)
                        if problems.get(route.ref) != text:
                            log.warning("keeping %s: %s", route.model.info.ref, text)
                        problems[route.ref] = text
                    else:
                        if problems.pop(route.ref, None) is not None:
                            log.warning("%s: the registry answers again", route.ref)
            self.polls += 1
