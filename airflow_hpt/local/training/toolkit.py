"""Launches a training job through AWS's ``sagemaker-training`` toolkit (script mode).

The toolkit is what SageMaker's framework containers run: it reads ``input/config/*.json`` under
``SAGEMAKER_BASE_DIR`` (here the job's folder), installs ``requirements.txt``, sets the ``SM_*``
environment and runs the entry point with the hyperparameters as arguments, writing
``output/failure`` when the script fails. It is run unchanged; two things are local:

- Start-up. Importing the toolkit costs over a second (boto3, paramiko), more than a short
  training job. Jobs that need nothing beyond the backend's interpreter are forked from a zygote
  (:mod:`airflow_hpt.local.training.zygote`, one process per backend process) that has the toolkit
  imported; its modules that read ``SAGEMAKER_BASE_DIR`` at import are re-executed in each job's
  process once that is set (:mod:`airflow_hpt.local.training.preload`). Should the zygote be
  unusable, a job runs the toolkit in a new interpreter instead (seconds slower, same behaviour).
- ``requirements.txt``. The toolkit installs it with ``pip`` into the interpreter it runs on,
  which for the backend would be its own environment. A source folder with a
  ``requirements.txt`` (or a ``setup.py``) runs instead on a virtual environment kept per
  requirements (:class:`RequirementEnvironments`), which sees the backend's packages and is
  installed once; the toolkit's own ``pip install`` then finds everything satisfied.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path
from typing import Protocol

from airflow_hpt.local.training.zygote import Zygote, ZygoteGone

REQUIREMENTS_FILE = "requirements.txt"
_INSTALLED_MARKER = ".installed"
# FailureReason is capped at 1024 characters by SageMaker
_PIP_MESSAGE_CHARS = 700

log = logging.getLogger(__name__)
# the zygote of this process, shared by its backends (started by the first job)
ZYGOTE = Zygote()


class RequirementsError(Exception):
    """``pip install -r requirements.txt`` failed; the message is SageMaker's FailureReason."""


class ToolkitProcess(Protocol):
    """A running toolkit: its process (and process group) id, and the read end of its output.

    ``lost`` says why the exit code will never be known (its launcher died), else None.
    """

    pid: int
    output_fd: int

    @property
    def lost(self) -> str | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if still running after ``timeout`` seconds (or lost)."""
        ...

    def close(self) -> None: ...


def launch(job_root: Path, env: dict[str, str], python: Path | None, pycache: Path | None) -> ToolkitProcess:
    """Run the toolkit for the job at ``job_root`` in its own session.

    ``python``: the interpreter of a requirements environment, or None for the backend's own
    (forked, fast). ``pycache``: a bytecode cache for the toolkit, where the backend writes none
    (already in ``env`` as ``PYTHONPYCACHEPREFIX``).
    """
    env = {**env, "SAGEMAKER_BASE_DIR": str(job_root)}
    if python is None:
        try:
            return ZYGOTE.fork(env, job_root, pycache)
        except ZygoteGone as exc:
            log.warning(
                "training job launcher unavailable (%s): starting the toolkit in a new interpreter", exc
            )
            python = Path(sys.executable)
    return _SpawnedToolkit(env, job_root, python)


class _SpawnedToolkit:
    lost = None

    def __init__(self, env: dict[str, str], cwd: Path, python: Path) -> None:
        self._popen = subprocess.Popen(
            [str(python), "-m", "sagemaker_training.cli.train"],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self._popen.stdout is not None
        self.output_fd = self._popen.stdout.fileno()
        self.pid = self._popen.pid

    def poll(self) -> int | None:
        return self._popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        assert self._popen.stdout is not None
        self._popen.stdout.close()


class RequirementEnvironments:
    """Virtual environments keyed by a source folder's requirements, each installed once.

    An environment sees the backend's packages (the toolkit, and what scripts usually import)
    behind its own, is created and installed under a lock (parallel jobs of a tuning job share
    it), and counts as ready only once ``pip`` succeeded: a failed install is retried by the
    next job, not reused.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def python_for(self, code: Path, log: Path) -> Path | None:
        """The interpreter for the code in ``code``, or None when the backend's own will do.

        pip's output is appended to ``log``; a failed install raises :class:`RequirementsError`.
        """
        requirements = code / REQUIREMENTS_FILE
        has_requirements = requirements.is_file()
        has_package = (code / "setup.py").is_file()
        if not has_requirements and not has_package:
            return None
        key = hashlib.sha256()
        key.update(f"{sys.prefix}\0{sys.version}\0".encode())
        if has_requirements:
            key.update(requirements.read_bytes())
        if has_package:
            # the toolkit pip-installs the package itself: one environment per code version
            key.update(str(code.resolve()).encode())
        folder = self.root / key.hexdigest()[:20]
        python = folder / "bin" / "python"
        if (folder / _INSTALLED_MARKER).is_file():
            return python
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{folder.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / _INSTALLED_MARKER).is_file():
                self._create(folder, requirements if has_requirements else None, code, log)
        return python

    @staticmethod
    def _create(folder: Path, requirements: Path | None, code: Path, log: Path) -> None:
        if folder.exists():
            shutil.rmtree(folder)  # an earlier attempt that failed or was interrupted
        venv.EnvBuilder(with_pip=False, symlinks=True).create(folder)
        python = folder / "bin" / "python"
        site_packages = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        # the backend's packages come after the environment's own; addsitedir also reads
        # their .pth files (editable installs)
        lines = [f"import site; site.addsitedir({path!r})" for path in site.getsitepackages()]
        Path(site_packages, "_airflow_hpt_backend.pth").write_text("\n".join(lines) + "\n")
        if requirements is not None:
            command = [str(python), "-m", "pip", "install", "--no-input", "-r", REQUIREMENTS_FILE]
            result = subprocess.run(
                command,
                cwd=code,
                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
            with open(log, "a", encoding="utf-8") as job_log:
                job_log.write(result.stdout + result.stderr)
            if result.returncode != 0:
                errors = (result.stderr.strip() or result.stdout.strip())[-_PIP_MESSAGE_CHARS:]
                with contextlib.suppress(OSError):
                    shutil.rmtree(folder)
                raise RequirementsError(
                    f"AlgorithmError: InstallRequirementsError:\nExitCode {result.returncode}\n"
                    f'ErrorMessage "{errors}"\nCommand "{" ".join(command)}"'
                )
        (folder / _INSTALLED_MARKER).write_text(requirements.read_text() if requirements else "")
