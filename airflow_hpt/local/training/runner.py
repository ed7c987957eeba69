"""Runs one training job locally under SageMaker's script-mode contract.

A real SageMaker script-mode entry point runs unchanged: the job gets a folder laid out like
``/opt/ml`` (:mod:`airflow_hpt.local.training.layout`), AWS's ``sagemaker-training`` toolkit runs the
script there with SageMaker's arguments and ``SM_*`` environment (:mod:`airflow_hpt.local.training.toolkit`)
in its own process group, the output is kept in a log file and scanned with the
MetricDefinitions regexes (:mod:`airflow_hpt.local.training.capture`), and on completion ``model/`` is
packed to ``<S3OutputPath>/<job>/output/model.tar.gz``. Where ``PYTHONDONTWRITEBYTECODE`` is
set, training jobs get a shared bytecode cache instead (see :func:`_bytecode_environment`).

The job's process and its status rules: :mod:`airflow_hpt.local.training.process`.

Not emulated: distributed training (one host, ``algo-1``), Pipe/FastFile input modes (File
mode only) and ManifestFile/AugmentedManifestFile data types.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import airflow_hpt.local.training.toolkit as toolkit
from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.training.capture import MetricSample
from airflow_hpt.local.training.layout import (
    HOST,
    LOG_FILE,
    LOG_TIMES_FILE,
    METRICS_FILE,
    PROGRAM_HP,
    SUBMIT_DIR_HP,
    JobLayout,
    hyperparameter_text,
    job_folder,
)
from airflow_hpt.local.training.process import Launch, TrainingOutcome, TrainingProcess, TrainingSpec

__all__ = [
    "HOST",
    "LOG_FILE",
    "LOG_TIMES_FILE",
    "METRICS_FILE",
    "PROGRAM_HP",
    "SUBMIT_DIR_HP",
    "MetricSample",
    "Runner",
    "TrainingOutcome",
    "TrainingProcess",
    "TrainingSpec",
    "hyperparameter_text",
    "job_folder",
]


def _default_cache() -> Path:
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "airflow-hpt"


class Runner:
    """Starts training jobs under ``<home>/training/<job>/``.

    ``bytecode_cache`` and ``environments`` (the virtual environments of ``requirements.txt``
    files) default to folders under the user's cache, shared by every backend of the machine.
    """

    def __init__(
        self,
        home: Path,
        s3: LocalS3,
        stop_grace_seconds: float = 5.0,
        bytecode_cache: Path | None = None,
        environments: Path | None = None,
    ) -> None:
        self.home = Path(home)
        self.s3 = s3
        # SageMaker waits 120 s after SIGTERM; locally a few seconds keep stops responsive
        self.stop_grace_seconds = stop_grace_seconds
        self.bytecode_cache = bytecode_cache or _default_cache() / "pycache"
        self.environments = toolkit.RequirementEnvironments(environments or _default_cache() / "venvs")

    @staticmethod
    def unsupported_reason(hyperparameters: Mapping[str, str]) -> str | None:
        """Why a job cannot run locally, or None when it can."""
        missing = [name for name in (PROGRAM_HP, SUBMIT_DIR_HP) if not hyperparameters.get(name)]
        if not missing:
            return None
        return (
            "The local SageMaker backend runs script-mode training only: StaticHyperParameters must "
            f"contain {PROGRAM_HP} (the entry script) and {SUBMIT_DIR_HP} (a local folder, file:// or "
            f"s3:// URI, or a .tar.gz of the code); missing: {', '.join(missing)}"
        )

    def start(self, spec: TrainingSpec, on_metrics: Callable[[], None] | None = None) -> TrainingProcess:
        """Start a job in the background; a job that cannot start (no code, no data) ends Failed.

        ``on_metrics()`` is called from the job's thread whenever its output yields new metric
        samples (:meth:`TrainingProcess.new_metrics` has them then); it must be quick and must
        not raise.
        """
        layout = JobLayout(job_folder(self.home, spec.training_job_name))
        layout.create()
        process = TrainingProcess(spec, layout, self.s3, self.stop_grace_seconds, on_metrics)
        # started before the fork: a thread started while a child execs costs ~10x more
        threading.Thread(
            target=process._run,
            args=(functools.partial(self._prepare, spec, layout),),
            name=f"training-{spec.training_job_name}",
            daemon=True,
        ).start()
        return process

    def _prepare(self, spec: TrainingSpec, layout: JobLayout) -> Launch:
        reason = self.unsupported_reason(spec.hyperparameters)
        if reason:
            raise ValueError(reason)
        submit_dir = hyperparameter_text(spec.hyperparameters[SUBMIT_DIR_HP])
        program = hyperparameter_text(spec.hyperparameters[PROGRAM_HP])
        layout.link_code(self.s3, submit_dir, self.home / "code")
        entry = layout.code / program
        if not entry.is_file() or not entry.resolve().is_relative_to(layout.code.resolve()):
            raise ValueError(f"{PROGRAM_HP} {program!r} is not a file inside {SUBMIT_DIR_HP} {submit_dir!r}")
        layout.stage_channels(self.s3, spec.input_data_config)
        layout.write_config(spec.hyperparameters, spec.input_data_config, spec.instance_type)
        python = self.environments.python_for(layout.code, layout.log)
        env = _bytecode_environment(dict(os.environ), self.bytecode_cache)
        env.update(spec.environment)
        env.update(
            PYTHONUNBUFFERED="1",
            TRAINING_JOB_NAME=spec.training_job_name,
            # the toolkit's pip finds the requirements installed; no need to ask for a newer pip
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            # skips the toolkit's wait for the DNS name of every host (algo-1 resolves nowhere here)
            SM_STUDIO_LOCAL_MODE="true",
        )
        pycache = Path(env["PYTHONPYCACHEPREFIX"]) if "PYTHONPYCACHEPREFIX" in env else None
        return Launch(env, python, pycache)


def _bytecode_environment(env: dict[str, str], cache: Path) -> dict[str, str]:
    """``env`` for a training job, with a bytecode cache where the backend has none.

    Every job is a fresh interpreter. Where PYTHONDONTWRITEBYTECODE is set (CI images often set
    it) and site-packages holds no compiled files, numpy, scipy and scikit-learn are compiled
    from source by every job: seconds each. Such jobs write and read their bytecode under
    ``cache`` instead, shared by every backend of the machine, since a cache per backend home
    would make the first job of each home pay for the standard library again.
    """
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        env.setdefault("PYTHONPYCACHEPREFIX", str(cache))
    return env
