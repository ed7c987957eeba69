"""S3's REST-XML wire: what a request says in its path, host and headers, and answers as XML documents."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from urllib.parse import unquote
from xml.etree import ElementTree

from werkzeug.wrappers import Request, Response

from airflow_hpt.local.s3.errors import S3Error
from airflow_hpt.local.s3.objects import DEFAULT_CONTENT_TYPE

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


VIRTUAL_HOST_SUFFIX = ".localhost"


def addressed(request: Request) -> tuple[str, str]:
    """(bucket, key) of a request, from its raw path (path style) or its Host (virtual-host style)."""
    raw_path = (request.environ.get("RAW_URI") or request.full_path).partition("?")[0]
    hostname = request.host.rpartition(":")[0] or request.host
    if hostname.endswith(VIRTUAL_HOST_SUFFIX) and hostname != VIRTUAL_HOST_SUFFIX.lstrip("."):
        return hostname.removesuffix(VIRTUAL_HOST_SUFFIX), unquote(raw_path[1:])
    bucket, _, key = raw_path[1:].partition("/")
    return unquote(bucket), unquote(key)


def copy_source_of(request: Request) -> tuple[str, str]:
    """The (bucket, key) of ``x-amz-copy-source``."""
    source = unquote(request.headers["x-amz-copy-source"].partition("?")[0]).lstrip("/")
    source_bucket, _, source_key = source.partition("/")
    if not source_bucket or not source_key:
        raise S3Error(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            400,
            ArgumentName="x-amz-copy-source",
        )
    return source_bucket, source_key


def content_type_of(request: Request) -> str:
    return request.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE


def user_metadata_of(request: Request) -> dict[str, str]:
    return {
        name.lower().removeprefix("x-amz-meta-"): value
        for name, value in request.headers.items()
        if name.lower().startswith("x-amz-meta-")
    }


def checksum_headers_of(request: Request) -> dict[str, str]:
    """The checksums the client sent (checked by :mod:`bodies`), echoed as S3 does."""
    return {
        name: value
        for name, value in request.headers.items()
        if name.lower().startswith("x-amz-checksum-") and name.lower() not in ("x-amz-checksum-algorithm",)
    }


def decoded_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            400,
            ArgumentName="continuation-token",
        ) from None


def parsed_xml(body: bytes) -> ElementTree.Element:
    """A request document with S3's namespace stripped from its tags."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        ) from None
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def xml_element(tag: str) -> ElementTree.Element:
    return ElementTree.Element(tag, xmlns=NAMESPACE)


def xml_child(parent: ElementTree.Element, tag: str, text: str | None = None) -> ElementTree.Element:
    element = ElementTree.SubElement(parent, tag)
    element.text = text
    return element


def xml_response(root: ElementTree.Element, status: int = 200) -> Response:
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, status=status, content_type="application/xml")


def iso_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def error_response(error: S3Error, request: Request, request_id: str) -> Response:
    headers = {"x-amz-request-id": request_id}
    if request.method == "HEAD":  # S3 answers a failed HEAD with its status alone
        return Response(status=error.status, headers=headers)
    root = ElementTree.Element("Error")
    xml_child(root, "Code", error.code)
    xml_child(root, "Message", error.message)
    for name, value in error.members.items():
        xml_child(root, name, value)
    xml_child(root, "RequestId", request_id)
    response = xml_response(root, error.status)
    response.headers.update(headers)
    return response
