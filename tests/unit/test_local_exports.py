"""The local backend's packages give their public names, and import their modules only when asked."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

LOCAL = Path(__file__).resolve().parents[2] / "airflow_hpt" / "local"
PACKAGES = [
    "airflow_hpt.local",
    *sorted(f"airflow_hpt.local.{p.parent.name}" for p in LOCAL.glob("*/__init__.py")),
]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_public_name_resolves_and_nothing_else_does(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        getattr(module, name)  # an AttributeError names a public name its module does not give
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = module.no_such_name


def test_a_model_server_process_imports_none_of_the_backend_beside_it() -> None:
    """``python -m airflow_hpt.local.hosting.serving`` and the zygote load their packages, which
    must not pull the rest of the backend into every model server and training job."""
    probe = (
        "import sys, airflow_hpt.local.hosting.serving, airflow_hpt.local.training.zygote; "
        "print(sorted(m for m in sys.modules if m.startswith('airflow_hpt.local.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == str(
        sorted(
            [
                "airflow_hpt.local.hosting",
                "airflow_hpt.local.hosting.serving",
                "airflow_hpt.local.training",
                "airflow_hpt.local.training.zygote",
            ]
        )
    )
