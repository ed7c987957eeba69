"""An answer as a handler gives it to its front: a status, headers and a body.

What the CloudWatch, STS and model-server handlers answer; their fronts add the request id and
send it. (A JSON request or answer body is :data:`~airflow_hpt.local.http.errors.Body`.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
