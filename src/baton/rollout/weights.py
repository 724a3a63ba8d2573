"""A router's traffic weights per variant, and the choice of a variant for each request.

Pure: no I/O. Weights are given in percent (``stable=90,baseline=5,canary=5``) or as
fractions (``stable=0.9,...``) and must add up to 100 or to 1; they are kept in percent.

Each request is a point on [0, 1): a draw of the router's random generator, or, when the
request carries the sticky header, a hash of its value (the same id always lands on the
same point). The line is cut into one span per variant with weight above 0, laid out
canary first, then baseline, then stable: as a canary's weight grows step by step its span
only grows, so an id the canary answered keeps going to the canary (nginx's
``split_clients`` does the same with MurmurHash2 buckets).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from baton.errors import BadInput

VARIANTS = ("stable", "baseline", "canary")
LAYOUT = ("canary", "baseline", "stable")  # order of the spans on [0, 1)
TOLERANCE = 1e-6  # how far a sum may be from 100 (or 1) after decimal rounding
_ITEM = re.compile(r"\s*([A-Za-z_]+)\s*=\s*([^,\s]+)\s*")


@dataclass(frozen=True)
class Weights:
    """Percent of requests per variant (every variant named, 0 where it gets none)."""

    stable: float = 100.0
    baseline: float = 0.0
    canary: float = 0.0

    def __post_init__(self) -> None:
        values = (self.stable, self.baseline, self.canary)
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise BadInput(f"weights must be finite and 0 or more, not {values}")
        if abs(math.fsum(values) - 100.0) > TOLERANCE * 100:
            raise BadInput(f"weights in percent must add up to 100, not {math.fsum(values):g}")

    def of(self, variant: str) -> float:
        value: float = getattr(self, variant)
        return value

    def as_dict(self) -> dict[str, float]:
        return {v: self.of(v) for v in VARIANTS}

    def routed(self) -> tuple[str, ...]:
        """The variants that receive requests (weight above 0), in the line's order."""
        return tuple(v for v in LAYOUT if self.of(v) > 0)

    def __str__(self) -> str:
        return ",".join(f"{v}={self.of(v):g}" for v in VARIANTS)


def parse_weights(text: str) -> Weights:
    """``stable=90,baseline=5,canary=5`` (percent) or ``stable=0.9,canary=0.1`` (fractions)."""
    values: dict[str, object] = {}
    for item in text.split(","):
        found = _ITEM.fullmatch(item)
        if found is None:
            raise BadInput(
                f"weights {text!r}: write them as VARIANT=NUMBER pairs separated by commas, "
                "as in stable=90,baseline=5,canary=5"
            )
        name, number = found.groups()
        if name in values:
            raise BadInput(f"weights {text!r}: {name} is given twice")
        values[name] = number
    return weights_from(values)


def weights_from(values: Mapping[str, object]) -> Weights:
    """Weights from a mapping (the admin call's JSON, or parsed text); a variant left out
    gets 0. The numbers must add up to 100 (percent) or to 1 (fractions)."""
    unknown = sorted(set(values) - set(VARIANTS))
    if unknown:
        raise BadInput(
            f"unknown variant {', '.join(map(repr, unknown))} in the weights: the variants "
            f"are {', '.join(VARIANTS)}"
        )
    numbers = {name: _number(name, value) for name, value in values.items()}
    total = math.fsum(numbers.values())
    if abs(total - 100.0) <= TOLERANCE * 100:
        scale = 1.0
    elif abs(total - 1.0) <= TOLERANCE:
        scale = 100.0
    else:
        given = ", ".join(f"{n}={v:g}" for n, v in numbers.items()) or "none"
        raise BadInput(
            f"weights must add up to 100 (percent) or to 1 (fractions); {given} adds up to "
            f"{total:g}"
        )
    return Weights(**{v: numbers.get(v, 0.0) * scale for v in VARIANTS})


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput(f"the weight of {name} must be a number, not {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise BadInput(f"the weight of {name} must be a number, not {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise BadInput(f"the weight of {name} must be a finite number of 0 or more, not {value}")
    return number


@dataclass(frozen=True, slots=True)
class Split:
    """The spans of [0, 1): variant ``variants[i]`` takes points below ``bounds[i]`` (and
    at or above the bound before it). The last bound is 1."""

    variants: tuple[str, ...]
    bounds: tuple[float, ...]

    def pick(self, point: float) -> str:
        for variant, bound in zip(self.variants, self.bounds, strict=True):
            if point < bound:
                return variant
        return self.variants[-1]


def split_of(weights: Weights) -> Split:
    """The spans for ``weights`` (which add up to 100)."""
    routed = weights.routed()
    bounds: list[float] = []
    total = 0.0
    for variant in routed:
        total += weights.of(variant)
        bounds.append(total / 100.0)
    bounds[-1] = 1.0  # whatever the rounding: every point lands somewhere
    return Split(routed, tuple(bounds))


def sticky_point(key: bytes) -> float:
    """A request id's point on [0, 1): BLAKE2b, so it is the same in every process and
    run (Python's ``hash`` is salted per process), and spread evenly whatever the ids."""
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) / 2.0**53  # 53 bits: exact, below 1


def check_routable(weights: Weights, upstreams: Mapping[str, str | None]) -> None:
    """Every variant with weight above 0 needs a server to send its requests to."""
    missing = [v for v in weights.routed() if not upstreams.get(v)]
    if missing:
        raise BadInput(
            f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} weight above 0 "
            f"but no server: give its URL (--{missing[0]} URL, or upstreams in the admin "
            "call), or weight 0"
        )
