"""docs/plugins.md shows the example plugin exactly as tested, and it stays under 25 lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sparring.core.hookspecs import HOOKS

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
FIXTURE = ROOT / "tests" / "fixtures" / "sparring-example-plugin"
EXAMPLE_FILES = ("pyproject.toml", "src/sparring_example/plugin.py", "src/sparring_example/attack.py")
MAX_LINES = 25

# a fenced block: ```lang title="path"\n ... \n```
FENCE = re.compile(r'^```(?P<lang>\w*)(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$', re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="(?P<title>[^"]+)"')


def _normalised(text: str) -> list[str]:
    """Lines without trailing whitespace, blank lines dropped (indentation kept)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _titled_blocks() -> dict[str, str]:
    blocks: dict[str, str] = {}
    for m in FENCE.finditer(DOC.read_text(encoding="utf-8")):
        title = TITLE.search(m["info"])
        if title:
            assert title["title"] not in blocks, f"two blocks titled {title['title']!r} in {DOC.name}"
            blocks[title["title"]] = m["body"]
    return blocks


def _entry_point_lines(pyproject: str) -> list[str]:
    """The ``[project.entry-points.sparring]`` table: its header and entries."""
    lines = _normalised(pyproject)
    start = lines.index("[project.entry-points.sparring]")
    table = [lines[start]]
    for line in lines[start + 1 :]:
        if line.startswith("["):
            break
        table.append(line)
    return table


def test_doc_shows_exactly_the_example_files() -> None:
    blocks = _titled_blocks()
    assert sorted(blocks) == sorted(EXAMPLE_FILES), f"titled code blocks in {DOC.name}: {sorted(blocks)}"


@pytest.mark.parametrize("path", EXAMPLE_FILES)
def test_doc_block_equals_fixture_file(path: str) -> None:
    block = _titled_blocks()[path]
    fixture = (FIXTURE / path).read_text(encoding="utf-8")
    assert _normalised(block) == _normalised(fixture), (
        f"the block titled {path!r} in docs/plugins.md differs from tests/fixtures/"
        f"sparring-example-plugin/{path}; change both together"
    )


def test_example_is_under_25_lines() -> None:
    blocks = _titled_blocks()
    entry_points = _entry_point_lines(blocks["pyproject.toml"])
    assert entry_points == ["[project.entry-points.sparring]", 'example = "sparring_example.plugin"']
    code = _normalised(blocks["src/sparring_example/plugin.py"]) + _normalised(blocks["src/sparring_example/attack.py"])
    total = len(entry_points) + len(code)
    assert total < MAX_LINES, f"the example is {total} non-blank lines; the docs promise fewer than {MAX_LINES}"


def test_example_package_has_nothing_else() -> None:
    """The doc says the package is these files plus an empty ``__init__.py``."""
    files = sorted(
        p.relative_to(FIXTURE).as_posix()
        for p in FIXTURE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert files == sorted([*EXAMPLE_FILES, "src/sparring_example/__init__.py"]), files
    assert (FIXTURE / "src/sparring_example/__init__.py").read_text(encoding="utf-8").strip() == ""


def test_doc_lists_every_hook_with_its_record_type() -> None:
    text = DOC.read_text(encoding="utf-8")
    for hook_name, record_type in HOOKS.values():
        row = re.search(rf"^\| `{hook_name}` \| `{record_type.__name__}` \|", text, re.MULTILINE)
        assert row, f"docs/plugins.md has no table row for `{hook_name}` returning `{record_type.__name__}`"
