"""Launches a training job through AWS's ``sagemaker-training`` toolkit (script mode).

The toolkit is what SageMaker's framework containers run: it reads ``input/config/*.json`` under
``SAGEMAKER_BASE_DIR`` (here the job's folder), installs ``requirements.txt``, sets the ``SM_*``
environment and runs the entry point with the hyperparameters as arguments, writing
``output/failure`` when the script fails. It is run unchanged; two things are local:

- Start-up. Importing the toolkit costs over a second (boto3, paramiko), more than a short
  training job. Jobs that need nothing beyond the backend's interpreter are forked from a
  ``multiprocessing`` fork server that has the toolkit's dependencies imported. The toolkit
  itself is imported fresh in each job's process, after ``SAGEMAKER_BASE_DIR`` is set, since it
  reads its paths at import time.
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
import multiprocessing
import os
import shutil
import site
import subprocess
import sys
import threading
import venv
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

REQUIREMENTS_FILE = "requirements.txt"
# what `import sagemaker_training.trainer` imports that is slow and independent of the job
_PRELOAD = ["boto3", "paramiko", "psutil", "retrying", "six", "inotify_simple"]
_INSTALLED_MARKER = ".installed"
# FailureReason is capped at 1024 characters by SageMaker
_PIP_MESSAGE_CHARS = 700

_forkserver = multiprocessing.get_context("forkserver")
_forkserver.set_forkserver_preload(_PRELOAD)
# multiprocessing's bookkeeping of children is not safe to change from several threads at once
_start_lock = threading.Lock()


class RequirementsError(Exception):
    """``pip install -r requirements.txt`` failed; the message is SageMaker's FailureReason."""


class ToolkitProcess(Protocol):
    """A running toolkit: its process (and process group) id, and the read end of its output."""

    pid: int
    output_fd: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if still running after ``timeout`` seconds."""
        ...

    def close(self) -> None: ...


def launch(job_root: Path, env: dict[str, str], python: Path | None, pycache: Path | None) -> ToolkitProcess:
    """Run the toolkit for the job at ``job_root`` in its own session.

    ``python``: the interpreter of a requirements environment, or None for the backend's own
    (forked, fast). ``pycache``: a bytecode cache for the toolkit, where the backend writes none.
    """
    env = {**env, "SAGEMAKER_BASE_DIR": str(job_root)}
    if python is None:
        return _ForkedToolkit(env, job_root, pycache)
    return _SpawnedToolkit(env, job_root, python)


class _ForkedToolkit:
    def __init__(self, env: dict[str, str], cwd: Path, pycache: Path | None) -> None:
        reader, writer = _forkserver.Pipe(duplex=False)
        self._process = _forkserver.Process(
            target=_run_toolkit, args=(writer, env, str(cwd), pycache), name="sagemaker-training"
        )
        # daemonic: a backend that exits kills its jobs rather than waiting for them
        self._process.daemon = True
        try:
            with _start_lock:
                self._process.start()
        finally:
            writer.close()
        self._reader = reader
        self.output_fd = reader.fileno()
        assert self._process.pid is not None
        self.pid = self._process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        return self._process.exitcode

    def close(self) -> None:
        self._reader.close()


def _run_toolkit(output: Connection, env: dict[str, str], cwd: str, pycache: Path | None) -> None:
    """The job's process, forked from the fork server: becomes the toolkit's ``train``."""
    # its own process group, so that a stop reaches the toolkit and the script alike
    os.setsid()
    os.dup2(output.fileno(), 1)
    os.dup2(output.fileno(), 2)
    output.close()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    if pycache is not None:
        sys.dont_write_bytecode = False
        sys.pycache_prefix = str(pycache)
    # imported here, not at the top: its paths are read from SAGEMAKER_BASE_DIR at import
    from sagemaker_training import trainer

    trainer.train()


class _SpawnedToolkit:
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
