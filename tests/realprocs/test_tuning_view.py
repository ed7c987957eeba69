"""The "Tuning job" view on a real `airflow api-server`, with the simple auth manager's users: JSON and
page for a running and a finished job of the local backend, refused without credentials or access,
no connection secret in either, and the page in a real headless Chromium (Debian's, through
playwright-core: no browser is downloaded)."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import SCRIPTS
from tests.realprocs.harness import Airflow, wait_until

TEST_BUDGET_SECONDS = 420
DAG_ID = "hpt_local_view"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium flags that work in a container without a display, a GPU or the internet
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# distinctive, so that finding them anywhere in an answer means a leak
ACCESS_KEY_ID = "AKIAVIEWLEAKCHECK0001"
SECRET_ACCESS_KEY = "view-secret-9f3c2e7a-never-shown"
PASSWORDS = {"admin": "admin-pw-1", "viewer": "viewer-pw-2", "outsider": "outsider-pw-3"}
# the simple auth manager knows roles, not DAGs: a user without a role may read no DAG at all
USERS = "admin:admin,viewer:viewer,outsider:"
# set to a path (docs/tuning-view.png) to keep the screenshot
SCREENSHOT_ENV = "AIRFLOW_HPT_VIEW_SCREENSHOT"

# one at a time, on one pytest-xdist worker (--dist loadgroup), beside the soaks' worker: each starts
# a whole Airflow, and more at once on a 2-core machine would starve each other's processes
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("airflow-processes"),
    pytest.mark.timeout(TEST_BUDGET_SECONDS + 60),
]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(
        tmp_path / "sagemaker", access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY
    ) as started:
        yield started


@pytest.fixture
def airflow(tmp_path: Path, backend: LocalSageMaker) -> Iterator[Airflow]:
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    connection = {
        "conn_type": "aws",
        "login": ACCESS_KEY_ID,
        "password": SECRET_ACCESS_KEY,
        "extra": {"endpoint_url": backend.endpoint_url, "region_name": "us-east-1"},
    }
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
    }
    instance = Airflow(tmp_path / "airflow", backend.endpoint_url, [f"{DAG_ID}.py"], env)
    try:
        yield instance
    finally:
        instance.stop_all()


class Api:
    """HTTP to the api-server as a given caller: a bearer token, a session cookie, or nobody."""

    def __init__(self, airflow: Airflow) -> None:
        self.base = f"http://127.0.0.1:{airflow.port}"

    def token(self, user: str) -> str:
        request = urllib.request.Request(
            f"{self.base}/auth/token",
            data=json.dumps({"username": user, "password": PASSWORDS[user]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return str(json.load(answer)["access_token"])

    def get(self, path: str, bearer: str | None = None, cookie: str | None = None) -> tuple[int, str]:
        headers = {}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if cookie:
            headers["Cookie"] = f"_token={cookie}"
        request = urllib.request.Request(f"{self.base}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def test_tuning_view_live_in_chromium_for_readers_only(
    airflow: Airflow, backend: LocalSageMaker, tmp_path: Path
) -> None:
    deadline = time.monotonic() + TEST_BUDGET_SECONDS
    airflow.start_services((DAG_ID,), deadline, "scheduler", "dag-processor", "triggerer")
    release = tmp_path / "release"
    conf = {"scripts": SCRIPTS.as_uri(), "hold": str(release), "max_jobs": 4, "parallel": 2}
    airflow.run("dags", "trigger", DAG_ID, "--conf", json.dumps(conf))
    wait_until(
        "the tuning task to defer",
        lambda: airflow.query(
            "select 1 from task_instance where dag_id = ? and task_id = 'tune' and state = 'deferred'", DAG_ID
        ),
        deadline,
        airflow,
    )
    ((run_id,),) = airflow.query("select run_id from dag_run where dag_id = ?", DAG_ID)
    run = quote(run_id, safe="")
    api_path, page_path = (
        f"/hpt/{kind}/{DAG_ID}/{run}/tune?map_index=-1" for kind in ("api/tuning", "tuning")
    )

    wait_until("the api-server to answer", airflow.api_healthy, deadline, airflow)
    api = Api(airflow)
    viewer, outsider, admin = api.token("viewer"), api.token("outsider"), api.token("admin")

    # refused: no credentials (401), a user who may read no DAG (403), by token or session cookie
    for path in (api_path, page_path):
        assert api.get(path)[0] == 401
        assert api.get(path, bearer=outsider)[0] == 403
        assert api.get(path, cookie=outsider)[0] == 403
        assert api.get(path, bearer="not-a-token")[0] in {401, 403}

    # running: the viewer sees the job in progress and its running training jobs
    def running_rows() -> dict[str, Any] | None:
        status, body = api.get(api_path, bearer=viewer)
        assert status == 200, body
        data: dict[str, Any] = json.loads(body)
        return data if data["training_jobs"] else None

    running = wait_until("the training jobs to show", running_rows, deadline, airflow)
    assert running["status"] == "InProgress" and running["finished"] is False
    assert {row["status"] for row in running["training_jobs"]} == {"InProgress"}
    assert running["consumption"]["jobs_by_basis"]["running"] >= 1
    # the same answer for the UI's session cookie
    status, body = api.get(api_path, cookie=viewer)
    assert status == 200 and json.loads(body)["tuning_job_name"] == running["tuning_job_name"]

    # the UI shows the view on task instances; on the local backend the extra link opens it too
    status, plugins = api.get("/api/v2/plugins", bearer=admin)
    assert status == 200, plugins
    (ours,) = [
        plugin for plugin in json.loads(plugins)["plugins"] if plugin["name"] == "airflow_hpt_tuning_view"
    ]
    assert [(view["destination"], view["url_route"]) for view in ours["external_views"]] == [
        ("task_instance", "tuning-job")
    ]
    status, links = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run}/taskInstances/tune/links", bearer=admin)
    assert status == 200, links
    assert json.loads(links)["extra_links"]["SageMaker Tuning Job"] == page_path

    # the page, open while the job runs, follows it to its end without a reload
    ui_task = f"{DAG_ID}/runs/{run}/tasks/tune"
    seen, screenshot = _follow_in_chromium(api, page_path, ui_task, viewer, release, tmp_path)
    assert seen["first_status"] == "InProgress" and seen["first_rows"] >= 1
    assert seen["status"] == "Completed" and seen["loads"] == 1
    assert seen["rows"] == 4
    assert seen["chart_points"] == 4 and seen["best_so_far_line"]
    assert seen["rows_in_ui"] == 4
    assert seen["outside_requests"] == []

    def all_ended() -> dict[str, str] | None:
        states = dict(airflow.query("select task_id, state from task_instance where dag_id = ?", DAG_ID))
        return (
            states
            if all(state in {"success", "failed", "up_for_retry"} for state in states.values())
            else None
        )

    assert wait_until("the tasks to end", all_ended, deadline, airflow) == {
        "tune": "success",
        "watch": "success",
        "other": "success",
    }

    status, body = api.get(api_path, cookie=viewer)
    assert status == 200, body
    data = json.loads(body)
    client = boto3.client(
        "sagemaker",
        endpoint_url=backend.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    described = client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=data["tuning_job_name"]
    )
    listed = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=data["tuning_job_name"]
    )["TrainingJobSummaries"]
    assert data["status"] == described["HyperParameterTuningJobStatus"] == "Completed" and data["finished"]
    assert len(data["training_jobs"]) == len(listed) == 4
    best = described["BestTrainingJob"]["TrainingJobName"]
    assert [row["name"] for row in data["training_jobs"] if row["best"]] == [best]
    assert len(data["series"]) == 4 and data["series"][-1]["best_so_far"] == data["best"]["objective"]
    # the browser marked the same best, and sorting by the objective (minimized) puts it first
    assert seen["best_rows"] == [best] and seen["sorted_first"] == best
    # the view and the task's result count the same billable seconds
    (result,) = airflow.query(
        "select value from xcom where dag_id = ? and task_id = 'tune' and key = 'return_value'", DAG_ID
    )[0]
    assert json.loads(result)["consumption"]["training_seconds"] == data["consumption"]["training_seconds"]
    # priced with the task's instance_prices, which the view reads from the task's rendered fields
    spent = data["consumption"]
    assert spent["cost"] == pytest.approx(spent["instance_hours"] * 0.115, abs=1e-4) and spent["cost"] > 0

    # the sensor's task instance shows the same job; a task without a tuning job has none
    status, sensed = api.get(f"/hpt/api/tuning/{DAG_ID}/{run}/watch", bearer=viewer)
    assert status == 200 and json.loads(sensed)["tuning_job_name"] == data["tuning_job_name"]
    assert api.get(f"/hpt/api/tuning/{DAG_ID}/{run}/other", bearer=viewer)[0] == 404
    status, other_page = api.get(f"/hpt/tuning/{DAG_ID}/{run}/other", bearer=viewer)
    assert status == 200 and "not a tuning task" in other_page

    status, page = api.get(page_path, bearer=viewer)
    assert status == 200
    for answer in (body, page, sensed, seen["html"]):
        assert SECRET_ACCESS_KEY not in answer and ACCESS_KEY_ID not in answer
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copy(screenshot, os.environ[SCREENSHOT_ENV])


def _follow_in_chromium(
    api: Api, page_path: str, ui_task: str, session_token: str, release: Path, tmp_path: Path
) -> tuple[dict[str, Any], Path]:
    """Open the page in headless Chromium while the job runs, signed in as the UI signs in (the
    `_token` session cookie); let the job go on (`release`), and wait for the page to show its end."""
    from playwright.sync_api import sync_playwright

    screenshot = tmp_path / "tuning-view.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_cookies([{"name": "_token", "value": session_token, "url": api.base}])
            page = context.new_page()
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(api.base) else outside.append(r.url))
            loads: list[str] = []
            page.on("load", lambda p: loads.append(p.url))
            answer = page.goto(api.base + page_path)
            assert answer is not None and answer.status == 200
            page.wait_for_selector("#jobs tbody tr")
            seen: dict[str, Any] = {
                "first_status": page.locator("#status").inner_text(),
                "first_rows": page.locator("#jobs tbody tr").count(),
            }
            release.touch()
            # the page reads its JSON again every 10 s while the job runs
            page.wait_for_function(
                "document.getElementById('status').textContent === 'Completed'", timeout=240_000
            )
            page.screenshot(path=str(screenshot), full_page=True)
            seen |= {
                "status": page.locator("#status").inner_text(),
                "rows": page.locator("#jobs tbody tr").count(),
                "best_rows": page.locator("#jobs tbody tr[data-best='true']").evaluate_all(
                    "rows => rows.map(r => r.dataset.name)"
                ),
                "chart_points": page.locator("#chart .point").count(),
                "best_so_far_line": page.locator("#chart path.best-so-far").count() == 1,
                "html": page.content(),
                "loads": len(loads),
            }
            page.locator("#jobs th[data-key='objective']").click()
            seen["sorted_first"] = page.locator("#jobs tbody tr").first.get_attribute("data-name")
            # inside Airflow's own UI: the task instance's "Tuning job" tab frames the view
            ui = context.new_page()
            ui.goto(f"{api.base}/dags/{ui_task}/plugin/tuning-job")
            framed = ui.frame_locator("iframe").locator("#jobs tbody tr")
            # (on an unmapped task Airflow's UI leaves "{MAP_INDEX}" in the href: read as -1)
            framed.first.wait_for(timeout=120_000)
            seen["rows_in_ui"] = framed.count()
            seen["outside_requests"] = outside
        finally:
            browser.close()
    return seen, screenshot
