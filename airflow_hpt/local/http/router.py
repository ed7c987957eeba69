"""Which front serves a request: the service named by its SigV4 credential scope.

Every AWS client signs with its service's signing name (``Credential=AKID/date/region/SERVICE/aws4_request``
in the ``Authorization`` header, or ``X-Amz-Credential`` in a presigned URL), so one endpoint can
serve several services, as ``AWS_ENDPOINT_URL`` expects. The router only reads that name; the
front it picks verifies the whole signature. A request naming no service, or one the backend does
not serve, goes to the default front, which refuses it in its own protocol.

To serve another service, pass its front under its signing name (``logs``, ``monitoring``...).
The SageMaker runtime (``InvokeEndpoint``) signs as ``sagemaker`` too; its front is chosen by
path (``POST /endpoints/<name>/invocations``) inside the ``sagemaker`` entry (:class:`PathRouter`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_hpt.local.http.auth import credential_service

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class ServiceRouter:
    """A WSGI application dispatching to ``fronts[signing name]``, else to ``fronts[default]``."""

    def __init__(self, fronts: Mapping[str, WsgiApp], default: str) -> None:
        if default not in fronts:
            raise ValueError(f"the default service {default!r} has no front")
        self.fronts = dict(fronts)
        self.default = default

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        service = credential_service(environ.get("HTTP_AUTHORIZATION"), environ.get("QUERY_STRING", ""))
        front = self.fronts.get(service or self.default, self.fronts[self.default])
        return front(environ, start_response)


class PathRouter:
    """A WSGI application dispatching by path prefix: ``fronts[prefix]``, else ``default``."""

    def __init__(self, fronts: Mapping[str, WsgiApp], default: WsgiApp) -> None:
        self.fronts = dict(fronts)
        self.default = default

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        front = next((app for prefix, app in self.fronts.items() if path.startswith(prefix)), self.default)
        return front(environ, start_response)
