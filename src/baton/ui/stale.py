"""Stale forms: a form remembers where the stage aliases pointed when its page was shown.

If one moved since (someone promoted or rolled back in between), acting on the old page
could undo their decision; the form is refused, saying what changed, and nothing is done.
"""

from __future__ import annotations

from collections.abc import Mapping

from baton.core.promotion import STAGE_ALIASES
from baton.errors import BadInput, Conflict
from baton.store.catalog import Catalog
from baton.ui.web import Ctx


def seen_text(aliases: Mapping[str, int]) -> str:
    """The stage aliases as a form remembers them: ``production=3;staging=4``."""
    return ";".join(f"{a}={aliases[a]}" for a in sorted(STAGE_ALIASES) if a in aliases)


def _parse_seen(text: str) -> dict[str, int]:
    out = {}
    for part in filter(None, text.split(";")):
        alias, _, number = part.partition("=")
        if alias not in STAGE_ALIASES or not number.isdigit():
            raise BadInput("the form's record of the page is damaged: reload the page")
        out[alias] = int(number)
    return out


def check_fresh(ctx: Ctx, name: str) -> None:
    """Refuse the form if a stage alias moved since its page was shown, saying how."""
    seen = _parse_seen(ctx.field("seen", required=False))
    now = Catalog(ctx.gov.store.engine).aliases(name)
    moved = [
        f"@{a} of {name} moved from {_v(seen.get(a))} to {_v(now.get(a))}"
        for a in sorted(STAGE_ALIASES)
        if seen.get(a) != now.get(a)
    ]
    if moved:
        raise Conflict(
            f"{'; '.join(moved)} since this page was shown, so nothing was done: "
            "look at the page again, then decide"
        )


def _v(number: int | None) -> str:
    return "none" if number is None else str(number)
