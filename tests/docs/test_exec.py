"""The blocks marked ``docs-test: exec``, run as they are written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import Block, runnable_blocks
from tests.docs.conftest import run_block

EXEC_BLOCKS = [block for block in runnable_blocks() if block.mark == "exec"]


@pytest.mark.parametrize("block", EXEC_BLOCKS, ids=str)
def test_block_runs_as_written(block: Block, reader_dir: Path) -> None:
    done = run_block(block.text, reader_dir, block.language)
    assert done.returncode == 0, f"{block} failed:\n{done.stdout}\n{done.stderr}"
