"""One aiobotocore SageMaker client per event loop and connection, shared by every trigger that
polls with that connection (the shared poller, a trigger's own Describe or Stop): opened on first
use, closed after the last user (airflow_hpt/triggers/shared_poll.py keeps them per event loop)."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.loaders import JSONFileLoader

from airflow_hpt.hooks.tuning import TuningJobHook
from airflow_hpt.triggers.data_files import SteppedJSONFileLoader


@dataclass(frozen=True)
class Connection:
    """What decides the account, region and client settings a job is polled with."""

    aws_conn_id: str | None
    region_name: str | None
    verify: bool | str | None
    botocore_config: dict[str, Any] | None

    def key(self) -> tuple[str | None, str | None, str, str]:
        return (
            self.aws_conn_id,
            self.region_name,
            json.dumps(self.verify),
            json.dumps(self.botocore_config, sort_keys=True, default=str),
        )

    def __hash__(self) -> int:
        return hash(self.key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Connection) and self.key() == other.key()


class SharedClient:
    """One aiobotocore client per connection, opened on first use and closed after the last user.

    Building a session and client costs tens of milliseconds of CPU: per trigger, hundreds of
    triggers starting together would block the event loop for seconds.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._users = 0
        self._client: Any = None
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    async def acquire(self) -> Any:
        self._users += 1
        try:
            async with self._lock:
                if self._client is None:
                    hook = TuningJobHook(
                        aws_conn_id=self.connection.aws_conn_id,
                        region_name=self.connection.region_name,
                        verify=self.connection.verify,
                        config=self.connection.botocore_config,
                    )
                    creator = await hook.get_async_conn()
                    # Building the client parses botocore's data files (megabytes of JSON for
                    # SageMaker) inside the event loop; parsed in a thread first, they come from
                    # the provider's shared loader cache instead of stalling every other trigger.
                    await asyncio.to_thread(warm_botocore_loader, hook)
                    stack = AsyncExitStack()
                    self._client = await stack.enter_async_context(creator)
                    self._stack = stack
                return self._client
        except BaseException:
            self._users -= 1
            raise

    async def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._stack is not None:
            stack, self._stack, self._client = self._stack, None, None
            # shielded: a cancelled trigger must not leave the HTTP session half closed
            await asyncio.shield(stack.aclose())


def warm_botocore_loader(hook: TuningJobHook) -> None:
    """Build a throwaway synchronous client on the data loader the provider's async sessions share,
    its files parsed in steps (airflow_hpt/triggers/data_files.py): in one C call each, the parse
    would hold the GIL, and so stall the event loop, for some 0.1 s."""
    from airflow.providers.amazon.aws.hooks import base_aws

    # a private detail of the provider: without it, warming is skipped (slower start, same result)
    loader = getattr(base_aws, "_loader", None)
    if loader is None:
        return
    # botocore's own file loader only: one somebody chose instead is left alone
    if type(loader.file_loader) is JSONFileLoader:
        loader.file_loader = SteppedJSONFileLoader()
    botocore_session = botocore.session.get_session()
    botocore_session.register_component("data_loader", loader)
    botocore_session.create_client(
        "sagemaker",
        region_name=hook.region_name or "us-east-1",
        endpoint_url=hook.conn_config.get_service_endpoint_url(service_name="sagemaker"),
        aws_access_key_id="warm-up",
        aws_secret_access_key="warm-up",
    )
