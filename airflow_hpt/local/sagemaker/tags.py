"""The tag operations: AddTags, ListTags and DeleteTags, on any resource of the store."""

from __future__ import annotations

from airflow_hpt.local.http.errors import RESOURCE_NOT_FOUND, ApiError, Body, validation
from airflow_hpt.local.http.errors import required as _required
from airflow_hpt.local.sagemaker.registry import Handler
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.listing import page as _page
from airflow_hpt.local.state.listing import with_token as _with_token
from airflow_hpt.local.state.records import Book, Kind, Stored, Tag
from airflow_hpt.local.state.store import Store


class TagOperations:
    """The handlers of the tag operations."""

    def __init__(self, store: Store, region: str) -> None:
        self.store = store
        self.region = region

    def operations(self) -> dict[str, Handler]:
        return {
            "AddTags": self.add_tags,
            "ListTags": self.list_tags,
            "DeleteTags": self.delete_tags,
        }

    def _tagged(self, arn: str) -> tuple[Kind[Book], str]:
        """The (kind, name) an ARN names, if that resource exists."""
        prefix = f"arn:aws:sagemaker:{self.region}:{kinds.ACCOUNT_ID}:"
        resource_type, _, name = arn.removeprefix(prefix).partition("/")
        kind = kinds.kind_named(resource_type)
        if not arn.startswith(prefix) or kind is None or not name:
            raise validation(f"{arn} is not the ARN of a SageMaker resource of this backend")
        if self.store.get(kind, name) is None:
            raise ApiError(RESOURCE_NOT_FOUND, f"Resource {arn} not found")
        return kind, name

    def add_tags(self, body: Body) -> Body:
        kind, name = self._tagged(_required(body, "ResourceArn"))
        new_tags = list(body.get("Tags") or [])

        def merge(resource: Stored[Book]) -> None:
            tags = {tag["Key"]: tag["Value"] for tag in resource.book.tags}
            tags.update({tag["Key"]: tag["Value"] for tag in new_tags})
            resource.book.tags = [Tag(Key=key, Value=value) for key, value in tags.items()]

        self.store.update_entry(kind, name, merge)
        return {"Tags": new_tags}

    def list_tags(self, body: Body) -> Body:
        kind, name = self._tagged(_required(body, "ResourceArn"))
        resource = self.store.entry(kind, name)
        page, token = _page(resource.book.tags if resource is not None else [], body, default_size=50)
        return _with_token({"Tags": page}, token)

    def delete_tags(self, body: Body) -> Body:
        kind, name = self._tagged(_required(body, "ResourceArn"))
        keys = set(body.get("TagKeys") or [])

        def remove(resource: Stored[Book]) -> None:
            resource.book.tags = [tag for tag in resource.book.tags if tag["Key"] not in keys]

        self.store.update_entry(kind, name, remove)
        return {}
