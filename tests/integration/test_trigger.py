"""TuningJobTrigger on its own, in an event loop, against the local backend over HTTP (real aiobotocore)."""

from __future__ import annotations

import asyncio
import importlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.amazon.aws.hooks import base_aws
from airflow.triggers.base import TriggerEvent

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.triggers import shared_poll
from airflow_hpt.triggers.data_files import SteppedJSONFileLoader
from airflow_hpt.triggers.tuning import TuningJobTrigger, ended_job
from tests.local.conftest import CountingFaults, quadratic_request, wait_for
from tests.waiting import PATIENCE_SECONDS, wait_until_async

NO_BOTOCORE_RETRIES = {"retries": {"total_max_attempts": 1}}


@pytest.fixture
def faults() -> CountingFaults:
    return CountingFaults()


def import_string(classpath: str) -> Any:
    """What the triggerer does with a serialized trigger's class path."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


def make_trigger(name: str, **overrides: Any) -> TuningJobTrigger:
    kwargs: dict[str, Any] = {
        "tuning_job_name": name,
        "aws_conn_id": "aws_default",
        "region_name": None,
        "verify": None,
        "botocore_config": NO_BOTOCORE_RETRIES,
        "check_interval": 0.3,
        "deadline": None,
        "stop_on_kill": True,
        **overrides,
    }
    return TuningJobTrigger(**kwargs)


def start(
    client: Any, name: str, *, sleep: float = 0.0, max_jobs: int = 2, hold: Path | None = None, **options: Any
) -> None:
    """``hold``: the training jobs stay running until that file exists (quadratic.py --hold)."""
    static = {"sleep": str(sleep)} if sleep else {}
    if hold is not None:
        static["hold"] = str(hold)
    client.create_hyper_parameter_tuning_job(
        **quadratic_request(name, max_jobs=max_jobs, parallel=2, static=static or None, **options)
    )


async def first_event(trigger: TuningJobTrigger, timeout: float = PATIENCE_SECONDS) -> TriggerEvent:
    events: AsyncIterator[TriggerEvent] = trigger.run()
    try:
        return await asyncio.wait_for(anext(events), timeout)
    finally:
        await events.aclose()


def test_serialize_round_trips() -> None:
    trigger = make_trigger("job-a", deadline=1_900_000_000.5, verify="/ca.pem", region_name="eu-west-1")
    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert classpath == "airflow_hpt.triggers.tuning.TuningJobTrigger"


def test_ended_event_names_the_job_and_how_it_ended(client: Any) -> None:
    start(client, "trig-done")
    event = asyncio.run(first_event(make_trigger("trig-done")))
    assert event.payload == {"status": "ended", "tuning_job_name": "trig-done", "job_status": "Completed"}
    assert ended_job(event.payload) == "trig-done"
    # the client the trigger polled with was built from the provider's shared data loader, its files
    # parsed in steps (airflow_hpt/triggers/data_files.py) so the event loop ran meanwhile
    assert isinstance(base_aws._loader.file_loader, SteppedJSONFileLoader)


async def polled(faults: CountingFaults, times: int = 2) -> None:
    """Until the backend has answered the trigger's polls ``times`` times since ``faults.calls`` was cleared."""
    await wait_until_async(
        f"{times} polls",
        lambda: (
            faults.calls["DescribeHyperParameterTuningJob"] + faults.calls["ListHyperParameterTuningJobs"]
            >= times
        ),
    )


def test_thrown_away_mid_wait_and_rebuilt_from_serialized_form(
    client: Any, faults: CountingFaults, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    start(client, "trig-restart", hold=release)
    trigger = make_trigger("trig-restart")

    async def throw_away() -> None:
        faults.calls.clear()
        run = asyncio.create_task(first_event(trigger))
        await polled(faults)
        assert not run.done()
        run.cancel()  # the triggerer going away
        with pytest.raises(asyncio.CancelledError):
            await run
        await trigger.cleanup()

    asyncio.run(throw_away())
    assert wait_for(client, "trig-restart", ("InProgress",))["HyperParameterTuningJobStatus"] == "InProgress"

    release.touch()
    classpath, kwargs = trigger.serialize()
    event = asyncio.run(first_event(import_string(classpath)(**kwargs)))
    assert event.payload["job_status"] == "Completed"


@pytest.mark.parametrize("stop_on_kill", [True, False])
def test_on_kill_stops_the_job_only_when_asked(
    client: Any, faults: CountingFaults, stop_on_kill: bool, tmp_path: Path
) -> None:
    name = f"trig-kill-{str(stop_on_kill).lower()}"
    start(client, name, max_jobs=4, hold=tmp_path / "never")
    trigger = make_trigger(name, stop_on_kill=stop_on_kill)

    async def kill() -> None:
        faults.calls.clear()
        run = asyncio.create_task(first_event(trigger))
        await polled(faults)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        await trigger.on_kill()  # what the triggerer does after a user marked the task failed
        await trigger.cleanup()

    asyncio.run(kill())
    status = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "HyperParameterTuningJobStatus"
    ]
    if stop_on_kill:
        assert status in {"Stopping", "Stopped"}
        assert wait_for(client, name)["HyperParameterTuningJobStatus"] == "Stopped"
    else:
        assert status == "InProgress"
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def test_deadline_stops_the_job_and_times_out(client: Any, tmp_path: Path) -> None:
    start(client, "trig-deadline", max_jobs=4, hold=tmp_path / "never")
    event = asyncio.run(first_event(make_trigger("trig-deadline", deadline=time.time() + 1.0)))
    assert event.payload["status"] == "timeout" and event.payload["stopped"] is True
    with pytest.raises(TimeoutError, match="trig-deadline did not finish within max_wait"):
        ended_job(event.payload)
    assert wait_for(client, "trig-deadline")["HyperParameterTuningJobStatus"] == "Stopped"


def test_a_poll_that_ends_its_last_trigger_still_logs_its_summary(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The job ended before its trigger: the first poll's answer ends the trigger, whose leaving
    cancels the poller (its last watch), yet the poll's summary is in the log."""
    start(client, "trig-ended-first")
    wait_for(client, "trig-ended-first")
    with caplog.at_level("INFO", logger=shared_poll.log.name):
        event = asyncio.run(first_event(make_trigger("trig-ended-first")))
    assert event.payload["job_status"] == "Completed"
    assert "Shared poll: 1 tuning job(s) watched, no List call, 1 Describe call(s)" in caplog.text


def test_unknown_job_is_an_error_event(backend: LocalSageMaker) -> None:
    event = asyncio.run(first_event(make_trigger("no-such-job")))
    assert event.payload["status"] == "error"
    with pytest.raises(RuntimeError, match=r"no-such-job.*ResourceNotFound"):
        ended_job(event.payload)


def test_many_triggers_share_one_list_per_interval(client: Any, faults: CountingFaults) -> None:
    names = [f"trig-many-{index}" for index in range(8)]
    for name in names:
        start(client, name, sleep=0.5, max_jobs=4)
    # all running: wait until the last one started training
    for name in names:
        wait_for(client, name, ("InProgress",))
    faults.calls.clear()

    async def wait_all() -> tuple[list[TriggerEvent], int]:
        waiting = asyncio.gather(*(first_event(make_trigger(name, check_interval=0.5)) for name in names))
        pollers = shared_poll.event_loop_registry().pollers
        poller = await wait_until_async(
            "the shared poller", lambda: pollers.get(make_trigger("x").connection)
        )
        return await waiting, poller.polls

    events, polls = asyncio.run(wait_all())
    assert [event.payload["job_status"] for event in events] == ["Completed"] * len(names)
    # per poll for all eight: one List of the running jobs, and one of those modified since the last
    # poll when some left the running list; a Describe only for a job no List showed ending
    assert polls > 1
    assert faults.calls["ListHyperParameterTuningJobs"] <= 2 * polls, (polls, dict(faults.calls))
    assert faults.calls["DescribeHyperParameterTuningJob"] <= 3 * len(names)
    assert faults.calls["DescribeHyperParameterTuningJob"] < polls * len(names) / 3
    assert faults.calls["DescribeTrainingJob"] == 0  # the resumed task builds the result


def test_jobs_ending_together_are_reported_from_list_without_a_describe(
    client: Any, faults: CountingFaults, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    names = [f"trig-burst-{index}" for index in range(6)]
    for name in names:
        start(client, name, hold=release)
    # A lone watched job is described rather than listed (one call either way), so when the six
    # end in different polls the last would be described: a seventh job, held longer, keeps the
    # poll listing until all six have ended.
    keeper_release = tmp_path / "keeper-release"
    start(client, "trig-burst-keeper", hold=keeper_release)
    for name in [*names, "trig-burst-keeper"]:
        wait_for(client, name, ("InProgress",))

    async def wait_all() -> tuple[list[TriggerEvent], dict[str, int]]:
        keeper = asyncio.ensure_future(first_event(make_trigger("trig-burst-keeper", check_interval=0.3)))
        waiting = asyncio.gather(*(first_event(make_trigger(name, check_interval=0.3)) for name in names))
        pollers = shared_poll.event_loop_registry().pollers
        poller = await wait_until_async(
            "the shared poller", lambda: pollers.get(make_trigger("x").connection)
        )
        # every job seen running in a List: from now on, how they end is read from List alone
        await wait_until_async(
            "every job listed",
            lambda: (
                len(poller.jobs) == len(names) + 1
                and all(s.last_status == "InProgress" for s in poller.jobs.values())
            ),
        )
        faults.calls.clear()
        release.touch()
        events = await waiting
        calls = dict(faults.calls)
        keeper_release.touch()
        assert (await keeper).payload["job_status"] == "Completed"
        return events, calls

    events, calls = asyncio.run(wait_all())
    assert [event.payload["job_status"] for event in events] == ["Completed"] * len(names)
    assert calls.get("ListHyperParameterTuningJobs", 0) > 0
    assert calls.get("DescribeHyperParameterTuningJob", 0) == 0, calls
    assert calls.get("DescribeTrainingJob", 0) == 0, calls


def test_a_job_list_misses_is_still_seen(client: Any, faults: CountingFaults) -> None:
    """A List that never shows one job (paging, clock skew): that job is described every few polls."""
    names = ["trig-seen-1", "trig-seen-2", "trig-hidden"]
    for name in names:
        start(client, name, sleep=0.6, max_jobs=4)

    async def wait_all() -> list[TriggerEvent]:
        registry = shared_poll.event_loop_registry()
        connection = make_trigger("x").connection
        async with registry.client(connection) as real:
            registry.clients[connection]._client = _HidingClient(real, "trig-hidden")
            return await asyncio.gather(*(first_event(make_trigger(name)) for name in names))

    events = asyncio.run(wait_all())
    assert [event.payload["job_status"] for event in events] == ["Completed"] * 3


class _HidingClient:
    """The real aiobotocore client, except that List never returns one job."""

    def __init__(self, client: Any, hidden: str) -> None:
        self._client, self._hidden = client, hidden
        self.described: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def list_hyper_parameter_tuning_jobs(self, **kwargs: Any) -> dict[str, Any]:
        page = await self._client.list_hyper_parameter_tuning_jobs(**kwargs)
        page["HyperParameterTuningJobSummaries"] = [
            summary
            for summary in page["HyperParameterTuningJobSummaries"]
            if summary["HyperParameterTuningJobName"] != self._hidden
        ]
        return page


def test_throttling_and_server_errors_never_end_the_trigger(client: Any, faults: CountingFaults) -> None:
    names = [f"trig-storm-{index}" for index in range(3)]
    for name in names:
        start(client, name, sleep=1.0)
    # botocore's own retries are off here (NO_BOTOCORE_RETRIES), so every fault reaches the trigger's
    # backoff; at a third of the calls a run takes seconds (at half, the jittered backoff of a long
    # streak makes it a minute; the DAG-level storm test runs half with botocore's retries on)
    faults.rates = {"*": 0.33}
    faults.server_error_share = 0.5

    async def wait_all() -> list[TriggerEvent]:
        return await asyncio.gather(*(first_event(make_trigger(name), timeout=120) for name in names))

    events = asyncio.run(wait_all())
    faults.rates = {}
    assert [event.payload["job_status"] for event in events] == ["Completed"] * 3
    assert sum(faults.injected.values()) >= 2


def test_a_poll_wakes_its_triggers_in_batches(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each trigger a poll wakes runs a step of its own: hundreds woken together would stall the
    event loop, so a poll wakes at most DELIVERIES_PER_LOOP_STEP per loop step (here 1, for three)."""
    monkeypatch.setattr(shared_poll, "DELIVERIES_PER_LOOP_STEP", 1)
    release = tmp_path / "release"
    names = [f"trig-batch-{index}" for index in range(3)]
    for name in names:
        start(client, name, hold=release)
    for name in names:
        wait_for(client, name, ("InProgress",))

    async def woken_at_steps() -> list[int]:
        loop = asyncio.get_running_loop()
        steps = 0

        def count_steps() -> None:
            nonlocal steps
            steps += 1
            loop.call_soon(count_steps)  # runs once in every step of the loop

        count_steps()

        async def first_wake(watch: shared_poll.Watch) -> int:
            await watch.changed.wait()
            return steps

        poller = shared_poll.event_loop_registry().poller(make_trigger("x").connection)
        watches = [shared_poll.Watch(name, 0.3) for name in names]
        for watch in watches:
            poller.add(watch)
        try:
            return await asyncio.wait_for(
                asyncio.gather(*(first_wake(watch) for watch in watches)), PATIENCE_SECONDS
            )
        finally:
            for watch in watches:
                poller.remove(watch)

    steps = asyncio.run(woken_at_steps())
    release.touch()
    # the first poll lists all three running: one wakes per step, in three different steps
    assert len(set(steps)) == 3, steps
    for name in names:
        assert wait_for(client, name)["HyperParameterTuningJobStatus"] == "Completed"


def test_jobs_ending_together_are_reported_page_by_page(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Among the jobs modified since the previous poll, those on the first page are reported before
    the next page is asked for: in a burst of hundreds, the first hundred do not wait for the rest."""
    monkeypatch.setattr(shared_poll, "LIST_PAGE_SIZE", 1)
    names = [f"trig-pages-{index}" for index in range(3)]
    for name in names:
        start(client, name)
    for name in names:
        assert wait_for(client, name)["HyperParameterTuningJobStatus"] == "Completed"

    async def list_calls_when_reported() -> tuple[list[int], int]:
        registry = shared_poll.event_loop_registry()
        connection = make_trigger("x").connection
        poller = shared_poll.Poller(registry, connection)  # no poll of its own: driven by hand
        watches = [shared_poll.Watch(name, 2.0) for name in names]
        for watch in watches:  # seen running at the previous poll
            poller.jobs[watch.name.lower()] = shared_poll.JobState(watch.name, {watch}, "InProgress")
        poller.listed_at = time.time()
        async with registry.client(connection) as real:
            counting = _CountingClient(real)

            async def list_calls_when_woken(watch: shared_poll.Watch) -> int:
                await watch.changed.wait()
                return counting.lists

            woken = [asyncio.ensure_future(list_calls_when_woken(watch)) for watch in watches]
            reported = await poller._report_recently_ended(counting, {name.lower() for name in names})
            assert reported == {name.lower() for name in names}
            return await asyncio.gather(*woken), counting.lists

    list_calls, pages = asyncio.run(list_calls_when_reported())
    assert pages == len(names)  # one job a page
    assert min(list_calls) < pages, list_calls  # the first job reported before the last page was asked


class _CountingClient:
    """The real aiobotocore client, counting its List calls."""

    def __init__(self, client: Any) -> None:
        self._client, self.lists = client, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def list_hyper_parameter_tuning_jobs(self, **kwargs: Any) -> dict[str, Any]:
        self.lists += 1
        return dict(await self._client.list_hyper_parameter_tuning_jobs(**kwargs))
