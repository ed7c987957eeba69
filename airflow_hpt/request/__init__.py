"""Render, coerce, normalize and validate a CreateHyperParameterTuningJob request.

Pure logic shared by the operator, the CLI and the local backend: no Airflow import and no boto3
client. The schema comes from botocore's ``sagemaker`` service model, loaded lazily (it is a large
JSON file), so importing this package stays cheap. See ``docs/request.md`` for the rules.

The stages live in their own modules: ``load`` (files), ``render`` (Jinja), ``coerce`` (types and
legacy spellings), ``validate`` (the model, then the cross-field ``rules``, ``ranges`` and ``definitions``, each rule
registered with its severity and source in ``evidence``),
``defaults`` (what SageMaker fills in).
"""

from airflow_hpt.request.coerce import coerce_request, normalize_legacy
from airflow_hpt.request.defaults import DEFAULT_MAX_RUNTIME_SECONDS, with_sagemaker_defaults
from airflow_hpt.request.load import REQUEST_FILE_SUFFIXES, is_request_file, load_request_template
from airflow_hpt.request.model import OPERATION
from airflow_hpt.request.render import make_jinja_environment, render_request
from airflow_hpt.request.validate import (
    INTERNAL_TAG_PREFIX,
    VALIDATION_MODES,
    Validation,
    check_request,
    fingerprint,
    refusals,
    validate_request,
)

__all__ = [
    "DEFAULT_MAX_RUNTIME_SECONDS",
    "INTERNAL_TAG_PREFIX",
    "OPERATION",
    "REQUEST_FILE_SUFFIXES",
    "VALIDATION_MODES",
    "Validation",
    "check_request",
    "coerce_request",
    "fingerprint",
    "is_request_file",
    "load_request_template",
    "make_jinja_environment",
    "normalize_legacy",
    "refusals",
    "render_request",
    "validate_request",
    "with_sagemaker_defaults",
]
