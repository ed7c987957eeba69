"""S3: the object store on the local disk and its REST-XML front."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.s3.errors import S3Error
    from airflow_hpt.local.s3.front import S3Front
    from airflow_hpt.local.s3.objects import ObjectStore
    from airflow_hpt.local.s3.paths import LocalS3

__all__ = [
    "LocalS3",
    "ObjectStore",
    "S3Error",
    "S3Front",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".errors": ("S3Error",),
        ".front": ("S3Front",),
        ".objects": ("ObjectStore",),
        ".paths": ("LocalS3",),
    },
)
