"""docker-compose.yaml and its image, checked without a container engine (none runs here, and images
cannot be pulled): validated by `docker-compose config`, and held against the process stack of
scripts/stack through their one source of truth, tests/realprocs/services.py and docker/airflow.env:
the same services, commands, replicas and settings."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import REPO
from tests.realprocs import services
from tests.realprocs.stack import Stack

COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / "docker" / "Dockerfile.dockerignore"
DAGS_IN_CONTAINER = "/opt/airflow/dags"
KEY_VARIABLE = "AIRFLOW_HPT_LOCAL_ACCESS_KEY_ID"
SECRET_VARIABLE = "AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY"
JWT_VARIABLE = "AIRFLOW_JWT_SECRET"
# where the services reach each other inside compose's network (Airflow's compose uses the same)
COMPOSE_ADDRESSES = services.addresses(
    postgres=("postgres", 5432), redis=("redis", 6379), api_server=("airflow-apiserver", 8080)
)
AIRFLOW_SERVICES = [services.INIT.service, *(component.service for component in services.LONG_RUNNING)]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return list(command) if isinstance(command, list) else shlex.split(str(command))


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
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AIRFLOW_HPT_LOCAL_") and key != JWT_VARIABLE
    }

    def config(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "-f", str(COMPOSE), "config", "-q"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**env, **extra_env},
            timeout=60,
        )

    both = {SECRET_VARIABLE: "s3cret-for-the-test", JWT_VARIABLE: "jwt-s3cret-for-the-test"}
    done = config(both)
    assert done.returncode == 0, done.stderr
    # without secrets of the user's choosing, nothing starts
    for missing in both:
        refused = config({key: value for key, value in both.items() if key != missing})
        assert refused.returncode != 0
        assert missing in refused.stderr


def test_the_services_are_airflows_compose_plus_the_backend(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {*services.SERVERS, services.BACKEND, *AIRFLOW_SERVICES}
    assert compose["services"]["postgres"]["image"].startswith("postgres:")
    assert compose["services"]["redis"]["image"].startswith("redis:")


@pytest.mark.parametrize("component", [services.INIT, *services.LONG_RUNNING], ids=lambda c: c.service)
def test_each_airflow_service_runs_the_stacks_command(
    compose: dict[str, Any], component: services.Component
) -> None:
    service = compose["services"][component.service]
    assert _command(service) == list(component.command)
    assert service.get("deploy", {}).get("replicas", 1) == component.replicas


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_each_airflow_service_has_the_stacks_settings(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    # the shared settings come from the one env file scripts/stack reads too, and none is overridden
    assert service["env_file"] == ["docker/airflow.env"]
    environment = service["environment"]
    assert not set(environment) & set(services.shared_settings())
    assert set(environment) - {"DUMB_INIT_SETSID"} == {*services.ADDRESS_SETTINGS, *services.SECRET_SETTINGS}
    for key, value in COMPOSE_ADDRESSES.items():
        assert environment[key] == value, key
    assert environment["AIRFLOW__API_AUTH__JWT_SECRET"].startswith(f"${{{JWT_VARIABLE}:?")
    assert f"./dags:{DAGS_IN_CONTAINER}:ro" in service["volumes"]
    depends = service["depends_on"]
    for server in (*services.SERVERS, services.BACKEND):
        assert depends[server] == {"condition": "service_healthy"}
    if name != services.INIT.service:
        assert depends[services.INIT.service] == {"condition": "service_completed_successfully"}
        assert service["healthcheck"]["test"]


def test_the_stack_runs_with_the_same_settings(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    stack.ports.update(postgres=5432, redis=6379)
    settings = stack.airflow_settings(8080)
    local = services.addresses(
        postgres=("127.0.0.1", 5432), redis=("127.0.0.1", 6379), api_server=("127.0.0.1", 8080)
    )
    assert settings == {**services.shared_settings(), **local}
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_address_settings_name_the_compose_services(compose: dict[str, Any]) -> None:
    for value in COMPOSE_ADDRESSES.values():
        host = urlsplit(value.removeprefix("db+")).hostname
        assert host in compose["services"], value
    apiserver = compose["services"]["airflow-apiserver"]
    assert "127.0.0.1:8080:8080" in apiserver["ports"]
    assert "/api/v2/monitor/health" in " ".join(apiserver["healthcheck"]["test"])
    for volume in ("postgres-db-volume", "sagemaker-data", "airflow-logs"):
        assert volume in compose["volumes"]


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
    backend = compose["services"][services.BACKEND]
    command = " ".join(_command(backend))
    assert (
        f"airflow-hpt local-sagemaker --host 0.0.0.0 --port {services.BACKEND_PORT} --home /data" in command
    )
    assert "python -m airflow_hpt.demo.data --home /data" in command
    assert f"./dags:{DAGS_IN_CONTAINER}:ro" in backend["volumes"]
    credentials = backend["environment"]
    for name in AIRFLOW_SERVICES:
        connection = json.loads(compose["services"][name]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"])
        assert connection["conn_type"] == "aws"
        # Airflow signs with the credentials the backend checks (compose interpolates both from the shell)
        assert connection["login"] == credentials[KEY_VARIABLE] == f"${{{KEY_VARIABLE}:-local}}"
        assert connection["password"].startswith(f"${{{SECRET_VARIABLE}:?")
        assert credentials[SECRET_VARIABLE].startswith(f"${{{SECRET_VARIABLE}:?")
        endpoint = urlsplit(connection["extra"]["endpoint_url"])
        assert (endpoint.hostname, endpoint.port) == (services.BACKEND, services.BACKEND_PORT)
        assert connection["extra"]["region_name"]
