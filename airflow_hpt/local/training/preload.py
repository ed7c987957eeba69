"""What the zygote prepares once for every training job, and what each job redoes in its child.

The zygote (:mod:`airflow_hpt.local.training.zygote`) imports the whole ``sagemaker-training``
toolkit once (:func:`preload`). Three of its modules compute the job folder's paths from
``SAGEMAKER_BASE_DIR`` when they are imported (:data:`PER_JOB_MODULES`); each job's child
re-executes them with :func:`importlib.reload` once it has the job's environment
(:func:`enter_job`). A reload keeps the module objects, so the toolkit's other modules, which
hold ``environment`` as a module and read its paths when called, see the job's paths.
``tests/local/test_zygote.py`` checks that nothing else kept a path of the zygote's.

Sessions. The toolkit builds its ``Environment`` three times per job, each calling
``boto3.session.Session()`` for the region; most of a session's cost is registering botocore's
built-in event handlers (some 400, each checked with ``inspect``). The zygote registers them once
in an event emitter (:func:`preload`); in the job, the toolkit's ``environment`` module sees a
``boto3`` whose ``session.Session()`` builds each session on a copy of that emitter (botocore's
``event_hooks`` and ``include_builtin_handlers=False``) and is boto3 itself otherwise
(:class:`_Boto3`). Only the emitter is made ahead: the sessions are new, built in the job's
environment, and read their configuration (region, profile, config files) there, as the toolkit's
own would. boto3 and botocore are not patched; only the toolkit's reference to boto3 is.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from typing import Any

import boto3
import boto3.session
import botocore.session
from botocore.hooks import HierarchicalEmitter

# the toolkit's entry (``python -m sagemaker_training.cli.train`` runs ``trainer.train()``),
# which imports every module a script-mode job uses
_TOOLKIT = "sagemaker_training.trainer"
# the toolkit's modules that read SAGEMAKER_BASE_DIR at import, in dependency order:
# ``environment``'s paths, ``intermediate_output``'s files under them, and ``entry_point``'s
# default code folder of ``install``
PER_JOB_MODULES = (
    "sagemaker_training.environment",
    "sagemaker_training.intermediate_output",
    "sagemaker_training.entry_point",
)
_BASE_DIR = "SAGEMAKER_BASE_DIR"
# the zygote's SAGEMAKER_BASE_DIR while it imports the toolkit: no job's, and easy to find if a
# path of it survived into a job (the toolkit would otherwise invent and log one under ~)
ZYGOTE_BASE_DIR = "/nonexistent/airflow-hpt-zygote/opt/ml"

_handlers: HierarchicalEmitter | None = None


def preload() -> None:
    """In the zygote: import the toolkit, register botocore's built-in event handlers once."""
    global _handlers
    saved = os.environ.get(_BASE_DIR)
    os.environ[_BASE_DIR] = ZYGOTE_BASE_DIR
    try:
        importlib.import_module(_TOOLKIT)
    finally:
        if saved is None:
            del os.environ[_BASE_DIR]
        else:
            os.environ[_BASE_DIR] = saved
    # every job's child inherits this emitter through the fork: a copy of it holds what a new
    # Session would register, and reads nothing of the environment (the sessions do, later).
    # botocore's initializers (``botocore.register_initializer``, none in the backend's
    # environment) would register theirs here and again in each session
    _handlers = HierarchicalEmitter()
    botocore.session.Session(event_hooks=_handlers)


def enter_job() -> None:
    """In the job's child, its environment set: the toolkit's paths for the job, warm sessions."""
    for name in PER_JOB_MODULES:
        importlib.reload(sys.modules[name])
    assert _handlers is not None, "the zygote calls preload() first"
    # the reload bound ``boto3`` again in ``environment``: the one module creating Sessions on
    # the training path (for the region)
    vars(sys.modules[PER_JOB_MODULES[0]])["boto3"] = _Boto3(_handlers)


class _SessionModule:
    """``boto3.session`` whose ``Session()`` starts from a copy of registered built-in handlers."""

    def __init__(self, handlers: HierarchicalEmitter) -> None:
        self._handlers = handlers

    def Session(self, *args: Any, botocore_session: Any = None, **kwargs: Any) -> boto3.session.Session:
        if botocore_session is None:
            # what boto3 does (``botocore.session.get_session()``), less the registration of
            # the built-in handlers, which the copy already holds
            botocore_session = botocore.session.Session(
                event_hooks=copy.copy(self._handlers), include_builtin_handlers=False
            )
        return boto3.session.Session(*args, botocore_session=botocore_session, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(boto3.session, name)


class _Boto3:
    """boto3 as the toolkit sees it in a job: itself, with :class:`_SessionModule` as ``session``."""

    def __init__(self, handlers: HierarchicalEmitter) -> None:
        self.session = _SessionModule(handlers)

    def __getattr__(self, name: str) -> Any:
        return getattr(boto3, name)
