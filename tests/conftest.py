"""Test-wide setup: a private AIRFLOW_HOME whose dags folder holds the example and test DAGs.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it. `dag.test()` in Airflow 3.3 syncs the configured DAG bundle first: a DAG
has to live inside the configured dags folder, hence the copies.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from filelock import FileLock

# how the tests are grouped and ordered on pytest-xdist workers
pytest_plugins = ["tests.xdist_groups", "tests.summaries"]

REPO = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="airflow-hpt-tests-"))
_CREATOR = os.getpid()


def _remove_home() -> None:
    # not in a process forked from this one that exits normally: the home is still in use
    if os.getpid() == _CREATOR:
        shutil.rmtree(_HOME, ignore_errors=True)


atexit.register(_remove_home)
DAGS_FOLDER = _HOME / "dags"

os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# never reach a real account from the tests
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_var, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
# OpenLineage's listener is registered, and its transport read, once per process (cached): set for
# the whole session, so the lineage tests see events whatever ran first. A file, nothing leaves.
OPENLINEAGE_EVENTS = _HOME / "openlineage.jsonl"
os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
    {"type": "file", "log_file_path": str(OPENLINEAGE_EVENTS), "append": True}
)
for _var in ("OPENLINEAGE_URL", "OPENLINEAGE_DISABLED", "AIRFLOW__OPENLINEAGE__DISABLED"):
    os.environ.pop(_var, None)

# the example and test DAGs name their training code in this dags folder: local backends trust it
os.environ["AIRFLOW_HPT_LOCAL_CODE_ROOTS"] = str(DAGS_FOLDER)
shutil.copytree(REPO / "dags", DAGS_FOLDER / "examples")
shutil.copytree(REPO / "tests" / "dags", DAGS_FOLDER / "testing")


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite metadata database to copy, never to use in place.

    Migrating costs several CPU-seconds (half a minute of wall time on a busy 2-core machine); with
    pytest-xdist the first worker that needs it migrates it in the run's shared temporary folder,
    and every test that needs a fresh database copies it: the in-process Airflow of `dag.test()`
    (`airflow_db`) and the homes of the real-process tests (tests/realprocs/harness.py). Nothing in
    it depends on the home: the schema, the default pool and the log templates.
    """
    basetemp = tmp_path_factory.getbasetemp()
    # a worker's basetemp is <the run's basetemp>/popen-gwN
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    template = shared / "airflow-db-template"
    with FileLock(shared / "airflow-db-template.lock"):
        if not (template / "migrated").exists():
            shutil.rmtree(template, ignore_errors=True)
            template.mkdir()
            airflow = Path(sys.executable).with_name("airflow")
            env = {
                **os.environ,
                "AIRFLOW_HOME": str(template),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{template / 'airflow.db'}",
            }
            subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=env)
            (template / "migrated").touch()
    return template / "airflow.db"


@pytest.fixture(scope="session")
def airflow_db(migrated_airflow_db: Path) -> Path:
    """The private AIRFLOW_HOME of this process, with a migrated SQLite metadata database."""
    shutil.copyfile(migrated_airflow_db, _HOME / "airflow.db")
    return _HOME


def load_dag_module(relative_path: str) -> ModuleType:
    """Import a DAG file from the test dags folder (e.g. ``testing/tune_basic.py``)."""
    path = DAGS_FOLDER / relative_path
    name = "dagfile_" + relative_path.replace("/", "_").removesuffix(".py")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws_conn_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the `aws_default` connection at an endpoint: call the yielded function with its URL."""

    def point_at(endpoint_url: str, region: str = "us-east-1") -> None:
        import json

        monkeypatch.setenv(
            "AIRFLOW_CONN_AWS_DEFAULT",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": endpoint_url, "region_name": region},
                }
            ),
        )

    yield point_at


def sagemaker_client(endpoint_url: str) -> Any:
    """A real boto3 SageMaker client on a loopback endpoint, signing with the test credentials."""
    import boto3

    return boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def local_sagemaker(tmp_path: Path, aws_conn_env: Any) -> Iterator[Any]:
    """A fresh local SageMaker backend, with the `aws_default` connection pointing at it; yields a client."""
    from airflow_hpt.local import LocalSageMaker

    with LocalSageMaker(tmp_path / "backend", endpoint_delay_seconds=0.2) as backend:
        aws_conn_env(backend.endpoint_url)
        yield sagemaker_client(backend.endpoint_url)
