"""Reading a page's blocks: commands and their output, and what each marker asks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.markdown_blocks import PageError, read_page


def _page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text)
    return path


def test_console_commands_with_their_output_continuations_and_status(tmp_path: Path) -> None:
    page = read_page(
        _page(
            tmp_path,
            "# t\n\n```console\n$ baton models   # all\nnone yet\n$ curl -s x \\\n    -d '{}'\n"
            "{}\n$ baton show x\nerror: unknown\n[exit 2]\n```\n",
        )
    )
    commands = page.commands
    assert [c.text for c in commands] == [
        "baton models   # all",
        "curl -s x \\\n    -d '{}'",
        "baton show x",
    ]
    assert commands[0].expected.output == "none yet"
    assert commands[1].expected.output == "{}"
    assert (commands[2].expected.status, commands[2].line) == (2, 9)


def test_markers_say_what_to_do_with_the_next_block(tmp_path: Path) -> None:
    text = (
        "<!-- docs-test: ports 8000 -->\n<!-- docs-test: finally baton monitor down -->\n"
        "<!-- docs-test: file cfg/roles.yaml -->\n```yaml\nstages: {}\n```\n"
        "- item\n\n  <!-- docs-test: background -->\n  ```console\n  $ baton serve --port 8000\n"
        "  serving ...\n  ```\n"
        "<!-- docs-test: not run: needs a cluster -->\n```bash\nkubectl apply -f k8s/\n```\n"
        "```python\nprint(1)\n```\n"
    )
    page = read_page(_page(tmp_path, text))
    assert page.ports == (8000,)
    assert page.cleanup == ("baton monitor down",)
    kinds = [(b.kind, b.path, b.reason) for b in page.blocks]
    assert kinds == [
        ("file", "cfg/roles.yaml", None),
        ("background", None, None),
        ("not-run", None, "needs a cluster"),
        ("other", None, None),
    ]
    assert page.blocks[0].content == "stages: {}\n"
    assert page.blocks[1].commands[0].text == "baton serve --port 8000"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("```bash\nbaton models\n```\n", "never run"),
        ("<!-- docs-test: not run: -->\n```bash\nx\n```\n", "needs a reason"),
        ("<!-- docs-test: background -->\n```console\n$ a\n$ b\n```\n", "exactly one"),
        ("<!-- docs-test: sometimes -->\n```console\n$ a\n```\n", "unknown"),
        ("<!-- docs-test: background -->\n\ntext between\n```console\n$ a\n```\n", "just before"),
        ("```console\noutput first\n$ a\n```\n", "before its first"),
        ("```console\n$ a\n", "never closed"),
        ("<!-- docs-test: ports http -->\n", "port numbers"),
    ],
)
def test_a_page_the_test_cannot_read_says_where_and_why(
    tmp_path: Path, text: str, says: str
) -> None:
    with pytest.raises(PageError, match=says):
        read_page(_page(tmp_path, text))
