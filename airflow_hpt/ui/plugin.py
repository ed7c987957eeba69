"""The plugin that the provider registers (``plugins`` in its provider info): the "Tuning job" view of
CreateTuningJobOperator and TuningJobSensor task instances, inside Airflow's UI.

Airflow loads providers' plugins in every process, task runners included (for their macros): this
module stays light, and the FastAPI app (the api-server's security, the hooks) loads on its first request.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/hpt"
VIEW_HREF = URL_PREFIX + "/tuning/{DAG_ID}/{RUN_ID}/{TASK_ID}?map_index={MAP_INDEX}"


class _AppOnFirstRequest:
    """An ASGI app that imports and builds airflow_hpt.ui.app.app when the api-server first calls it."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            with self._lock:
                from airflow_hpt.ui.app import app

                self._app = app
        await self._app(scope, receive, send)


class TuningViewPlugin(AirflowPlugin):
    name = "airflow_hpt_tuning_view"
    fastapi_apps = [  # noqa: RUF012 (Airflow reads these class attributes)
        {"app": _AppOnFirstRequest(), "url_prefix": URL_PREFIX, "name": "airflow-hpt tuning job view"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Tuning job",
            "href": VIEW_HREF,
            "destination": "task_instance",
            "url_route": "tuning-job",
            "category": "SageMaker",
        }
    ]
