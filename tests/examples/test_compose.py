"""docker-compose.yaml and its image, checked without a container engine (none runs here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / "docker" / "Dockerfile.dockerignore"
DAGS_IN_CONTAINER = "/opt/airflow/dags"
KEY_VARIABLE = "AIRFLOW_HPT_LOCAL_ACCESS_KEY_ID"
SECRET_VARIABLE = "AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return " ".join(command) if isinstance(command, list) else str(command)


def under_ci() -> bool:
    """CI sets CI (``.ci/run`` too): there a check must run, never skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def test_docker_compose_config_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        missing = "docker-compose is not installed (Debian package docker-compose)"
        if under_ci():
            pytest.fail(f"{missing}: CI must run this check (.ci/run installs it)")
        pytest.skip(f"{missing}; the checks below still run")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_HPT_LOCAL_")}

    def config(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "-f", str(COMPOSE), "config", "-q"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**env, **extra_env},
            timeout=60,
        )

    done = config({SECRET_VARIABLE: "s3cret-for-the-test"})
    assert done.returncode == 0, done.stderr
    # without a secret of the user's choosing, nothing starts
    refused = config({})
    assert refused.returncode != 0
    assert SECRET_VARIABLE in refused.stderr


def test_both_services_run_the_image_built_from_the_repository(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"airflow", "local-sagemaker"}
    for service in services.values():
        assert service["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
        assert "healthcheck" in service and service["healthcheck"]["test"]
        # the dags are at the same path in both: the backend reads the training code from there
        assert f"./dags:{DAGS_IN_CONTAINER}:ro" in service["volumes"]


def test_the_image_is_airflow_3_3_with_this_package_installed() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.\d+-python3\.1\d\s*$", text, re.MULTILINE)
    assert '"/opt/airflow-hpt[demo]"' in text
    # the build context ignores everything but what the image copies (.venv and .demo are large)
    kept = {line[1:].rstrip("/") for line in DOCKERIGNORE.read_text().splitlines() if line.startswith("!")}
    for line in re.findall(r"^COPY .*$", text, re.MULTILINE):
        *sources, _target = [part for part in line.split()[1:] if not part.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"{source} (copied into the image) is missing"
            assert source in kept, f"{source} is left out of the build context by {DOCKERIGNORE.name}"


def test_the_image_copies_every_file_the_package_build_reads() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    copied = {
        source
        for line in re.findall(r"^COPY .*$", DOCKERFILE.read_text(), re.MULTILINE)
        for source in [part for part in line.split()[1:] if not part.startswith("--")][:-1]
    }
    # setuptools refuses to build without the readme and the license files pyproject.toml names
    assert {"pyproject.toml", project["readme"], *project["license-files"]} <= copied


def test_the_backend_serves_on_the_port_the_connection_names(compose: dict[str, Any]) -> None:
    backend, airflow = compose["services"]["local-sagemaker"], compose["services"]["airflow"]
    command = _command(backend)
    assert "airflow-hpt local-sagemaker --host 0.0.0.0 --port 4599 --home /data" in command
    assert "python -m airflow_hpt.demo.data --home /data" in command
    connection = json.loads(airflow["environment"]["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["conn_type"] == "aws"
    # Airflow signs with the credentials the backend checks (compose interpolates both from the shell)
    credentials = backend["environment"]
    assert connection["login"] == credentials[KEY_VARIABLE] == f"${{{KEY_VARIABLE}:-local}}"
    assert connection["password"].startswith(f"${{{SECRET_VARIABLE}:?")
    assert credentials[SECRET_VARIABLE].startswith(f"${{{SECRET_VARIABLE}:?")
    endpoint = urlsplit(connection["extra"]["endpoint_url"])
    assert (endpoint.hostname, endpoint.port) == ("local-sagemaker", 4599)
    assert connection["extra"]["region_name"]


def test_airflow_is_standalone_and_waits_for_a_healthy_backend(compose: dict[str, Any]) -> None:
    airflow = compose["services"]["airflow"]
    assert _command(airflow) == "standalone"
    assert airflow["depends_on"] == {"local-sagemaker": {"condition": "service_healthy"}}
    assert airflow["environment"]["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert "/api/v2/monitor/health" in " ".join(airflow["healthcheck"]["test"])
    assert "sagemaker-data" in compose["volumes"]
