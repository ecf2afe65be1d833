"""The documentation against the code (in the style of sqlite-utils' tests/test_docs.py).

Every CLI command has a section in docs/cli.md under a heading naming it, and every option of
a command appears in that section; every relative link in README.md and docs/*.md points at a
file that exists; the README's two set-up commands are the ones CI and newcomers run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

import sanitize.cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CLI_DOCS = DOCS / "cli.md"
MARKDOWN = [README, *sorted(DOCS.glob("*.md"))]

#: The README's Quick start, word for word: (comment line, command line).
SETUP_COMMANDS = (
    (
        "# 1. install and run the main job on the bundled sample data (it finds 22 broken samples: exit code 1)",
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/sanitize scan"
        " sample_data/classification/train.txt --num-classes 3 --ignore-label 255",
    ),
    (
        "# 2. install and run the tests",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q",
    ),
)

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"`+[^`]*`+")


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """(full name such as "sanitize audit run", command) for every command below the root, groups
    included. Duck-typed: typer may build on click or on its own copy of it (typer._click)."""
    found = []
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            found.append((" ".join(("sanitize", *path, name)), sub))
            found.extend(_commands(sub, (*path, name)))
    return found


COMMANDS = _commands(typer.main.get_command(sanitize.cli.app))


def _long_options(command: Any) -> list[str]:
    """Every `--long-name` of every option of the command (flags' `--no-...` too), --help excluded."""
    names = []
    for param in command.params:
        if param.param_type_name == "option":
            names.extend(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--") and o != "--help")
    return names


OPTIONS = [(name, option) for name, command in COMMANDS for option in _long_options(command)]


def _prose_lines(text: str) -> list[str]:
    """The lines of a markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(line number, level, title) of each heading outside fenced code blocks."""
    found, fenced = [], False
    for number, line in enumerate(text.splitlines()):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((number, len(match.group(1)), match.group(2)))
    return found


def _section(text: str, command: str) -> str | None:
    """The part of docs/cli.md under the heading that names `command` in backticks, up to the
    next heading of the same or a higher level; None if no heading names it."""
    lines = text.splitlines()
    headings = _headings(text)
    for i, (start, level, title) in enumerate(headings):
        if f"`{command}`" in title:
            end = next((n for n, lv, _ in headings[i + 1 :] if lv <= level), len(lines))
            return "\n".join(lines[start:end])
    return None


def _mentions(section: str, option: str) -> bool:
    """`--probe` is mentioned, not just `--no-probe` or `--probe-x`."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", section) is not None


def test_the_cli_has_commands():
    names = [name for name, _ in COMMANDS]
    assert {"sanitize scan", "sanitize audit run", "sanitize audit history"} <= set(names)
    assert ("sanitize scan", "--num-classes") in OPTIONS


@pytest.mark.parametrize("command", [name for name, _ in COMMANDS])
def test_command_is_documented(command):
    assert _section(CLI_DOCS.read_text(), command) is not None, f"docs/cli.md has no heading naming `{command}`"


@pytest.mark.parametrize(("command", "option"), OPTIONS)
def test_option_is_documented(command, option):
    section = _section(CLI_DOCS.read_text(), command)
    assert section is not None, f"docs/cli.md has no heading naming `{command}`"
    assert _mentions(section, option), f"docs/cli.md does not mention {option} in the section on `{command}`"


def _relative_links(path: Path) -> list[str]:
    links = []
    for line in _prose_lines(path.read_text()):
        for target in _LINK.findall(_CODE_SPAN.sub("", line)):
            if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:
                links.append(target)
    return links


LINKS = [(path, target) for path in MARKDOWN for target in _relative_links(path)]


def test_the_docs_have_links():
    assert any(path == README for path, _ in LINKS)


@pytest.mark.parametrize(("path", "target"), LINKS, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in LINKS])
def test_relative_link_points_at_a_file(path, target):
    file = target.split("#", 1)[0]
    if file:
        assert (path.parent / file).exists(), f"{path.relative_to(ROOT)} links to {target}: no such file"


def _slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen = set(), {}
    for _, _, title in _headings(path.read_text()):
        slug = _slug(title)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


ANCHORED = [(path, target) for path, target in LINKS if "#" in target and target.split("#", 1)[0].endswith(".md")]
ANCHORED += [(path, target) for path, target in LINKS if target.startswith("#")]


@pytest.mark.parametrize(("path", "target"), ANCHORED, ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in ANCHORED])
def test_link_anchor_names_a_heading(path, target):
    file, anchor = target.split("#", 1)
    linked = path.parent / file if file else path
    assert anchor in _anchors(linked), f"{path.relative_to(ROOT)} links to {target}: no such heading"


@pytest.mark.parametrize(("comment", "command"), SETUP_COMMANDS, ids=["scan", "tests"])
def test_readme_setup_command_is_word_for_word(comment, command):
    assert f"\n{comment}\n{command}\n" in README.read_text()
