"""Which pages the docs test reads, and the tally it reports."""

from __future__ import annotations

from pathlib import Path

from tests.docs.markdown_blocks import Page, read_page

ROOT = Path(__file__).resolve().parents[2]


def page_paths() -> list[Path]:
    """The README and every page of the docs site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def all_pages() -> list[Page]:
    return [read_page(path) for path in page_paths()]


def tally(pages: list[Page]) -> list[str]:
    """What the docs test runs and what it leaves out, with the reasons, as report lines."""
    commands = sum(len(page.commands) for page in pages)
    checked = sum(c.expected.shows_output for page in pages for c in page.commands)
    not_run = [(page, block) for page in pages for block in page.not_run]
    skipped = sum(_shown_commands(block.content) for _, block in not_run)
    lines = [
        f"docs: {commands} commands run on {len(pages)} pages ({checked} with their output "
        f"checked, {commands - checked} for their exit status only); {len(not_run)} blocks "
        f"({skipped} commands) shown but not run:"
    ]
    for page, block in not_run:
        lines.append(f"  {page.path.relative_to(ROOT)}:{block.line}: {block.reason}")
    return lines


def _shown_commands(content: str) -> int:
    """Commands in a block that is not run: its ``$`` lines, else its non-comment lines."""
    lines = [line for line in content.splitlines() if line.strip()]
    prompts = [line for line in lines if line.startswith("$ ")]
    if prompts:
        return len(prompts)
    return sum(not line.lstrip().startswith("#") and not line.startswith(" ") for line in lines)
