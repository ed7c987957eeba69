"""STS ``GetCallerIdentity`` on the backend's endpoint: who the backend's one access key is.

Clients ask it before anything else: ``aws sts get-caller-identity`` (how users check their
setup), the amazon provider's connection test (``AwsGenericHook.test_connection``) and its
``account_id``. The backend has one account and one key, no IAM, so the caller is the account's
root, answered as AWS answers root credentials (``Arn`` ``arn:aws:iam::<account>:root``, ``UserId``
the account id). STS speaks the query protocol (botocore's model: ``protocols: ["query"]``): a
form-encoded ``Action``, XML answers, errors in ``<ErrorResponse>``.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs
from xml.etree import ElementTree

from werkzeug.datastructures import Headers

from airflow_hpt.local.http import auth
from airflow_hpt.local.http.answer import Answer
from airflow_hpt.local.iam.policy import Authorizer
from airflow_hpt.local.state.store import ACCOUNT_ID

XML_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_XML = {"Content-Type": "text/xml"}
# The query protocol's codes for the refusals the JSON services name otherwise (STS's common errors)
_AUTH_CODES = {
    auth.MISSING_TOKEN: "MissingAuthenticationToken",
    auth.INCOMPLETE: "IncompleteSignature",
    auth.UNRECOGNIZED: "InvalidClientTokenId",
    auth.INVALID_SIGNATURE: "SignatureDoesNotMatch",
}


class StsHandler:
    """The ``sts`` service of the endpoint: GetCallerIdentity; other actions are ``InvalidAction``.

    GetCallerIdentity needs no permission on AWS (a Deny cannot refuse it): it is logged, never checked.
    """

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        form = parse_qs(body.decode("utf-8", "replace"))
        action = (form.get("Action") or [""])[0]
        request_id = str(uuid.uuid4())
        if method != "POST" or action != "GetCallerIdentity":
            return _error(
                "InvalidAction", f"Could not find operation {action!r} for version 2011-06-15", request_id
            )
        self.authorizer.served("sts:GetCallerIdentity")
        root = ElementTree.Element("GetCallerIdentityResponse", xmlns=XML_NAMESPACE)
        result = ElementTree.SubElement(root, "GetCallerIdentityResult")
        for tag, text in (
            ("Arn", f"arn:aws:iam::{ACCOUNT_ID}:root"),
            ("UserId", ACCOUNT_ID),
            ("Account", ACCOUNT_ID),
        ):
            ElementTree.SubElement(result, tag).text = text
        metadata = ElementTree.SubElement(root, "ResponseMetadata")
        ElementTree.SubElement(metadata, "RequestId").text = request_id
        return Answer(200, _XML, ElementTree.tostring(root, xml_declaration=True))


def refusal(error: auth.AuthError, request_id: str) -> Answer:
    """A refused signature, as STS writes it (with the backend's status for refusals)."""
    return _error(_AUTH_CODES.get(error.code, error.code), error.message, request_id, auth.STATUS)


def _error(code: str, message: str, request_id: str, status: int = 400) -> Answer:
    root = ElementTree.Element("ErrorResponse", xmlns=XML_NAMESPACE)
    error = ElementTree.SubElement(root, "Error")
    for tag, text in (("Type", "Sender"), ("Code", code), ("Message", message)):
        ElementTree.SubElement(error, tag).text = text
    ElementTree.SubElement(root, "RequestId").text = request_id
    return Answer(status, _XML, ElementTree.tostring(root))
