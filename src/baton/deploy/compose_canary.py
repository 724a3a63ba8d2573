"""The Compose target's canary: a ``baseline`` and a ``canary`` service beside the stable
one (``baton``), all three behind the ``router`` service, as ``baton deploy up`` runs them
on one machine and ``baton canary start --target compose`` drives them.

The baseline is the stable service again (same image, command and resources) labelled
``baseline``: the judge compares the canary with it, both getting the same share (Kayenta's
recipe). The canary serves the ``--canary`` version: from its own image (the stable image's
tag with the canary's version) or, with ``--model-from volume``, from its folder on the
shared volume. Neither publishes a port on the host: they are reached through the router
only. The router starts with ``stable = 100 - 2P``, ``baseline = P``, ``canary = P`` and
waits for all three to be healthy; the controller then moves the weights through the
router's admin API. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from baton.deploy.spec import PORT, RenderSpec
from baton.deploy.text import Document, audit_annotations, labels
from baton.errors import BadInput

STABLE, BASELINE, CANARY = "baton", "baseline", "canary"  # the services of the variants
SERVICES = {"stable": STABLE, "baseline": BASELINE, "canary": CANARY}  # variant -> service


def service_url(service: str) -> str:
    """Where the router reaches a service on the Compose network."""
    return f"http://{service}:{PORT}"


def router_variants(spec: RenderSpec) -> tuple[list[str], list[str]]:
    """The router's variant flags (``--stable URL`` ...) and the services it waits for."""
    if spec.canary is None:
        return ["--stable", service_url(STABLE)], [STABLE]
    p = spec.canary.percent
    if 2 * p > 100:
        raise BadInput(f"--percent {p}: the canary and its baseline get {p} % each, so at most 50")
    out: list[str] = []
    for variant, service in SERVICES.items():
        out += [f"--{variant}", service_url(service)]
    out += ["--weights", f"stable={100 - 2 * p},baseline={p},canary={p}"]
    return out, list(SERVICES.values())


def _unpublished(body: Document) -> Document:
    """Reached through the router only: no port on the host (the stable one has them)."""
    out = {k: v for k, v in body.items() if k != "ports"}
    out["expose"] = [str(PORT)]
    return out


def baseline_service(spec: RenderSpec, stable: Document) -> Document:
    """The stable service again, labelled as the baseline."""
    body = _unpublished(stable)
    body["labels"] = {**labels(spec, track="baseline"), **audit_annotations(spec)}
    return body


def canary_spec(spec: RenderSpec) -> RenderSpec:
    """The stable spec with the canary's version, digest and image (a measured capacity is
    the stable version's: not carried over)."""
    canary = spec.canary
    assert canary is not None
    update: dict[str, object] = {"version": canary.version, "digest": canary.digest,
                                 "image": canary_image(spec), "canary": None,
                                 "rps_at_slo": None, "evaluation": None}  # fmt: skip
    return spec.model_copy(update=update)


def canary_image(spec: RenderSpec) -> str:
    """With the model in the image, the canary's image is the stable one's tagged with the
    canary's version (``baton/toy:1`` -> ``baton/toy:2``); with the model on the volume,
    both run the same image and differ by their folder."""
    assert spec.canary is not None
    if spec.model_from == "volume":
        return spec.image
    name, colon, tag = spec.image.rpartition(":")
    if not colon or "/" in tag or tag != str(spec.version):
        raise BadInput(
            f"--image {spec.image}: with a canary the image must be tagged with the version "
            f"(NAME:{spec.version}) so the canary's is NAME:{spec.canary.version}; or render "
            "with --model-from volume (one image, each version's folder on the volume)"
        )
    return f"{name}:{spec.canary.version}"


def canary_service(spec: RenderSpec, service: Callable[[RenderSpec], Document]) -> Document:
    """The canary version's service, built as the stable one is (``service``)."""
    canary = canary_spec(spec)  # on a volume: its own folder (``spec.folder``)
    body = _unpublished(service(canary))
    body["labels"] = {**labels(canary, track="canary"), **audit_annotations(canary)}
    return body


def scrape_variants(spec: RenderSpec) -> list[Document]:
    """Prometheus targets of the baseline and the canary, labelled as the judge reads them."""
    if spec.canary is None:
        return []
    out: list[Document] = []
    for variant, version in (("baseline", spec.version), ("canary", spec.canary.version)):
        tags = {"model": spec.model, "version": str(version), "variant": variant}
        out.append({"targets": [f"{SERVICES[variant]}:{PORT}"], "labels": tags})
    return out
