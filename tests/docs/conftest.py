"""Running documented commands as a reader would: in an empty folder with the repository's dags/,
a shell whose PATH starts with this environment's scripts, and nothing else of the test session's
environment (no AIRFLOW_*, no AWS_*): what the docs do not set, the reader does not have."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.blocks import ROOT
from tests.waiting import wait_until

# generous: a block may train and deploy models on a loaded 2-core machine
BLOCK_TIMEOUT_SECONDS = 900


@pytest.fixture
def reader_dir(tmp_path: Path) -> Path:
    """An empty folder holding a copy of the repository's dags/, as a clone's root does (a copy,
    not a link: the DAGs resolve their training code's path, which the backend trusts only inside
    the folder it was started in)."""
    workdir = tmp_path / "reader"
    workdir.mkdir()
    shutil.copytree(ROOT / "dags", workdir / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    return workdir


def reader_env(workdir: Path) -> dict[str, str]:
    scripts = str(Path(sys.executable).parent)
    return {
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        # no ~/.aws or ~/airflow of the machine: a reader's own home
        "HOME": str(workdir),
        "AIRFLOW_HOME": str(workdir / "airflow"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        # the demo data stages scikit-learn's bundled digits; nothing is downloaded
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def run_block(text: str, workdir: Path, language: str = "bash") -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-c", text]
        if language.startswith("py")
        else ["bash", "-euo", "pipefail", "-c", text]
    )
    return subprocess.run(
        command,
        cwd=workdir,
        env=reader_env(workdir),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_SECONDS,
    )


class Background:
    """A documented command that serves until stopped, its output collected line by line."""

    def __init__(self, text: str, workdir: Path) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", text],
            cwd=workdir,
            env=reader_env(workdir),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # the shell and the server it starts are stopped together
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, what: str, prefix: str) -> str:
        def found() -> str | None:
            if self.process.poll() is not None and not self._reader.is_alive():
                raise AssertionError(
                    f"exited {self.process.returncode} before {what}:\n" + "\n".join(self.lines)
                )
            return next((line for line in self.lines if line.startswith(prefix)), None)

        return wait_until(what, found, context=lambda: "\n".join(self.lines[-20:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=120)
        self._reader.join(timeout=30)


@pytest.fixture
def background() -> Iterator[list[Background]]:
    """Started documented servers, stopped when the test ends."""
    started: list[Background] = []
    yield started
    for server in started:
        server.stop()
