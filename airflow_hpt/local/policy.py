"""An IAM identity policy for the local backend's SageMaker API, and the log of the actions it served.

``LocalSageMaker(policy=...)`` / ``--policy FILE`` answer ``AccessDeniedException`` (HTTP 400, AWS's
message) to any SageMaker action the policy does not allow, so a DAG can be run under the policy a
platform team will grant. What is evaluated, as IAM does for actions: ``Allow`` and ``Deny``
statements, ``Action`` as a string or a list, ``*`` and ``?`` wildcards, case-insensitive, an
explicit Deny wins. What is not: ``Resource`` and ``Condition`` (every statement applies to every
resource), ``NotAction`` (refused when the policy is read), and actions of other services
(``iam:PassRole``, ``s3:*``): only ``sagemaker:`` actions on the SageMaker JSON API are checked.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from airflow_hpt.local import store as kinds

SERVICE_PREFIX = "sagemaker:"

# The request log's size cap: a long-running backend keeps the newest calls, at most about
# (1 + REQUEST_LOG_BACKUPS) * REQUEST_LOG_MAX_BYTES on disk.
REQUEST_LOG_MAX_BYTES = 5 * 1024 * 1024
REQUEST_LOG_BACKUPS = 2


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the JSON path and the rule."""


@dataclass(frozen=True)
class _Statement:
    allow: bool
    patterns: tuple[re.Pattern[str], ...]

    def matches(self, action: str) -> bool:
        return any(pattern.fullmatch(action) for pattern in self.patterns)


class Policy:
    """The Allow/Deny decision of an identity policy for ``sagemaker:<Operation>`` actions."""

    def __init__(self, document: Mapping[str, Any], source: str = "policy") -> None:
        self.source = source
        self._statements = _statements(document)

    @classmethod
    def from_file(cls, path: Path | str) -> Policy:
        path = Path(path)
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise PolicyError(f"{path}: cannot read the policy: {error}") from error
        if not isinstance(document, Mapping):
            raise PolicyError(f"{path}: a policy is a JSON object with a Statement list")
        return cls(document, str(path))

    def allows(self, action: str) -> bool:
        decisions = [statement.allow for statement in self._statements if statement.matches(action)]
        return bool(decisions) and all(decisions)


def denied_message(action: str, access_key_id: str) -> str:
    """AWS's wording, so that what a user sees locally is what they will see on AWS."""
    user = f"arn:aws:iam::{kinds.ACCOUNT_ID}:user/{access_key_id}"
    return (
        f"User: {user} is not authorized to perform: {action} "
        f"because no identity-based policy allows the {action} action"
    )


def _statements(document: Mapping[str, Any]) -> list[_Statement]:
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise PolicyError("Statement: must be a statement object or a non-empty list of them")
    statements = []
    for index, statement in enumerate(raw):
        where = f"Statement[{index}]"
        if not isinstance(statement, Mapping):
            raise PolicyError(f"{where}: must be an object")
        if "NotAction" in statement:
            raise PolicyError(f"{where}.NotAction: not supported by the local backend; list the actions")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{where}.Effect: must be 'Allow' or 'Deny', got {effect!r}")
        actions = statement.get("Action")
        if isinstance(actions, str):
            actions = [actions]
        if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
            raise PolicyError(f"{where}.Action: must be an action or a non-empty list of actions")
        statements.append(_Statement(effect == "Allow", tuple(_pattern(action) for action in actions)))
    return statements


def _pattern(action: str) -> re.Pattern[str]:
    # IAM wildcards: * any run of characters, ? one character; nothing else is special
    body = re.escape(action).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, re.IGNORECASE)


class RequestLog:
    """Every SageMaker API call the backend answered: counted in memory and appended to a file.

    A line per call: ``<epoch seconds> <action> <allowed|denied>``. Read it to learn which actions a
    DAG needs (``sort -u``), or use :attr:`actions` in tests. The file rotates: past ``max_bytes`` it
    becomes ``<name>.1`` (``.1`` becomes ``.2``, and so on up to ``backups``; the oldest is dropped).
    """

    def __init__(
        self, path: Path, max_bytes: int = REQUEST_LOG_MAX_BYTES, backups: int = REQUEST_LOG_BACKUPS
    ) -> None:
        self.path = path
        self.calls: Counter[str] = Counter()
        self.denied: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._file = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, delay=True)

    def record(self, action: str, allowed: bool) -> None:
        line = f"{time.time():.3f} {action} {'allowed' if allowed else 'denied'}"
        with self._lock:
            (self.calls if allowed else self.denied)[action] += 1
            self._file.handle(logging.makeLogRecord({"msg": line}))

    def close(self) -> None:
        """Close the file (a later call opens it again)."""
        with self._lock:
            self._file.close()

    @property
    def actions(self) -> set[str]:
        """The actions that were served (allowed)."""
        with self._lock:
            return set(self.calls)
