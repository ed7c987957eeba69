"""Virtual environments of their own for clients that Airflow's environment cannot take.

The SageMaker Python SDK v2 pins versions Airflow's dependencies outgrow, and `sagemaker-core` 2.x
requires ``importlib-metadata<7`` where Airflow 3.3 requires ``>=7`` on Python 3.12+. Each gets a
venv built from the package registry on first use and kept under the user's cache, keyed on its
requirements and the interpreter, so later runs reuse it. Builds take a file lock (several test
runs may share the machine) and mark completion last, so an interrupted build is redone.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

BUILD_TIMEOUT_SECONDS = 900
_COMPLETE = ".airflow-hpt-complete"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-hpt"


def venv_key(requirements: Sequence[str]) -> str:
    """A digest of what the venv holds: its requirements and the interpreter it is built on."""
    material = "\n".join([sys.version, sys.base_prefix, "compiled", *sorted(requirements)])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def client_venv(name: str, requirements: Sequence[str]) -> Path:
    """The Python of a cached venv ``<cache>/airflow-hpt/<name>-<key>`` holding ``requirements``."""
    root = cache_root() / f"{name}-{venv_key(requirements)}"
    python = root / "bin" / "python"
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_name(root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / _COMPLETE).exists():
            shutil.rmtree(root, ignore_errors=True)
            _build(root, python, requirements)
            (root / _COMPLETE).write_text("\n".join(requirements) + "\n")
    return python


def _build(root: Path, python: Path, requirements: Sequence[str]) -> None:
    # uv, which the project's setup script installs beside the interpreter, is much faster than pip
    uv = Path(sys.executable).with_name("uv")
    if uv.exists():
        commands = [
            [str(uv), "venv", "--quiet", "--python", sys.executable, str(root)],
            # compiled once here: its clients' processes would compile their imports each time
            # where PYTHONDONTWRITEBYTECODE is set (scripts/setup-venv says more)
            [
                str(uv),
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                str(python),
                *requirements,
            ],
        ]
    else:
        commands = [
            [sys.executable, "-m", "venv", str(root)],
            [str(python), "-m", "pip", "install", "--quiet", *requirements],
        ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS)
        if result.returncode != 0:
            raise RuntimeError(
                f"building the venv {root} failed: {' '.join(command)} exited {result.returncode}\n"
                f"{result.stdout}\n{result.stderr}"
            )
