"""An IAM identity policy for every service of the local backend, and the log of the actions it served.

``LocalSageMaker(policy=...)`` / ``--policy FILE`` refuse, in each service's own error shape and in
AWS's words, any call the policy does not allow: the SageMaker API (``sagemaker:<Operation>``), the
runtime (``sagemaker:InvokeEndpoint``), S3 (``s3:<Action>``, IAM's names: :mod:`actions`), CloudWatch
Logs (``logs:``) and metrics (``cloudwatch:``), and ``iam:PassRole`` of the execution roles a Create
hands to SageMaker. STS ``GetCallerIdentity`` needs no permission on AWS and none here. So a DAG can
be run under the policy a platform team will grant.

What is evaluated, as IAM evaluates an identity policy: ``Allow`` and ``Deny`` statements;
``Action`` and ``Resource`` as a string or a list, with ``*`` and ``?`` wildcards (actions
case-insensitive, ARNs case-sensitive); a statement applies to a request when one of its actions
matches, one of its resources matches the request's resource ARN (a call with no resource, such
as a List, has the resource ``*``, which only ``"Resource": "*"`` matches) and its ``Condition``
holds (:mod:`conditions`, on the keys :mod:`actions` gives each request); an explicit Deny wins.
Refused when the policy is read, with the JSON path: ``NotAction``, ``NotResource``, a missing
``Resource``, and on a statement that could match an action the backend checks, a condition it
cannot decide as AWS would (a key no request carries, such as ``aws:SourceIp``; a date or IP
operator). A condition on actions of other services (``ec2:``...) is kept: the backend never checks
them, so the statement never applies.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from airflow_hpt.local.iam.actions import context_key_type
from airflow_hpt.local.iam.conditions import Condition, ConditionError, Context, parse_conditions, wildcard
from airflow_hpt.local.state import store as kinds

SERVICE_PREFIX = "sagemaker:"
# the service prefixes of the actions the backend checks (a Condition on others is never evaluated)
CHECKED_SERVICES = ("sagemaker", "s3", "logs", "cloudwatch", "iam")
# a call that names no resource (List, GetMetricStatistics...): only "Resource": "*" matches it
ANY_RESOURCE = "*"

# The request log's size cap: a long-running backend keeps the newest calls, at most about
# (1 + REQUEST_LOG_BACKUPS) * REQUEST_LOG_MAX_BYTES on disk.
REQUEST_LOG_MAX_BYTES = 5 * 1024 * 1024
REQUEST_LOG_BACKUPS = 2


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the JSON path and the rule."""


@dataclass(frozen=True)
class _Statement:
    allow: bool
    actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]
    conditions: tuple[Condition, ...]

    def applies(self, action: str, resource: str, context: Context) -> bool:
        return (
            any(pattern.fullmatch(action) for pattern in self.actions)
            and any(pattern.fullmatch(resource) for pattern in self.resources)
            and all(condition.holds(context) for condition in self.conditions)
        )


class Policy:
    """The Allow/Deny decision of an identity policy for an action on resources."""

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

    def allows(self, action: str, resource: str = ANY_RESOURCE, context: Context | None = None) -> bool:
        """Whether ``action`` is allowed on ``resource`` (an ARN) for a request with ``context``."""
        decisions = [s.allow for s in self._statements if s.applies(action, resource, context or {})]
        return bool(decisions) and all(decisions)

    def explicitly_denies(
        self, action: str, resource: str = ANY_RESOURCE, context: Context | None = None
    ) -> bool:
        return any(
            not statement.allow and statement.applies(action, resource, context or {})
            for statement in self._statements
        )


def denied_message(
    action: str, access_key_id: str, resource: str = ANY_RESOURCE, explicit: bool = False
) -> str:
    """AWS's wording, so that what a user sees locally is what they will see on AWS."""
    user = f"arn:aws:iam::{kinds.ACCOUNT_ID}:user/{access_key_id}"
    on_resource = "" if resource == ANY_RESOURCE else f" on resource: {resource}"
    reason = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {action} action"
    )
    return f"User: {user} is not authorized to perform: {action}{on_resource} {reason}"


class Authorizer:
    """What every front asks before serving a call: the policy's decision, logged in the request log.

    Without a policy every call is allowed (and still logged). Every request carries
    ``aws:RequestedRegion``, the backend's region.
    """

    def __init__(
        self, policy: Policy | None, requests: RequestLog | None, access_key_id: str, region: str
    ) -> None:
        self.policy = policy
        self.requests = requests
        self.access_key_id = access_key_id
        self.region = region

    def refusal(
        self,
        action: str,
        resources: Sequence[str] = (ANY_RESOURCE,),
        context: Context | None = None,
        resource_context: Callable[[str], Context] | None = None,
    ) -> str | None:
        """None if ``action`` is allowed on every resource, else AWS's message naming the first refused.

        ``context``: the request's condition keys; ``resource_context``: those of one resource (its tags).
        """
        refused, explicit = None, False
        if self.policy is not None:
            for resource in resources:
                keys = {
                    "aws:requestedregion": (self.region,),
                    **(context or {}),
                    **(resource_context(resource) if resource_context else {}),
                }
                if not self.policy.allows(action, resource, keys):
                    refused, explicit = resource, self.policy.explicitly_denies(action, resource, keys)
                    break
        if self.requests is not None:
            self.requests.record(action, refused is None)
        if refused is None:
            return None
        return denied_message(action, self.access_key_id, refused, explicit)

    def unknown(self, action: str) -> None:
        """Log a call of an operation the backend does not serve (never allowed, never denied)."""
        if self.requests is not None:
            self.requests.record_unknown(action)

    def served(self, action: str) -> None:
        """Log a call that needs no permission (STS GetCallerIdentity)."""
        if self.requests is not None:
            self.requests.record(action, True)


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
        for unsupported, instead in (
            ("NotAction", "list the actions"),
            ("NotResource", "list the resources"),
        ):
            if unsupported in statement:
                raise PolicyError(f"{where}.{unsupported}: not supported by the local backend; {instead}")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{where}.Effect: must be 'Allow' or 'Deny', got {effect!r}")
        actions = _strings(statement.get("Action"), f"{where}.Action", "an action")
        resources = _strings(statement.get("Resource"), f"{where}.Resource", "an ARN pattern or '*'")
        conditions: tuple[Condition, ...] = ()
        if "Condition" in statement and any(_may_be_checked(action) for action in actions):
            try:
                conditions = parse_conditions(statement["Condition"], f"{where}.Condition", context_key_type)
            except ConditionError as error:
                raise PolicyError(str(error)) from None
        statements.append(
            _Statement(
                effect == "Allow",
                tuple(wildcard(action, re.IGNORECASE) for action in actions),
                tuple(wildcard(resource) for resource in resources),
                conditions,
            )
        )
    return statements


def _strings(value: Any, where: str, one: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise PolicyError(f"{where}: required, {one} or a non-empty list of them")
    return values


def _may_be_checked(action: str) -> bool:
    """Whether an action pattern could match an action of a service the backend checks."""
    service, colon, _ = action.partition(":")
    if not colon:
        return True  # "*" or another pattern with no service part: it may match any action
    return any(wildcard(service, re.IGNORECASE).fullmatch(checked) for checked in CHECKED_SERVICES)


# an unknown operation's name is the caller's: cut to this many characters in the log
MAX_LOGGED_ACTION = 128


class RequestLog:
    """Every call the backend answered, in every service: counted in memory and appended to a file.

    A line per call: ``<epoch seconds> <action> <allowed|denied|unknown>`` (``s3:GetObject``,
    ``sagemaker:DescribeTrainingJob``...). Read it to learn which actions a DAG needs (``sort -u``),
    or use :attr:`actions` in tests. The file rotates: past ``max_bytes`` it
    becomes ``<name>.1`` (``.1`` becomes ``.2``, and so on up to ``backups``; the oldest is dropped).
    """

    def __init__(
        self, path: Path, max_bytes: int = REQUEST_LOG_MAX_BYTES, backups: int = REQUEST_LOG_BACKUPS
    ) -> None:
        self.path = path
        self.calls: Counter[str] = Counter()
        self.denied: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._file = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, delay=True)

    def record(self, action: str, allowed: bool) -> None:
        line = f"{time.time():.3f} {action} {'allowed' if allowed else 'denied'}"
        with self._lock:
            (self.calls if allowed else self.denied)[action] += 1
            self._file.handle(logging.makeLogRecord({"msg": line}))

    def record_unknown(self, action: str) -> None:
        """A call of an operation no front serves; its name is the caller's, kept printable and short."""
        name = "".join(char if char.isprintable() and not char.isspace() else "?" for char in action)
        name = name[:MAX_LOGGED_ACTION] or "?"
        with self._lock:
            self.unknown[name] += 1
            self._file.handle(logging.makeLogRecord({"msg": f"{time.time():.3f} {name} unknown"}))

    def close(self) -> None:
        """Close the file (a later call opens it again)."""
        with self._lock:
            self._file.close()

    @property
    def actions(self) -> set[str]:
        """The actions that were served (allowed)."""
        with self._lock:
            return set(self.calls)
