"""The shared poll of TuningJobTrigger: one poller per event loop and connection (on the shared
client of airflow_hpt/triggers/shared_client.py).

Per event loop and per connection (connection id, region, verify, botocore config) there is one
aiobotocore client and one poller task; each interval the poller lists the account's InProgress
(and, when needed, Stopping) tuning jobs, up to 100 per call, which tells every waiting trigger its
job's status and counters at once. Only a job that left that list (it ended, or List missed it)
is looked for among the jobs modified since the previous List (one more List, any status): its
summary tells how it ended, with no Describe, however many jobs ended together. Only a job found
there neither is described. A job that List keeps missing (paging races, clock skew, a
role without List permission) is still seen: it is described on its own every few intervals. With
a single job to watch the poller describes it directly, which is one call too and carries the best
objective so far.

Why not Airflow 3.3's ``BaseEventTrigger`` shared streams: the shared producer is opened with one
subscriber's kwargs and never learns which jobs its subscribers wait for, so the per-job state
(who to describe, when, with which client) had to live in a module registry anyway; a producer
error fails every subscribed task at once; subscribers that fall behind are failed; and such
deferrals bypass triggerer queues. The registry below gives the same sharing in every event loop
that runs the trigger's ``run()``: the triggerer's, and ``dag.test()``'s.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from airflow_hpt.hooks.tuning import async_call, error_code, is_transient
from airflow_hpt.result import TERMINAL_STATUSES
from airflow_hpt.retry import Backoff
from airflow_hpt.triggers.shared_client import Connection, SharedClient

# ListHyperParameterTuningJobs returns at most this many summaries per call.
LIST_PAGE_SIZE = 100
# A job that List has not shown for this many polls in a row is described on its own.
MISSED_LIST_POLLS = 3
# Summaries carry no best training job: while a job runs, its best objective so far is refreshed
# with a Describe at most this often (and only after more training jobs completed).
BEST_REFRESH_SECONDS = 300.0
# Jobs that left the running list are looked for among those modified since the previous listing,
# minus this much: SageMaker's clock and ours may differ, and botocore sends whole seconds.
RECENT_MARGIN_SECONDS = 60.0
# Describes in flight at once per connection: bounded so that a burst of completions does not
# trip throttling, wide enough that hundreds of jobs ending together are reported within seconds.
MAX_CONCURRENT_DESCRIBES = 32
# Triggers woken by one poll per event loop step: each then runs its own step (a progress line,
# maybe its event), and waking hundreds at once would stall the loop for a large part of a second.
DELIVERIES_PER_LOOP_STEP = 50
# The longest wait between two tries while SageMaker throttles or fails.
BACKOFF_CAP_SECONDS = 60.0

_LISTED_STATUSES = ("InProgress", "Stopping")
# The shared poll's summary line ("N jobs per List call") is logged when its figures change, and at
# least this often otherwise, so an operator sees what each triggerer's poll costs.
POLL_SUMMARY_EVERY = 60

# The shared poller serves many tasks: its own messages go to the triggerer's log.
log = logging.getLogger(__name__)


@dataclass
class Failure:
    """A non-transient error about one job (it does not exist, access denied): ends its triggers."""

    message: str


@dataclass(eq=False)
class Watch:
    """One waiting trigger: the poller puts the latest Describe (or summary, or failure) here."""

    name: str
    interval: float
    latest: dict[str, Any] | Failure | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def deliver(self, update: dict[str, Any] | Failure) -> None:
        self.latest = update
        self.changed.set()


@dataclass
class JobState:
    """What the poller knows about one watched job between polls, and who waits for it."""

    name: str
    watches: set[Watch] = field(default_factory=set)
    last_status: str | None = None
    listed_at_poll: int | None = None
    described_at_poll: int | None = None
    # the best-so-far refresh clock starts when the job is first watched: a triggerer restart with
    # hundreds of jobs must not describe them all at once
    described_at: float = field(default_factory=time.monotonic)
    completed_at_describe: int | None = None
    best: dict[str, Any] | None = None
    retry_at: float = 0.0
    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=BACKOFF_CAP_SECONDS))


class Registry:
    """The shared clients and pollers of one event loop."""

    def __init__(self) -> None:
        self.clients: dict[Connection, SharedClient] = {}
        self.pollers: dict[Connection, Poller] = {}

    @asynccontextmanager
    async def client(self, connection: Connection) -> AsyncIterator[Any]:
        shared = self.clients.setdefault(connection, SharedClient(connection))
        client = await shared.acquire()
        try:
            yield client
        finally:
            await shared.release()

    def poller(self, connection: Connection) -> Poller:
        poller = self.pollers.get(connection)
        if poller is None:
            poller = self.pollers[connection] = Poller(self, connection)
        return poller


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Registry] = weakref.WeakKeyDictionary()


def event_loop_registry() -> Registry:
    """This event loop's registry: clients and tasks cannot cross event loops."""
    loop = asyncio.get_running_loop()
    registry = _registries.get(loop)
    if registry is None:
        registry = _registries[loop] = Registry()
    return registry


class Poller:
    """Polls the status of every watched job of one connection, once per interval."""

    def __init__(self, registry: Registry, connection: Connection) -> None:
        self.registry = registry
        self.connection = connection
        # by lowercased name: SageMaker names are unique case-insensitively, List may differ in case
        self.jobs: dict[str, JobState] = {}
        self.task: asyncio.Task[None] | None = None
        self.joined = asyncio.Event()
        self.list_denied = False
        self.list_pages = 1
        self.polls = 0
        # epoch time at which the last successful listing began
        self.listed_at: float | None = None
        self._summary_logged: tuple[int, int, int] | None = None
        # triggers woken since the poll last let the event loop run them (_pace)
        self._woken = 0

    def add(self, watch: Watch) -> None:
        state = self.jobs.get(watch.name.lower())
        if state is None:
            state = self.jobs[watch.name.lower()] = JobState(watch.name)
        state.watches.add(watch)
        self.joined.set()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name=f"tuning-job-poller[{self.connection.aws_conn_id}]"
            )

    def remove(self, watch: Watch) -> None:
        state = self.jobs.get(watch.name.lower())
        if state is not None:
            state.watches.discard(watch)
            if not state.watches:
                del self.jobs[watch.name.lower()]
        if not self.jobs and self.task is not None:
            self.task.cancel()
            self.task = None
            if self.registry.pollers.get(self.connection) is self:
                del self.registry.pollers[self.connection]

    def _intervals(self) -> list[float]:
        return [watch.interval for state in self.jobs.values() for watch in state.watches]

    async def _run(self) -> None:
        try:
            async with self.registry.client(self.connection) as client:
                await self._loop(client)
        except Exception as error:
            # A broken connection (unknown conn id, bad config) or a bug: the waiting tasks must
            # fail with the reason rather than wait forever for a poll that will never come.
            log.exception("Tuning job poller for connection %s failed", self.connection.aws_conn_id)
            for state in list(self.jobs.values()):
                self._deliver(state, Failure(f"Polling tuning jobs failed: {type(error).__name__}: {error}"))

    async def _loop(self, client: Any) -> None:
        list_backoff = Backoff(base=1.0, cap=BACKOFF_CAP_SECONDS)
        while self.jobs:
            started = time.monotonic()
            delay = 0.0
            try:
                await self._poll(client)
                list_backoff.reset()
            except Exception as error:
                if not is_transient(error):
                    raise
                delay = list_backoff.next_delay()
                log.warning(
                    "Transient SageMaker error while listing tuning jobs (%s); next poll %.1fs late",
                    error,
                    delay,
                )
            await self._sleep_until(started, delay)

    async def _sleep_until(self, started: float, delay: float) -> None:
        """Until the shortest interval of the watches passed; a watch joining with a shorter one cuts it."""
        while self.jobs:
            self.joined.clear()
            wake_at = started + min(self._intervals()) + delay
            remaining = wake_at - time.monotonic()
            if remaining <= 0:
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(self.joined.wait(), remaining)

    async def _poll(self, client: Any) -> None:
        self.polls += 1
        watched = len(self.jobs)
        listed: dict[str, dict[str, Any]] | None = None
        due: list[JobState] = []
        try:
            listed = await self._list(client) if self._worth_listing() else None
            ended_reported: set[str] = set()
            if listed is not None:
                vanished = {
                    key for key, state in self.jobs.items() if key not in listed and state.last_status
                }
                if vanished:
                    ended_reported = await self._report_recently_ended(client, vanished)
            for key, state in list(self.jobs.items()):
                if key in ended_reported or not state.watches:  # or its triggers left meanwhile
                    continue
                summary = None if listed is None else listed.get(key)
                if summary is not None:
                    self._seen_in_list(state, summary)
                    await self._pace(len(state.watches))
                    ended = summary["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES
                    if ended or not self._best_is_stale(state, summary):
                        continue
                elif listed is not None and not self._missing_is_due(state):
                    continue
                if state.retry_at <= time.monotonic():
                    due.append(state)
            if due:
                limit = asyncio.Semaphore(MAX_CONCURRENT_DESCRIBES)
                await asyncio.gather(*(self._describe(client, state, limit) for state in due))
        finally:
            # also when the poll is cut short: the answer it delivered may end the last trigger
            # waiting, whose leaving cancels this poller before the poll returns
            self._log_summary(watched, listed, len(due))

    def _log_summary(self, watched: int, listed: dict[str, dict[str, Any]] | None, described: int) -> None:
        figures = (watched, self.list_pages if listed is not None else 0, described)
        if figures == self._summary_logged and self.polls % POLL_SUMMARY_EVERY:
            return
        self._summary_logged = figures
        jobs, pages, described = figures
        log.info(
            "Shared poll: %d tuning job(s) watched, %s, %d Describe call(s) this poll",
            jobs,
            f"{jobs / pages:.1f} job(s) per List call ({pages} List call(s))" if pages else "no List call",
            described,
        )

    def _worth_listing(self) -> bool:
        # One Describe per job beats listing the account when few jobs are watched.
        return not self.list_denied and len(self.jobs) > self.list_pages

    async def _pace(self, woken: int) -> None:
        """Count the triggers just woken; past DELIVERIES_PER_LOOP_STEP, let the loop run them first."""
        self._woken += woken
        if self._woken >= DELIVERIES_PER_LOOP_STEP:
            self._woken = 0
            await asyncio.sleep(0)

    async def _report_recently_ended(self, client: Any, wanted: set[str]) -> set[str]:
        """Report those of the ``wanted`` jobs (lowercased names) that ended since the previous
        listing, page by page: in a burst, the first hundred are not held back by the other pages."""
        if self.listed_at is None:
            return set()
        since = datetime.fromtimestamp(self.listed_at - RECENT_MARGIN_SECONDS, UTC)
        found: set[str] = set()
        token = None
        while wanted - found:
            kwargs: dict[str, Any] = {
                "LastModifiedTimeAfter": since,
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
                "MaxResults": LIST_PAGE_SIZE,
            }
            if token:
                kwargs["NextToken"] = token
            try:
                page = await async_call(client, "list_hyper_parameter_tuning_jobs", **kwargs)
            except ClientError as error:
                if is_transient(error):
                    raise
                log.warning("Listing recently modified tuning jobs failed (%s): describing them", error)
                return found
            for summary in page.get("HyperParameterTuningJobSummaries", []):
                key = summary["HyperParameterTuningJobName"].lower()
                state = self.jobs.get(key)
                if (
                    key in wanted
                    and state is not None
                    and summary["HyperParameterTuningJobStatus"] in TERMINAL_STATUSES
                ):
                    found.add(key)
                    self._seen_in_list(state, summary)
                    await self._pace(len(state.watches))
            token = page.get("NextToken")
            if not token:
                break
        return found

    async def _list(self, client: Any) -> dict[str, dict[str, Any]] | None:
        """Summaries of the account's running jobs by lowercased name; None if List is not allowed."""
        statuses = [
            status
            for status in _LISTED_STATUSES
            if status == "InProgress" or any(state.last_status == status for state in self.jobs.values())
        ]
        summaries: dict[str, dict[str, Any]] = {}
        pages = 0
        started_at = time.time()
        try:
            for status in statuses:
                token = None
                while True:
                    kwargs: dict[str, Any] = {
                        "StatusEquals": status,
                        "SortBy": "CreationTime",
                        "SortOrder": "Descending",
                        "MaxResults": LIST_PAGE_SIZE,
                    }
                    if token:
                        kwargs["NextToken"] = token
                    page = await async_call(client, "list_hyper_parameter_tuning_jobs", **kwargs)
                    pages += 1
                    for summary in page.get("HyperParameterTuningJobSummaries", []):
                        summaries[summary["HyperParameterTuningJobName"].lower()] = summary
                    token = page.get("NextToken")
                    if not token:
                        break
        except ClientError as error:
            if is_transient(error):
                raise
            self.list_denied = True
            log.warning(
                "ListHyperParameterTuningJobs failed (%s): each tuning job is described on its own", error
            )
            return None
        self.list_pages = max(1, pages)
        self.listed_at = started_at
        return summaries

    def _seen_in_list(self, state: JobState, summary: dict[str, Any]) -> None:
        state.listed_at_poll = self.polls
        state.last_status = summary["HyperParameterTuningJobStatus"]
        self._deliver(
            state,
            {
                **summary,
                "HyperParameterTuningJobConfig": {"ResourceLimits": summary.get("ResourceLimits") or {}},
                "BestTrainingJob": state.best,
            },
        )

    def _best_is_stale(self, state: JobState, summary: dict[str, Any]) -> bool:
        completed = int((summary.get("TrainingJobStatusCounters") or {}).get("Completed", 0))
        if state.completed_at_describe is None:
            state.completed_at_describe = completed
            return False
        return (
            completed > state.completed_at_describe
            and time.monotonic() - state.described_at >= BEST_REFRESH_SECONDS
        )

    def _missing_is_due(self, state: JobState) -> bool:
        """Not listed: it ended (describe now) or List missed it (describe every few polls)."""
        if state.last_status is None or state.listed_at_poll == self.polls - 1:
            return True
        return state.described_at_poll is None or self.polls - state.described_at_poll >= MISSED_LIST_POLLS

    async def _describe(self, client: Any, state: JobState, limit: asyncio.Semaphore) -> None:
        name = state.name
        async with limit:
            try:
                describe = await async_call(
                    client, "describe_hyper_parameter_tuning_job", HyperParameterTuningJobName=name
                )
            except Exception as error:
                if is_transient(error):
                    delay = state.backoff.next_delay()
                    state.retry_at = time.monotonic() + delay
                    log.warning(
                        "Transient SageMaker error describing tuning job %s (%s); next try in %.1fs",
                        name,
                        error,
                        delay,
                    )
                    return
                code = error_code(error) if isinstance(error, ClientError) else type(error).__name__
                self._deliver(state, Failure(f"Cannot describe tuning job {name} ({code}): {error}"))
                return
        state.backoff.reset()
        state.retry_at = 0.0
        state.described_at_poll = self.polls
        state.described_at = time.monotonic()
        state.last_status = describe["HyperParameterTuningJobStatus"]
        state.completed_at_describe = int(
            (describe.get("TrainingJobStatusCounters") or {}).get("Completed", 0)
        )
        state.best = describe.get("OverallBestTrainingJob") or describe.get("BestTrainingJob")
        self._deliver(state, describe)

    @staticmethod
    def _deliver(state: JobState, update: dict[str, Any] | Failure) -> None:
        for watch in state.watches:
            watch.deliver(update)
