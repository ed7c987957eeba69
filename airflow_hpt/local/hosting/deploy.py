"""Deployment resources of the local backend: Model, EndpointConfig, Endpoint.

Enough of SageMaker hosting for a DAG's deploy tasks to run end to end: resources are recorded,
and an endpoint goes Creating -> InService (or Updating -> InService) after a short delay. The
transition is evaluated when the endpoint is read, so no thread is needed and a restart of the
backend keeps it. Before an endpoint goes InService its models' ``model.tar.gz`` are opened and
listed: a missing or corrupt artifact ends it Failed, as a real deployment would. A failed update
of an endpoint that was InService rolls back, as SageMaker's does: the endpoint returns to
InService with its previous configuration, still serving it, and ``FailureReason`` says why
(the API reference's DescribeEndpoint ``FailureReason``: "If the status of the endpoint is Failed,
or the status is InService but update operation fails, this provides the reason why it failed").

With a :class:`~airflow_hpt.local.hosting.servers.Hosting`, the endpoint serves predictions: its model
server is staged when it is created or updated, and it goes InService only once the delay has
passed and the server answers a ping; then requests are switched to it (``InvokeEndpoint``,
:mod:`airflow_hpt.local.sagemaker.runtime`).
"""

from __future__ import annotations

import re
import tarfile
import time
from collections.abc import Callable

from airflow_hpt.local.hosting.process import ServingSpec
from airflow_hpt.local.hosting.servers import Hosting, Staging
from airflow_hpt.local.http.errors import Body
from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.listing import fields_of, list_answer
from airflow_hpt.local.state.records import Book, BookT, EndpointBook, Kind, Record, Stored, Tag
from airflow_hpt.local.state.store import Store

# what SageMaker reports for a model without an image of its own
LOCAL_IMAGE = "local/script-mode:latest"
# SageMaker's pattern for model, endpoint configuration and endpoint names. It matters here beyond
# fidelity: a name becomes a file name in the store, so it must not carry a path.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# the model environment naming the inference code (the SDK's framework models set it)
SUBMIT_DIRECTORY_ENV = "SAGEMAKER_SUBMIT_DIRECTORY"
# a path inside the serving container (the SDK repacks the code into model.tar.gz and names
# /opt/ml/model/code): the model server resolves it under its own folder
CONTAINER_PREFIX = "/opt/ml/"


_MODEL_SUMMARY = ("ModelName", "ModelArn", "CreationTime")
_CONFIG_SUMMARY = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
_ENDPOINT_SUMMARY = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")


def _listed(
    records: list[Record],
    body: Body,
    name_key: str,
    status_key: str | None,
    summaries_key: str,
    fields: tuple[str, ...],
) -> Body:
    return list_answer(
        records,
        body,
        name_key=name_key,
        status_key=status_key,
        default_sort="CreationTime",
        default_order="Descending",
        summaries_key=summaries_key,
        summary=fields_of(fields),
        created_after_inclusive=True,
    )


class DeploymentRejected(ValueError):
    """SageMaker answers these with ValidationException (its hosting calls model no other error)."""


class Deployments:
    """Handlers of the Model/EndpointConfig/Endpoint operations."""

    def __init__(
        self,
        store: Store,
        s3: LocalS3,
        region: str,
        delay_seconds: float = 1.0,
        hosting: Hosting | None = None,
    ) -> None:
        self.store = store
        self.s3 = s3
        self.region = region
        self.delay_seconds = delay_seconds
        self.hosting = hosting

    def _arn(self, kind: str, name: str) -> str:
        return kinds.arn_for(self.region, kind, name)

    def _entry(self, kind: Kind[BookT], name: str, label: str) -> Stored[BookT]:
        stored = self.store.entry(kind, name)
        if stored is None:
            raise DeploymentRejected(f'Could not find {label} "{self._arn(kind, name)}".')
        return stored

    def _get(self, kind: Kind[BookT], name: str, label: str) -> Record:
        return self._entry(kind, name, label).fields

    def _create(self, kind: Kind[BookT], name: str, label: str, stored: Stored[BookT]) -> None:
        if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
            raise DeploymentRejected(
                f"1 validation error detected: Value {name!r} at '{label} name' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN.pattern}"
            )
        with self.store.transaction():
            if self.store.get(kind, name) is not None:
                raise DeploymentRejected(f'Cannot create already existing {label} "{self._arn(kind, name)}".')
            self.store.put(kind, name, stored)

    # --- models ------------------------------------------------------------------------------

    def create_model(self, body: Body) -> Body:
        name = body["ModelName"]
        arn = self._arn(kinds.MODELS, name)
        fields = ("PrimaryContainer", "Containers", "ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation")
        record = {field: body[field] for field in fields if field in body}
        containers = (
            [body["PrimaryContainer"]] if body.get("PrimaryContainer") else body.get("Containers", [])
        )
        for index, container in enumerate(containers):
            if container.get("ModelDataUrl"):
                member = "PrimaryContainer" if body.get("PrimaryContainer") else f"Containers[{index}]"
                try:
                    self.s3.object_path(container["ModelDataUrl"])
                except ValueError as error:
                    raise DeploymentRejected(f"{member}.ModelDataUrl: {error}") from None
            code = (container.get("Environment") or {}).get(SUBMIT_DIRECTORY_ENV)
            if code and not str(code).startswith(CONTAINER_PREFIX):
                member = "PrimaryContainer" if body.get("PrimaryContainer") else f"Containers[{index}]"
                try:
                    self.s3.path_for(str(code))
                except ValueError as error:
                    raise DeploymentRejected(
                        f"{member}.Environment.{SUBMIT_DIRECTORY_ENV}: {error}"
                    ) from None
        record.update(ModelName=name, ModelArn=arn, CreationTime=time.time())
        self._create(kinds.MODELS, name, "model", Stored(record, Book(tags=_tags(body))))
        return {"ModelArn": arn}

    def describe_model(self, body: Body) -> Body:
        return self._get(kinds.MODELS, body["ModelName"], "model")

    def delete_model(self, body: Body) -> Body:
        self._get(kinds.MODELS, body["ModelName"], "model")
        self.store.delete(kinds.MODELS, body["ModelName"])
        return {}

    # --- endpoint configs --------------------------------------------------------------------

    def create_endpoint_config(self, body: Body) -> Body:
        name = body["EndpointConfigName"]
        for variant in body["ProductionVariants"]:
            self._get(kinds.MODELS, variant["ModelName"], "model")
        arn = self._arn(kinds.ENDPOINT_CONFIGS, name)
        record = {key: value for key, value in body.items() if key != "Tags"}
        record.update(EndpointConfigArn=arn, CreationTime=time.time())
        self._create(
            kinds.ENDPOINT_CONFIGS, name, "endpoint configuration", Stored(record, Book(tags=_tags(body)))
        )
        return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, body: Body) -> Body:
        return self._get(kinds.ENDPOINT_CONFIGS, body["EndpointConfigName"], "endpoint configuration")

    def delete_endpoint_config(self, body: Body) -> Body:
        self._get(kinds.ENDPOINT_CONFIGS, body["EndpointConfigName"], "endpoint configuration")
        self.store.delete(kinds.ENDPOINT_CONFIGS, body["EndpointConfigName"])
        return {}

    # --- endpoints ---------------------------------------------------------------------------

    def create_endpoint(self, body: Body) -> Body:
        name = body["EndpointName"]
        self._get(kinds.ENDPOINT_CONFIGS, body["EndpointConfigName"], "endpoint configuration")
        arn = self._arn(kinds.ENDPOINTS, name)
        now = time.time()
        record = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": body["EndpointConfigName"],
            "EndpointStatus": "Creating",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        book = EndpointBook(
            tags=_tags(body),
            ready_at=now + self.delay_seconds,
            pending_config=body["EndpointConfigName"],
        )
        self._create(kinds.ENDPOINTS, name, "endpoint", Stored(record, book))
        self._stage(name, body["EndpointConfigName"])
        return {"EndpointArn": arn}

    def describe_endpoint(self, body: Body) -> Body:
        return self._settled(body["EndpointName"])

    def update_endpoint(self, body: Body) -> Body:
        name = body["EndpointName"]
        endpoint = self._settled(name)
        self._get(kinds.ENDPOINT_CONFIGS, body["EndpointConfigName"], "endpoint configuration")
        if endpoint["EndpointStatus"] not in ("InService", "Failed"):
            raise DeploymentRejected(
                f'Cannot update in-progress endpoint "{endpoint["EndpointArn"]}" '
                f"({endpoint['EndpointStatus']})."
            )
        now = time.time()
        # a failed update returns an endpoint that was serving to the configuration it served
        rollback_config = (
            endpoint["EndpointConfigName"] if endpoint["EndpointStatus"] == "InService" else None
        )

        def start_update(updating: Stored[EndpointBook]) -> None:
            updating.fields.update(EndpointStatus="Updating", LastModifiedTime=now)
            updating.fields.pop("FailureReason", None)
            updating.book.ready_at = now + self.delay_seconds
            updating.book.pending_config = body["EndpointConfigName"]
            updating.book.rollback_config = rollback_config

        self.store.update_entry(kinds.ENDPOINTS, name, start_update)
        self._stage(name, body["EndpointConfigName"])
        return {"EndpointArn": endpoint["EndpointArn"]}

    def delete_endpoint(self, body: Body) -> Body:
        self._get(kinds.ENDPOINTS, body["EndpointName"], "endpoint")
        self.store.delete(kinds.ENDPOINTS, body["EndpointName"])
        if self.hosting is not None:
            self.hosting.stop(body["EndpointName"])
        return {}

    # --- lists -------------------------------------------------------------------------------
    # SageMaker's defaults for all three (API reference): SortBy CreationTime, SortOrder Descending,
    # MaxResults 10; NameContains, CreationTimeBefore/After; endpoints also LastModifiedTime and status

    def list_models(self, body: Body) -> Body:
        return _listed(self.store.all(kinds.MODELS), body, "ModelName", None, "Models", _MODEL_SUMMARY)

    def list_endpoint_configs(self, body: Body) -> Body:
        configs = self.store.all(kinds.ENDPOINT_CONFIGS)
        return _listed(configs, body, "EndpointConfigName", None, "EndpointConfigs", _CONFIG_SUMMARY)

    def list_endpoints(self, body: Body) -> Body:
        with self.store.transaction():  # each endpoint as Describe sees it: its status settled
            endpoints = [
                self._settled(endpoint["EndpointName"]) for endpoint in self.store.all(kinds.ENDPOINTS)
            ]
        return _listed(endpoints, body, "EndpointName", "EndpointStatus", "Endpoints", _ENDPOINT_SUMMARY)

    def invocation_target(self, name: str) -> Record | None:
        """The endpoint named ``name``, settled (None if there is none)."""
        try:
            return self._settled(name)
        except DeploymentRejected:
            return None

    def serving_spec(self, config_name: str) -> ServingSpec:
        """What the model server of ``config_name`` serves: its first variant's (primary) container.

        Raises DeploymentRejected naming what cannot be served.
        """
        config = self.store.get(kinds.ENDPOINT_CONFIGS, config_name)
        if config is None:
            raise DeploymentRejected("its endpoint configuration was deleted")
        variant = config["ProductionVariants"][0]
        return self.model_serving_spec(variant["ModelName"], variant["VariantName"])

    def model_serving_spec(self, model_name: str, variant: str) -> ServingSpec:
        """What a model server of model ``model_name`` serves (an endpoint's variant, a transform job).

        Raises DeploymentRejected naming what cannot be served.
        """
        model = self.store.get(kinds.MODELS, model_name)
        if model is None:
            raise DeploymentRejected(f"model {model_name} was deleted")
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        archive = None
        if container.get("ModelDataUrl"):
            problem = self._load(container["ModelDataUrl"])
            if problem is not None:
                raise DeploymentRejected(problem)
            archive = self.s3.object_path(container["ModelDataUrl"])
        environment = {key: str(value) for key, value in (container.get("Environment") or {}).items()}
        code = environment.get(SUBMIT_DIRECTORY_ENV)
        submit_directory = None
        if code and not code.startswith(CONTAINER_PREFIX):
            submit_directory = self.s3.path_for(code)
            if not submit_directory.exists():
                raise DeploymentRejected(f"{SUBMIT_DIRECTORY_ENV} {code} does not exist")
        return ServingSpec(variant, archive, environment, submit_directory)

    def _stage(self, name: str, config_name: str) -> Staging | None:
        if self.hosting is None:
            return None
        return self.hosting.stage(name, config_name, lambda: self.serving_spec(config_name))

    def _settled(self, name: str) -> Record:
        """The endpoint, moved on to InService or Failed once its delay has passed."""
        with self.store.transaction():
            endpoint = self._entry(kinds.ENDPOINTS, name, "endpoint")
            if (
                endpoint.fields["EndpointStatus"] not in ("Creating", "Updating")
                or time.time() < endpoint.book.ready_at
            ):
                return endpoint.fields
            config_name = endpoint.book.pending_config
            staging = self._stage(name, config_name)
            if staging is not None and not staging.done.is_set():
                return endpoint.fields  # its model server is still starting
            failure = staging.failure if staging is not None else None
            rollback_config = endpoint.book.rollback_config
            settled = self.store.update_entry(
                kinds.ENDPOINTS, name, self._deploy(config_name, failure, rollback_config)
            ).fields
            if self.hosting is None:
                return settled
            if settled["EndpointConfigName"] != config_name:
                self.hosting.discard_staged(name)  # rolled back: the live server serves on
            elif settled["EndpointStatus"] == "InService":
                self.hosting.promote(name, config_name)
            else:
                self.hosting.stop(name)
            return settled

    def _deploy(
        self, config_name: str, serving_problem: str | None = None, rollback_config: str | None = None
    ) -> Callable[[Stored[EndpointBook]], None]:
        """The change that puts ``config_name`` in service on an endpoint record, or, when it cannot
        be served, fails the endpoint or rolls it back to ``rollback_config``."""
        config = self.store.get(kinds.ENDPOINT_CONFIGS, config_name)
        problem = "its endpoint configuration was deleted" if config is None else None
        variants: list[Body] = []
        now = time.time()
        for variant in (config or {}).get("ProductionVariants", []):
            model = self.store.get(kinds.MODELS, variant["ModelName"])
            if model is None:
                problem = problem or f"model {variant['ModelName']} was deleted"
                continue
            containers = (
                [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers", [])
            )
            for container in containers:
                problem = problem or self._load(container.get("ModelDataUrl"))
            image = containers[0].get("Image", LOCAL_IMAGE) if containers else LOCAL_IMAGE
            weight = float(variant.get("InitialVariantWeight", 1.0))
            count = int(variant.get("InitialInstanceCount", 1))
            variants.append(
                {
                    "VariantName": variant["VariantName"],
                    "DeployedImages": [
                        {"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": now}
                    ],
                    "CurrentWeight": weight,
                    "DesiredWeight": weight,
                    "CurrentInstanceCount": count,
                    "DesiredInstanceCount": count,
                }
            )

        problem = problem or serving_problem

        def change(endpoint: Stored[EndpointBook]) -> None:
            endpoint.book.rollback_config = None
            record = endpoint.fields
            record["LastModifiedTime"] = now
            if problem is not None:
                record.update(
                    EndpointStatus="InService" if rollback_config else "Failed",
                    FailureReason=f"Failed to deploy {config_name}: {problem}",
                )
                return
            record.update(
                EndpointStatus="InService", EndpointConfigName=config_name, ProductionVariants=variants
            )

        return change

    def _load(self, model_data_url: str | None) -> str | None:
        """Open a model artifact as a serving container would; the problem, or None."""
        if not model_data_url:
            return None
        try:
            with tarfile.open(self.s3.object_path(model_data_url), "r:*") as archive:
                archive.getmembers()
        except (OSError, ValueError, tarfile.TarError) as error:
            return f"could not load the model artifact {model_data_url}: {error}"
        return None


def _tags(body: Body) -> list[Tag]:
    """A Create's tags."""
    return list(body.get("Tags") or [])
