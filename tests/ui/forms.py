"""Read a page as a browser would for its forms: each form's action and its fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input" and "name" in a:
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "select" and "name" in a:
            self._select = a["name"]
        elif tag == "option" and self._select and self._select not in self.forms[-1].fields:
            self.forms[-1].fields[self._select] = a.get("value", "")
            self._option_text = True

    def handle_data(self, data: str) -> None:
        if getattr(self, "_option_text", False) and self._select:
            if not self.forms[-1].fields[self._select]:
                self.forms[-1].fields[self._select] = data.strip()
            self._option_text = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def form(html: str, action: str) -> Form:
    """The first form posting to ``action``; fails naming those the page has."""
    found = [f for f in forms(html) if f.action == action]
    assert found, f"no form to {action}; the page has {[f.action for f in forms(html)]}"
    return found[0]
