"""Every command and code block in README.md and docs/ is run by a test, or says why not."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.blocks import all_blocks, runnable_blocks

TESTS = Path(__file__).resolve().parent
GENERIC_MARKS = {"exec", "skip"}


def names_run_by_tests() -> set[str]:
    sources = "\n".join(path.read_text() for path in TESTS.glob("test_*.py"))
    return set(re.findall(r"named\([\"']([^\"']+)[\"']\)", sources))


def test_every_runnable_block_is_marked() -> None:
    unmarked = [str(block) for block in runnable_blocks() if block.mark is None]
    assert not unmarked, f"blocks without <!-- docs-test: ... --> before them: {unmarked}"


def test_every_skip_says_why() -> None:
    unexplained = [str(block) for block in all_blocks() if block.mark == "skip" and not block.reason]
    assert not unexplained, f"skipped without a reason: {unexplained}"


def test_every_named_block_is_run_by_a_test_and_every_name_a_test_runs_exists() -> None:
    marked = {block.mark for block in all_blocks() if block.mark and block.mark not in GENERIC_MARKS}
    assert marked == names_run_by_tests()
