"""The production-shaped deployment, described once: which components run which command, the settings
they share (docker/airflow.env) and how the addresses between them are written. scripts/stack starts
exactly this as processes (tests/realprocs/stack.py); docker-compose.yaml declares the same, and
tests/examples/test_compose.py holds the two equal. Pure: imports neither Airflow nor boto3."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV_FILE = REPO / "docker" / "airflow.env"

# Postgres role, password and database, as in Airflow's own docker-compose.yaml
DATABASE = "airflow"
BACKEND_PORT = 4599


@dataclass(frozen=True)
class Component:
    """One Airflow component: its docker-compose service name, its `airflow ...` command, and how
    many of it run."""

    service: str
    command: tuple[str, ...]
    replicas: int = 1


INIT = Component("airflow-init", ("db", "migrate"))
API_SERVER = Component("airflow-apiserver", ("api-server",))
SCHEDULER = Component("airflow-scheduler", ("scheduler",))
DAG_PROCESSOR = Component("airflow-dag-processor", ("dag-processor",))
WORKER = Component("airflow-worker", ("celery", "worker"))
# two triggerers: a deferred task's trigger survives one of them dying
TRIGGERER = Component("airflow-triggerer", ("triggerer",), replicas=2)
LONG_RUNNING = (API_SERVER, SCHEDULER, DAG_PROCESSOR, WORKER, TRIGGERER)
SERVERS = ("postgres", "redis")
BACKEND = "local-sagemaker"

# the settings that name another component's address: set by each deployment, from addresses()
ADDRESS_SETTINGS = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
)
# set by each deployment too: secrets (compose takes them from the shell) and the backend connection
SECRET_SETTINGS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_CONN_AWS_DEFAULT")


def shared_settings(path: Path = ENV_FILE) -> dict[str, str]:
    """The env file's KEY=VALUE lines (comments and blank lines skipped), as docker-compose reads it."""
    settings = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        if not separator or not key:
            raise ValueError(f"{path.name}:{number}: expected KEY=VALUE, got {line!r}")
        settings[key] = value
    return settings


def addresses(
    *, postgres: tuple[str, int], redis: tuple[str, int], api_server: tuple[str, int]
) -> dict[str, str]:
    """The address settings for components reachable at these (host, port)s."""
    database = f"{DATABASE}:{DATABASE}@{postgres[0]}:{postgres[1]}/{DATABASE}"
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
        # the driver named: SQLAlchemy 2.1 takes psycopg 3 for a bare postgresql://
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{database}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{redis[0]}:{redis[1]}/0",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_server[0]}:{api_server[1]}/execution/",
    }
