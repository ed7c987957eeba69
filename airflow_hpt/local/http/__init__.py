"""HTTP and signing, under every front: the service router, SigV4 verification, bounded bodies,
the JSON wire checks, the API error and answer types, fault injection, and the signed JSON service
that CloudWatch and STS are served as."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_hpt._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_hpt.local.http.answer import Answer
    from airflow_hpt.local.http.auth import AuthError, SigV4Verifier
    from airflow_hpt.local.http.errors import ApiError, Body
    from airflow_hpt.local.http.faults import Fault, Faults
    from airflow_hpt.local.http.limits import BodyError, LimitedServer
    from airflow_hpt.local.http.router import PathRouter, ServiceRouter, WsgiApp
    from airflow_hpt.local.http.service import ServiceFront, ServiceHandler
    from airflow_hpt.local.http.signed import signed_body
    from airflow_hpt.local.http.wire import WireError, parse_json_object

__all__ = [
    "Answer",
    "ApiError",
    "AuthError",
    "Body",
    "BodyError",
    "Fault",
    "Faults",
    "LimitedServer",
    "PathRouter",
    "ServiceFront",
    "ServiceHandler",
    "ServiceRouter",
    "SigV4Verifier",
    "WireError",
    "WsgiApp",
    "parse_json_object",
    "signed_body",
]

__getattr__ = lazy_exports(
    __name__,
    {
        ".answer": ("Answer",),
        ".auth": ("AuthError", "SigV4Verifier"),
        ".errors": ("ApiError", "Body"),
        ".faults": ("Fault", "Faults"),
        ".limits": ("BodyError", "LimitedServer"),
        ".router": ("PathRouter", "ServiceRouter", "WsgiApp"),
        ".service": ("ServiceFront", "ServiceHandler"),
        ".signed": ("signed_body",),
        ".wire": ("WireError", "parse_json_object"),
    },
)
