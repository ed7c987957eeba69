"""The fenced code blocks of README.md and docs/, with the mark that says how tests/docs runs each.

A mark is an HTML comment on the line right before the fence: ``<!-- docs-test: exec -->``,
``<!-- docs-test: NAME -->`` (a test runs it by name) or ``<!-- docs-test: skip REASON -->``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# the languages of commands and code a reader is told to run
RUNNABLE_LANGUAGES = {"bash", "sh", "shell", "console", "python", "py"}
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!-- docs-test: (\S+)(?: (.*?))? -->$")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    mark: str | None  # exec, skip, or a test's name
    reason: str | None  # what a skip gives

    def __str__(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def blocks(document: Path) -> list[Block]:
    lines = document.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        mark = MARK.match(lines[index - 1]) if index else None
        found.append(
            Block(
                document,
                index + 1,
                opening.group(1),
                "\n".join(lines[index + 1 : end]) + "\n",
                mark.group(1) if mark else None,
                mark.group(2) if mark else None,
            )
        )
        index = end + 1
    return found


def all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in blocks(document)]


def runnable_blocks() -> list[Block]:
    return [block for block in all_blocks() if block.language in RUNNABLE_LANGUAGES]


def named(name: str) -> Block:
    """The one block marked ``<!-- docs-test: NAME -->``."""
    matching = [block for block in all_blocks() if block.mark == name]
    assert len(matching) == 1, f"{len(matching)} blocks are marked docs-test: {name}"
    return matching[0]


def following(block: Block) -> Block:
    """The block right after ``block`` in its document (its shown output)."""
    siblings = blocks(block.document)
    return siblings[siblings.index(block) + 1]
